// A minimal SSE reader for the tests: reads frames from a fetch response, exactly as sent.
import type { StreamEvent } from '@sluice/core';

export interface Frame {
  id?: string;
  event?: string;
  data?: string;
  comment?: string;
  retry?: string;
}

export function parseFrame(block: string): Frame {
  const frame: Frame = {};
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) frame.comment = line.slice(1).trim();
    else {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id' || field === 'event' || field === 'data' || field === 'retry') frame[field] = value;
    }
  }
  return frame;
}

/** Reads frames until the body ends (or `stopAfter` frames); gives them and whether the body ended cleanly. */
export async function readFrames(response: Response, options: { stopAfterEvents?: number } = {}): Promise<{ frames: Frame[]; ended: boolean }> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder();
  const frames: Frame[] = [];
  let buffer = '';
  let events = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return { frames, ended: true };
      buffer += decoder.decode(value, { stream: true });
      let split: number;
      while ((split = buffer.indexOf('\n\n')) !== -1) {
        const frame = parseFrame(buffer.slice(0, split));
        buffer = buffer.slice(split + 2);
        frames.push(frame);
        if (frame.data !== undefined) events++;
        if (options.stopAfterEvents !== undefined && events >= options.stopAfterEvents) {
          await reader.cancel();
          return { frames, ended: false };
        }
      }
    }
  } catch {
    return { frames, ended: false };
  }
}

export function eventsOf(frames: readonly Frame[]): StreamEvent[] {
  return frames.filter((frame) => frame.data !== undefined).map((frame) => JSON.parse(frame.data as string) as StreamEvent);
}

export function textOf(events: readonly StreamEvent[]): string {
  return events.map((event) => (event.type === 'text-delta' ? event.text : '')).join('');
}
