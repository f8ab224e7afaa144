import { describe, expect, it } from 'vitest';
import { END_OF_EVENTS, serverSentEventSource, type BufferedEventSource, type ServerSentEvent } from '../src/index.ts';

const encoder = new TextEncoder();

/** A response body that hands out `reads` one per read, and records whether it was cancelled. */
function body(reads: readonly (string | Uint8Array)[]): { stream: ReadableStream<Uint8Array>; cancelled: () => boolean; pulls: () => number } {
  let index = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const next = reads[index++];
        if (next === undefined) controller.close();
        else controller.enqueue(typeof next === 'string' ? encoder.encode(next) : next);
      },
      cancel() {
        cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, cancelled: () => cancelled, pulls: () => index };
}

/** Reads the whole source: every event taken, in order, read by read. */
async function takeAll<TEvent>(source: BufferedEventSource<TEvent>): Promise<TEvent[]> {
  const events: TEvent[] = [];
  let more = true;
  while (more) {
    more = await source.read();
    for (let event = source.take(); event !== undefined; event = source.take()) events.push(event);
  }
  return events;
}

const asIs = (event: ServerSentEvent): ServerSentEvent => event;

describe('serverSentEventSource: the SSE wire format', () => {
  it('dispatches each event at its blank line, with its event name and its data lines joined by LF', async () => {
    const { stream } = body(['event: message_start\ndata: {"a":1}\n\n: a comment\nid: 7\nretry: 100\ndata: first\ndata:second\ndata\n\ndata:  two spaces\n\n']);
    expect(await takeAll(serverSentEventSource(stream, asIs))).toEqual([
      { event: 'message_start', data: '{"a":1}' },
      { event: undefined, data: 'first\nsecond\n' },
      { event: undefined, data: ' two spaces' }, // only one leading space is dropped
    ]);
  });

  it('does not dispatch an event without data, and forgets its name at the blank line', async () => {
    const { stream } = body(['event: ping\n\ndata: after\n\n']);
    expect(await takeAll(serverSentEventSource(stream, asIs))).toEqual([{ event: undefined, data: 'after' }]);
  });

  it('reads LF, CRLF and CR line ends alike, wherever the reads split them, and UTF-8 split mid-character', async () => {
    const wire = 'event: a\r\ndata: x\r\n\r\nevent: b\rdata: 🙂 é\r\rdata: plain\n\n';
    const bytes = encoder.encode(wire);
    const expected = [
      { event: 'a', data: 'x' },
      { event: 'b', data: '🙂 é' },
      { event: undefined, data: 'plain' },
    ];
    for (let cut = 1; cut < bytes.length; cut++) {
      for (const second of [cut + 1, cut + 3, bytes.length]) {
        const reads = [bytes.slice(0, cut), bytes.slice(cut, Math.min(second, bytes.length)), bytes.slice(Math.min(second, bytes.length))].filter((read) => read.length > 0);
        const { stream } = body(reads);
        expect(await takeAll(serverSentEventSource(stream, asIs)), `cut at ${cut} and ${second}`).toEqual(expected);
      }
    }
  });

  it('dispatches a last event whose lines were complete without its blank line, and drops a line cut off mid-way', async () => {
    const complete = body(['data: one\n\ndata: last\n']);
    expect(await takeAll(serverSentEventSource(complete.stream, asIs))).toEqual([
      { event: undefined, data: 'one' },
      { event: undefined, data: 'last' },
    ]);
    const cut = body(['data: one\n\ndata: {"partial']);
    expect(await takeAll(serverSentEventSource(cut.stream, asIs))).toEqual([{ event: undefined, data: 'one' }]);
  });
});

describe('serverSentEventSource: decoding, one event at a time', () => {
  it('decodes an event only when it is taken: the first is out before the rest of its read is parsed', async () => {
    const decoded: string[] = [];
    const { stream } = body(['data: 1\n\ndata: 2\n\ndata: 3\n\n']);
    const source = serverSentEventSource(stream, (event) => {
      decoded.push(event.data);
      return event.data;
    });
    expect(await source.read()).toBe(true);
    expect(source.take()).toBe('1');
    expect(decoded).toEqual(['1']);
    expect(source.take()).toBe('2');
    expect(source.take()).toBe('3');
    expect(source.take()).toBeUndefined();
    expect(await source.read()).toBe(false);
  });

  it('skips events decoded as undefined (pings)', async () => {
    const { stream } = body(['event: ping\ndata: {}\n\nevent: text\ndata: hi\n\n']);
    expect(await takeAll(serverSentEventSource(stream, (event) => (event.event === 'ping' ? undefined : event.data)))).toEqual(['hi']);
  });

  it('stops at the terminator: nothing after it is taken, and the body is read to its end (the connection stays reusable)', async () => {
    const { stream, cancelled } = body(['data: a\n\ndata: [DONE]\n\ndata: b\n\n']);
    const source = serverSentEventSource(stream, (event) => (event.data === '[DONE]' ? END_OF_EVENTS : event.data));
    expect(await takeAll(source)).toEqual(['a']);
    expect(cancelled()).toBe(false);
  });

  it('cancels a body that goes on after the terminator, after one more read', async () => {
    const { stream, cancelled, pulls } = body(['data: [DONE]\n\n', 'data: late\n\n', 'data: later\n\n']);
    const source = serverSentEventSource(stream, (event) => (event.data === '[DONE]' ? END_OF_EVENTS : event.data));
    expect(await takeAll(source)).toEqual([]);
    expect(cancelled()).toBe(true);
    expect(pulls()).toBe(2);
  });

  it('throws what decode threw for an error event, after the events before it were taken', async () => {
    const { stream } = body(['data: a\n\nevent: error\ndata: {"type":"overloaded_error"}\n\ndata: never\n\n']);
    const failure = new Error('overloaded');
    const source = serverSentEventSource(stream, (event) => {
      if (event.event === 'error') throw failure;
      return event.data;
    });
    await source.read();
    expect(source.take()).toBe('a');
    expect(() => source.take()).toThrow(failure);
  });

  it('cancels the body when cancelled, and reads nothing more', async () => {
    const { stream, cancelled, pulls } = body(['data: a\n\n', 'data: b\n\n', 'data: c\n\n']);
    const source = serverSentEventSource(stream, asIs);
    await source.read();
    source.cancel();
    expect(cancelled()).toBe(true);
    expect(source.take()).toBeUndefined();
    expect(await source.read()).toBe(false);
    expect(pulls()).toBe(1);
  });

  it('rejects read() with the body’s own error (a reset connection)', async () => {
    const reset = Object.assign(new TypeError('terminated'), { cause: Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }) });
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.error(reset);
      },
    });
    await expect(serverSentEventSource(stream, asIs).read()).rejects.toBe(reset);
  });
});
