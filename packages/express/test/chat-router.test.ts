import type { Server } from 'node:http';
import { FakeChatModel } from '@sluice/core';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { chatRouter, type ChatRouterOptions } from '../src/index.ts';

const servers: { server: Server; close: () => void }[] = [];

async function app(options: ChatRouterOptions): Promise<string> {
  const application = express();
  const router = chatRouter(options);
  application.use('/api', router);
  application.get('/health', (_request, response) => void response.json({ ok: true }));
  const server = await new Promise<Server>((resolve) => {
    const listening = application.listen(0, '127.0.0.1', () => resolve(listening));
  });
  servers.push({ server, close: () => router.chat.close() });
  return `http://127.0.0.1:${(server.address() as { port: number }).port}`;
}

afterEach(async () => {
  for (const { server, close } of servers.splice(0)) {
    close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

const post = (url: string, body: unknown, accept = 'text/event-stream') =>
  fetch(`${url}/api/chat`, { method: 'POST', headers: { 'Content-Type': 'application/json', Accept: accept }, body: JSON.stringify(body) });

describe('chatRouter', () => {
  it('serves the chat routes where it is mounted, and says where to resume under that path', async () => {
    const url = await app({ model: new FakeChatModel({ tokens: ['Hello', '!'] }) });
    const response = await post(url, { messages: [{ role: 'user', content: 'Hi' }] });
    expect(response.status).toBe(200);
    const runId = response.headers.get('x-sluice-run-id');
    expect(response.headers.get('location')).toBe(`/api/runs/${runId}/events`);
    const body = await response.text();
    expect(body).toContain('event: finish');
    const replay = await fetch(`${url}${response.headers.get('location')}`, { headers: { 'Last-Event-ID': '0' } });
    expect(await replay.text()).toContain('"text":"Hello"');
  });

  it('hands other paths on to the rest of the app', async () => {
    const url = await app({ model: new FakeChatModel() });
    const health = await fetch(`${url}/health`);
    expect(await health.json()).toEqual({ ok: true });
  });

  it('rate-limits with a JSON 429 and Retry-After', async () => {
    const url = await app({ model: new FakeChatModel({ tokens: ['a'] }), rateLimit: { limit: 2, windowMs: 60_000 } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let index = 0; index < 3; index++) {
      last = await post(url, { messages: [{ role: 'user', content: 'Hi' }] }, 'application/json');
      statuses.push(last.status);
      if (index < 2) await last.arrayBuffer();
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(last?.headers.get('retry-after')).toMatch(/^\d+$/);
    expect(await last?.json()).toMatchObject({ error: { code: 'rate_limited' } });
  });

  it('answers bad input with the same JSON errors as @sluice/http', async () => {
    const url = await app({ model: new FakeChatModel() });
    const response = await post(url, { messages: [] });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: { code: 'invalid_request', details: [{ path: 'messages' }] } });
  });
});
