import { ChatRun, type ChatRunCallbacks } from './chat-run.js';
import { Endpoint, type ConnectionOptions } from './endpoint.js';
import { describeValue, invalidArgument } from './invalid-argument.js';
import { resumePolicy, type ResumeOptions } from './resume-options.js';
import { checkOptionalId, checkRunOptions } from './stream-chat.js';

/** Which run to reattach to, and from where. */
export interface ResumeRunOptions extends ConnectionOptions, ChatRunCallbacks {
  /** The run's id (`chat.runId`, or the `X-Sluice-Run-Id` header). */
  runId: string;
  /**
   * The `seq` of the last event you already have (`chat.lastEventId`): the stream starts after
   * it. Default: from the start of the run.
   */
  lastEventId?: number;
  /** The run's conversation, if you know it (reported as `chat.conversationId`). */
  conversationId?: string;
  /** Stops listening when aborted (no resume; the iterator throws an `aborted` error). */
  signal?: AbortSignal;
  /** How a dropped connection is resumed, this first connection included. Defaults: see `ResumeOptions`. */
  resume?: ResumeOptions | false;
}

/**
 * Reattaches to a run (`GET /runs/:id/events`): after a page reload, on another device, or
 * after `streamChat` gave up resuming. The server replays the events after `lastEventId` and
 * then tails the live run; it works while the run is live and after it finished. The returned
 * `ChatRun` behaves as `streamChat`'s does (its `text` holds the text received by it).
 *
 * @example
 * ```ts
 * import { resumeRun } from '@sluice/client';
 *
 * const saved = JSON.parse(localStorage.getItem('run') ?? 'null'); // { runId, lastEventId }
 * if (saved !== null) {
 *   const chat = resumeRun({ baseURL: '/api', runId: saved.runId });
 *   for await (const event of chat) if (event.type === 'text-delta') render(chat.text);
 * }
 * ```
 */
export function resumeRun(options: ResumeRunOptions): ChatRun {
  if (typeof options !== 'object' || options === null) {
    throw invalidArgument(`resumeRun needs options like { baseURL, runId }, got ${describeValue(options)}`);
  }
  const endpoint = new Endpoint(options);
  if (typeof options.runId !== 'string' || options.runId === '') {
    throw invalidArgument(`runId must be the non-empty id of a run (chat.runId), got ${describeValue(options.runId)}`);
  }
  const { lastEventId } = options;
  if (lastEventId !== undefined && (typeof lastEventId !== 'number' || !Number.isInteger(lastEventId) || lastEventId < 0)) {
    throw invalidArgument(`lastEventId must be the seq of an event (a whole number >= 0), got ${describeValue(lastEventId)}`);
  }
  checkOptionalId('conversationId', options.conversationId);
  checkRunOptions(options);
  return new ChatRun({
    endpoint,
    start: { method: 'GET', runId: options.runId, lastEventId },
    conversationId: options.conversationId,
    signal: options.signal,
    resume: resumePolicy(options.resume),
    maxRetries: 0,
    onStatusChange: options.onStatusChange,
    onResume: options.onResume,
  });
}
