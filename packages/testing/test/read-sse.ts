/** A server-sent event as the tests read it. */
export interface SseEvent {
  event: string | undefined;
  data: string;
}

/** Parses an SSE body (comment lines skipped). */
export function parseSse(body: string): SseEvent[] {
  const events: SseEvent[] = [];
  for (const block of body.split('\n\n')) {
    let event: string | undefined;
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) events.push({ event, data: data.join('\n') });
  }
  return events;
}

/** POSTs JSON and gives the status, headers and text body. */
export async function post(url: string, body: unknown, headers: Record<string, string> = { authorization: 'Bearer test-key' }): Promise<{ status: number; headers: Headers; text: string }> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: response.status, headers: response.headers, text: await response.text() };
}

/** The JSON payloads of an SSE body, `[DONE]` left out. */
export function payloads(body: string): Record<string, unknown>[] {
  return parseSse(body)
    .filter((event) => event.data !== '[DONE]')
    .map((event) => JSON.parse(event.data) as Record<string, unknown>);
}
