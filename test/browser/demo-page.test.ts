import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeChatModel } from '@sluice/core';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../examples/express-server/src/server.ts';

// The demo page (examples/express-server/public) in Debian's Chromium, against the real demo
// server: the fake model at a visible rate, sentiment, SQLite history, real SSE connections.

const reply =
  'Sparkling water is wonderful, and I love how fresh it feels. ' +
  'The traffic this morning was terrible and I hated every minute of it. ' +
  'The meeting starts at noon in the second room. ' +
  'Thank you, this has been a really delightful and happy day! ' +
  'The broken printer is awful and the coffee tasted bad. ' +
  'Tomorrow brings a great new chance to enjoy life.';

let running: RunningServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let dataDir: string;
const pageErrors: string[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'sluice-demo-page-'));
  running = await startServer({
    port: 0,
    // With storage the server's disconnect policy is `continue`: a dropped client resumes.
    databaseUrl: `sqlite:${join(dataDir, 'demo.db')}`,
    model: new FakeChatModel({ reply, rate: 40 }),
  });
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(running.url);
});

afterAll(async () => {
  await browser?.close();
  await running?.close();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

const assistant = () => page.locator('.message-assistant').last();
const assistantText = () => assistant().locator('.message-content');

async function ask(text: string): Promise<void> {
  await page.getByLabel('Your message').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
}

/**
 * Waits until the last assistant message shows at least `length` characters while streaming
 * (or has ended, which the caller's assertions then report).
 */
async function waitForStreamedText(length: number): Promise<string> {
  const handle = await page.waitForFunction((min) => {
    const message = [...document.querySelectorAll('.message-assistant')].at(-1);
    if (message === undefined) return false;
    const text = message.querySelector('.message-content')?.textContent ?? '';
    if (message.hasAttribute('data-finish-reason')) return { text, streaming: false };
    return text.length >= min ? { text, streaming: true } : false;
  }, length);
  const { text, streaming } = (await handle.jsonValue()) as { text: string; streaming: boolean };
  expect(streaming, `the reply ended before ${length} characters: ${text} (${await page.locator('#error').textContent()})`).toBe(true);
  return text;
}

async function waitForFinish(reason: string): Promise<void> {
  await assistant().and(page.locator(`[data-finish-reason="${reason}"]`)).waitFor();
}

describe('the demo page', () => {
  it('streams a reply token by token, tints each finished sentence by its sentiment and moves the gauge', async () => {
    await ask('How was your day?');
    const partial = await waitForStreamedText(5);
    expect(reply.startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(reply.length);

    await waitForFinish('stop');
    expect(await assistantText().textContent()).toBe(reply);
    expect(await page.locator('.message-user .message-content').last().textContent()).toBe('How was your day?');
    const sentences = assistant().locator('.sentence');
    expect(await sentences.first().textContent()).toBe('Sparkling water is wonderful, and I love how fresh it feels.');
    expect(await sentences.first().getAttribute('class')).toContain('sentence-positive');
    expect(await assistant().locator('.sentence-negative').count()).toBeGreaterThanOrEqual(1);
    expect(await assistant().locator('.sentence').count()).toBe(6);
    await expect.poll(() => page.locator('#gauge').getAttribute('aria-valuetext')).not.toBe('No sentences yet');
    expect(Number(await page.locator('#count-positive').textContent())).toBeGreaterThanOrEqual(1);
    expect(await page.locator('#connection-text').textContent()).toBe('Done');
    expect(pageErrors).toEqual([]);
  });

  it('survives a dropped connection mid-stream: it shows the reconnection and loses or repeats nothing', async () => {
    await ask('And tomorrow?');
    await waitForStreamedText(20);
    running.dropConnections();
    await waitForFinish('stop');
    expect(await assistantText().textContent()).toBe(reply);
    expect(await page.locator('#connection').getAttribute('data-resumes')).toBe('1');
    expect(await page.locator('#connection-text').textContent()).toMatch(/resumed 1×, nothing lost/);
    expect(await assistant().locator('.sentence').count()).toBe(6);
    await page.screenshot({ path: '/tmp/demo-page.png', fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('stops the reply when Stop is pressed', async () => {
    await ask('Tell me more.');
    await waitForStreamedText(10);
    await page.getByRole('button', { name: 'Stop' }).click();
    await waitForFinish('aborted');
    const text = (await assistantText().textContent()) ?? '';
    expect(reply.startsWith(text)).toBe(true);
    expect(text.length).toBeLessThan(reply.length);
    expect(await assistant().locator('.badge', { hasText: 'stopped' }).isVisible()).toBe(true);
    expect(await page.getByRole('button', { name: 'Send' }).isEnabled()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('shows the conversation again after a reload', async () => {
    const before = await page.locator('.message .message-content').allTextContents();
    const conversationId = await page.locator('#conversation-id').textContent();
    expect(before).toHaveLength(6);
    await page.reload();
    await expect.poll(() => page.locator('.message').count()).toBe(6);
    expect(await page.locator('.message .message-content').allTextContents()).toEqual(before);
    expect(await page.locator('#conversation-id').textContent()).toBe(conversationId);
    expect(await page.locator('.message-assistant').last().getAttribute('data-finish-reason')).toBe('aborted');
    expect(await page.locator('#gauge').getAttribute('aria-valuetext')).not.toBe('No sentences yet');
    await page.screenshot({ path: '/tmp/demo-page-reloaded.png', fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('reattaches to a reply that was still streaming when the page reloaded', async () => {
    await ask('One more time, please.');
    const partial = await waitForStreamedText(10);
    await page.reload();
    await waitForFinish('stop');
    expect(partial.length).toBeLessThan(reply.length);
    const texts = await page.locator('.message .message-content').allTextContents();
    expect(texts).toHaveLength(8);
    expect(texts.slice(-2)).toEqual(['One more time, please.', reply]);
    expect(await assistant().locator('.sentence').count()).toBe(6);
    expect(await page.evaluate(() => JSON.parse(localStorage.getItem('sluice-demo') ?? '{}').activeRunId)).toBeUndefined();
    expect(pageErrors).toEqual([]);
  });
});
