import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeChatModel } from '@sluice/core';
import { openDatabase } from '@sluice/example-databases';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { startServer } from '../src/server.ts';

const sqliteFile = join(tmpdir(), `sluice-express-example-${process.pid}-${Date.now()}.db`);
const databases = {
  sqlite: `sqlite:${sqliteFile}`,
  postgres: 'postgres://postgres@127.0.0.1:5432/test',
  mysql: 'mysql://root@127.0.0.1:3306/test',
  memory: 'memory',
};

describe('examples/express-server', () => {
  for (const [name, databaseUrl] of Object.entries(databases)) {
    test(`serves the page, the client and chats with sentiment, kept on ${name} (DATABASE_URL)`, async () => {
      const tablePrefix = `srv${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}_`;
      const running = await startServer({
        port: 0,
        databaseUrl,
        tablePrefix,
        model: new FakeChatModel({ reply: 'What a lovely day. The rain was awful.' }),
      });
      try {
        const page = await fetch(`${running.url}/`);
        expect(await page.text()).toContain('<script type="importmap">');
        for (const path of ['/vendor/sluice-client.js', '/vendor/eventsource-parser/index.js', '/vendor/eventsource-parser/parse.js']) {
          const script = await fetch(`${running.url}${path}`);
          expect(script.status, path).toBe(200);
          await script.arrayBuffer();
        }
        const chat = await fetch(`${running.url}/api/chat`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ messages: [{ role: 'user', content: 'How was it?' }] }),
        });
        const conversationId = chat.headers.get('x-sluice-conversation-id') as string;
        const body = await chat.text();
        expect(body).toContain('event: finish');
        const sentiments = body
          .split('\n')
          .filter((line) => line.startsWith('data: ') && line.includes('"name":"sentiment"'))
          .map((line) => JSON.parse(line.slice(6)).data as { scope: string; label?: string });
        expect(sentiments.filter((data) => data.scope === 'sentence').map((data) => data.label)).toEqual(['positive', 'negative']);
        expect(sentiments.some((data) => data.scope === 'conversation')).toBe(true);
        // The stream ends with its finish event, before the database write completes (by design):
        // the history shows up a moment later.
        let messages: { role: string; content: string }[] = [];
        for (let wait = 0; wait < 100 && messages.length < 2; wait++) {
          const history = await fetch(`${running.url}/api/conversations/${conversationId}`);
          if (history.ok) messages = ((await history.json()) as { messages: typeof messages }).messages;
          else await history.arrayBuffer();
          if (messages.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
        }
        expect(messages.map((message) => [message.role, message.content])).toEqual([
          ['user', 'How was it?'],
          ['assistant', 'What a lovely day. The rain was awful.'],
        ]);
      } finally {
        await running.close();
        if (databaseUrl !== 'memory') {
          const db = openDatabase(databaseUrl);
          for (const table of ['chunks', 'messages', 'conversations', 'migration', 'migration_lock']) {
            await sql`drop table if exists ${sql.table(tablePrefix + table)}`.execute(db);
          }
          await db.destroy();
        }
        if (name === 'sqlite') for (const suffix of ['', '-wal', '-shm']) await rm(sqliteFile + suffix, { force: true });
      }
    });
  }
});
