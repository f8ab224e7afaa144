// A provider's streamed response, decoded a network read at a time. The official SDKs decode
// their streams through three nested async generators, which costs several promise steps per
// event: more than everything sluice does with the event. Reading the body here turns one
// network read into one batch of events, decoded synchronously, so a fast stream costs one
// promise step per read, not several per token.

/** One server-sent event, as the SSE spec dispatches it. */
export interface ServerSentEvent {
  /** The `event:` field; undefined when the event had none (a plain message). */
  event: string | undefined;
  /** The `data:` lines, joined with `\n`. */
  data: string;
}

/** Returned by a `decode` function: the provider's terminator arrived (`[DONE]`); read no further. */
export const END_OF_EVENTS: unique symbol = Symbol.for('sluice.endOfEvents');

/**
 * Turns a server-sent event into the provider's event: the event, `undefined` to skip it (a
 * `ping`), or `END_OF_EVENTS`. Throws for an event that reports an error: the events before it
 * are still delivered, then the stream fails with what it threw.
 */
export type ServerSentEventDecoder<TEvent> = (event: ServerSentEvent) => TEvent | undefined | typeof END_OF_EVENTS;

const LINE_FEED = 10;
const CARRIAGE_RETURN = 13;
const COLON = 58;
const SPACE = 32;

/**
 * Events a provider stream reads a network read at a time and decodes one at a time, as they
 * are taken: a fast stream costs one promise step per read instead of several per event, and
 * the first event is out as soon as it is decoded, before the rest of its read.
 */
export interface BufferedEventSource<TEvent> {
  /**
   * The next event already received, decoded; `undefined` when no complete event is buffered
   * (`read()` for more). Throws what `decode` threw for an error event, after the events
   * before it were taken.
   */
  take(): TEvent | undefined;
  /** Reads more of the body: resolves `false` once it has ended (events may still be buffered). */
  read(): Promise<boolean>;
  /** Stops reading and cancels the body. */
  cancel(): void;
}

/**
 * Reads a response body of server-sent events (`text/event-stream`) as a
 * `BufferedEventSource`. Lines may end in LF, CRLF or CR, split anywhere across reads;
 * comments, `id:` and `retry:` are ignored; an event without `data:` is not dispatched. At the
 * end of the body, an event whose last line was complete is dispatched even without its blank
 * line, as the official SDKs do; a line cut off mid-way is dropped (the stream was truncated).
 * Read errors (a reset connection, an aborted request) reject `read()` as they are.
 *
 * @example
 * ```ts
 * const response = await fetch(url, { method: 'POST', body, signal });
 * const events = serverSentEventSource(response.body!, (event) => (event.data === '[DONE]' ? END_OF_EVENTS : JSON.parse(event.data)));
 * let more = true;
 * while (more) {
 *   more = await events.read();
 *   for (let chunk = events.take(); chunk !== undefined; chunk = events.take()) console.log(chunk);
 * }
 * ```
 */
export function serverSentEventSource<TEvent>(body: ReadableStream<Uint8Array>, decode: ServerSentEventDecoder<TEvent>): BufferedEventSource<TEvent> {
  return new ServerSentEventSource(body, decode);
}

class ServerSentEventSource<TEvent> implements BufferedEventSource<TEvent> {
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decode: ServerSentEventDecoder<TEvent>;
  private readonly decoder = new TextDecoder();
  // The terminator arrived, or the source was cancelled: nothing more is taken.
  private stopped = false;
  // It was the terminator: the body is read to its end, not cancelled.
  private terminated = false;
  // The body has ended: what is buffered is all there is.
  private ended = false;

  // Text received and not yet parsed: text.slice(position).
  private text = '';
  private position = 0;
  private hasCarriageReturn = false;
  // The text so far ended in CR: a LF starting the next read belongs to it.
  private afterCarriageReturn = false;
  // The event being assembled.
  private eventName: string | undefined;
  private data = '';
  private hasData = false;

  constructor(body: ReadableStream<Uint8Array>, decode: ServerSentEventDecoder<TEvent>) {
    this.reader = body.getReader();
    this.decode = decode;
  }

  read(): Promise<boolean> {
    if (this.ended) return Promise.resolve(false);
    if (this.stopped) return this.terminated ? this.reader.read().then(this.onReadAfterEnd, this.onReadAfterEnd) : Promise.resolve(false);
    return this.reader.read().then(this.onRead);
  }

  cancel(): void {
    this.stopped = true;
    this.terminated = false;
    this.text = '';
    this.position = 0;
    if (this.ended) return;
    this.ended = true;
    this.reader.cancel().catch(() => undefined);
  }

  // After the terminator, one more read usually finds the body's end, which lets the
  // connection go back to the keep-alive pool; cancelling a body not fully read closes it.
  private readonly onReadAfterEnd = (read: unknown): boolean => {
    const done = (read as { done?: unknown } | undefined)?.done === true;
    this.ended = true;
    if (!done) this.reader.cancel().catch(() => undefined);
    return false;
  };

  private readonly onRead = (read: ReadableStreamReadResult<Uint8Array>): boolean => {
    if (this.stopped) return false;
    if (read.done) {
      this.ended = true;
      this.append(this.decoder.decode());
      return false;
    }
    this.append(this.decoder.decode(read.value, { stream: true }));
    return true;
  };

  private append(chunk: string): void {
    if (chunk === '') return; // the decoder holds the start of a character
    let added = chunk;
    if (this.afterCarriageReturn && added.charCodeAt(0) === LINE_FEED) added = added.slice(1);
    this.afterCarriageReturn = added !== '' && added.charCodeAt(added.length - 1) === CARRIAGE_RETURN;
    if (added === '') return;
    this.text = this.position < this.text.length ? this.text.slice(this.position) + added : added;
    this.position = 0;
    // Almost every provider ends lines with LF alone: then one indexOf finds each line.
    this.hasCarriageReturn = this.text.indexOf('\r') !== -1;
  }

  take(): TEvent | undefined {
    const text = this.text;
    const length = text.length;
    while (!this.stopped) {
      const start = this.position;
      let end: number;
      let next: number;
      if (this.hasCarriageReturn) {
        end = start;
        while (end < length) {
          const code = text.charCodeAt(end);
          if (code === LINE_FEED || code === CARRIAGE_RETURN) break;
          end++;
        }
        next = end === length ? -1 : text.charCodeAt(end) === CARRIAGE_RETURN && text.charCodeAt(end + 1) === LINE_FEED ? end + 2 : end + 1;
      } else {
        end = text.indexOf('\n', start);
        next = end === -1 ? -1 : end + 1;
      }
      if (next === -1) {
        // No complete line left. At the end of the body, an event whose lines were all
        // complete is dispatched; a line cut off mid-way is dropped.
        if (this.ended && start === length && this.hasData) return this.dispatch();
        return undefined;
      }
      this.position = next;
      if (start === end) {
        if (this.hasData) {
          const event = this.dispatch();
          if (event !== undefined) return event;
        } else {
          this.eventName = undefined;
        }
      } else if (text.charCodeAt(start) !== COLON) {
        this.field(text, start, end);
      }
    }
    return undefined;
  }

  private field(text: string, start: number, end: number): void {
    let colon = text.indexOf(':', start);
    if (colon === -1 || colon > end) colon = end;
    let valueStart = colon + 1;
    if (valueStart < end && text.charCodeAt(valueStart) === SPACE) valueStart++;
    const value = valueStart >= end ? '' : text.slice(valueStart, end);
    const nameLength = colon - start;
    if (nameLength === 4 && text.startsWith('data', start)) {
      this.data = this.hasData ? `${this.data}\n${value}` : value;
      this.hasData = true;
    } else if (nameLength === 5 && text.startsWith('event', start)) {
      this.eventName = value;
    }
    // `id:` and `retry:` mean nothing to a provider stream read once.
  }

  /** Hands the assembled event to `decode`; undefined when it was skipped or ended the stream. */
  private dispatch(): TEvent | undefined {
    const event: ServerSentEvent = { event: this.eventName, data: this.data };
    this.eventName = undefined;
    this.data = '';
    this.hasData = false;
    const decoded = this.decode(event);
    if (decoded !== END_OF_EVENTS) return decoded;
    this.stopped = true;
    this.terminated = true;
    this.text = '';
    this.position = 0;
    return undefined;
  }
}

/**
 * What an official SDK's `create({ stream: true, ... })` returns (the OpenAI and Anthropic SDKs
 * share it): awaited, the SDK's own stream of events; `asResponse()`, the raw response, its
 * body unread. A wrapped client may return a plain promise without `asResponse`.
 */
export interface SdkStreamRequest<TEvent> extends PromiseLike<AsyncIterable<TEvent>> {
  asResponse?(): Promise<Response>;
}

/**
 * A provider's events, as `ProviderStream` takes them: one promise step each (`events`, e.g.
 * an SDK's stream) or buffered a network read at a time (`source`).
 */
export type ProviderEvents<TEvent> = { events: AsyncIterable<TEvent> | Iterable<TEvent>; source?: never } | { source: BufferedEventSource<TEvent>; events?: never };

/**
 * Opens a streaming SDK request's events for an adapter: the SDK sends the request (auth,
 * headers, base URL, custom `fetch`) and turns an HTTP error status into its own error class,
 * as always; the body is then read here, a network read at a time, and decoded an event at a
 * time (see `serverSentEventSource`), with `decode` doing what the SDK's stream does per event (parse
 * the JSON, throw the SDK's error for an error event, skip pings). When the request has no
 * `asResponse()` (a wrapped client), or its body is not a web `ReadableStream` (a custom `fetch`
 * answering with a Node stream), the SDK's own stream is used, one event at a time.
 *
 * @example
 * ```ts
 * const events = await sdkStreamEvents(client.chat.completions.create(body, { signal }), (event, response) =>
 *   event.data === '[DONE]' ? END_OF_EVENTS : JSON.parse(event.data),
 * );
 * ```
 */
export async function sdkStreamEvents<TEvent>(
  request: SdkStreamRequest<TEvent>,
  decode: (event: ServerSentEvent, response: Response) => TEvent | undefined | typeof END_OF_EVENTS,
): Promise<ProviderEvents<TEvent>> {
  if (typeof request.asResponse !== 'function') return { events: await request };
  const response = await request.asResponse();
  const body = response.body as ReadableStream<Uint8Array> | null;
  // A custom fetch may answer with a Node stream as the body: the SDK's own stream reads that.
  if (body === null || typeof body.getReader !== 'function') return { events: await request };
  return { source: serverSentEventSource(body, (event) => decode(event, response)) };
}
