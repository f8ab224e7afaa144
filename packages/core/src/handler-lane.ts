import type { CallbackHandler, HandlerContext, HookResult, OverflowPolicy } from './callback-handler.js';
import type { ChatResult } from './chat-result.js';
import type { SluiceError } from './errors/sluice-error.js';
import type { MessageChunk } from './messages.js';
import type { HandlerMetrics } from './run-metrics.js';
import type { StreamEvent, TextDeltaEvent } from './stream-event.js';

/** The run a lane belongs to, as far as the lane needs to know it. */
export interface LaneHost {
  /** Called when a lane's queue reaches its capacity and the run must wait (block/coalesce). */
  laneFull(): void;
  /** Called when a full lane has room again. */
  laneHasRoom(): void;
  reportHandlerError(lane: HandlerLane, hook: string, cause: unknown): void;
}

/** Lifecycle steps travel through the lane like events, so they keep their order. */
export type LaneStep =
  | { readonly type: '@start' }
  | { readonly type: '@flush' }
  | { readonly type: '@error'; readonly error: SluiceError }
  | { readonly type: '@end'; readonly result: ChatResult };

export const startStep: LaneStep = { type: '@start' };
export const flushStep: LaneStep = { type: '@flush' };

/** Adjacent deltas merged by the `coalesce` policy; joined once, when delivered. */
class CoalescedDelta {
  readonly type: 'text-delta' | 'reasoning-delta' | 'tool-call-delta';
  seq: number;
  readonly parts: string[];
  readonly index: number;
  readonly id: string | undefined;
  readonly name: string | undefined;

  constructor(
    type: CoalescedDelta['type'],
    seq: number,
    parts: string[],
    index: number,
    id: string | undefined,
    name: string | undefined,
  ) {
    this.type = type;
    this.seq = seq;
    this.parts = parts;
    this.index = index;
    this.id = id;
    this.name = name;
  }

  toEvent(): StreamEvent {
    const joined = this.parts.join('');
    if (this.type === 'tool-call-delta') {
      const event: StreamEvent = { type: 'tool-call-delta', seq: this.seq, index: this.index, argumentsDelta: joined };
      if (this.id !== undefined) event.id = this.id;
      if (this.name !== undefined) event.name = this.name;
      return event;
    }
    return { type: this.type, seq: this.seq, text: joined };
  }
}

type LaneItem = StreamEvent | LaneStep | CoalescedDelta;

const DEFAULT_CAPACITY = 1024;
const SAMPLE_ALL_UNTIL = 256;
const SAMPLE_EVERY = 16;
const SAMPLE_MASK = SAMPLE_EVERY - 1;
// Compact the queue array once this many consumed slots sit at its front.
const COMPACT_AFTER = 4096;

function isThenable(value: unknown): value is PromiseLike<void> {
  return typeof value === 'object' && value !== null && typeof (value as PromiseLike<void>).then === 'function';
}

function deltaText(event: StreamEvent | CoalescedDelta): string | string[] | undefined {
  if (event instanceof CoalescedDelta) return event.parts;
  if (event.type === 'text-delta' || event.type === 'reasoning-delta') return event.text;
  if (event.type === 'tool-call-delta') return event.argumentsDelta;
  return undefined;
}

/**
 * One handler's ordered lane. Hooks run inline while the handler keeps up (a sync handler
 * never queues and costs no allocation); while a hook's promise is pending, later items
 * queue here, bounded by the handler's capacity and overflow policy.
 */
export class HandlerLane {
  readonly metrics: HandlerMetrics;
  readonly context: HandlerContext;
  readonly wantsChunks: boolean;
  private readonly handler: CallbackHandler;
  private readonly host: LaneHost;
  private readonly capacity: number;
  private readonly overflow: OverflowPolicy;
  private queue: (LaneItem | undefined)[] = [];
  private head = 0;
  private busy = false;
  private full = false;
  private idleWaiters: (() => void)[] = [];
  private readonly resume = (): void => this.drain();

  constructor(handler: CallbackHandler, name: string, host: LaneHost, context: HandlerContext) {
    this.handler = handler;
    this.host = host;
    this.context = context;
    this.capacity = Math.max(1, handler.delivery?.capacity ?? DEFAULT_CAPACITY);
    this.overflow = handler.delivery?.overflow ?? 'block';
    this.wantsChunks = typeof handler.onChatNewMessage === 'function';
    this.metrics = { name, timeMs: 0, calls: 0, maxQueueDepth: 0, dropped: 0, coalesced: 0, errors: 0 };
  }

  /** Hands the lane an event or lifecycle step; runs it now unless earlier ones are pending. */
  deliver(item: StreamEvent | LaneStep): void {
    if (this.busy) {
      this.enqueue(item);
      return;
    }
    const pending = this.run(item);
    if (pending !== undefined) {
      this.busy = true;
      pending.then(this.resume);
    }
  }

  /** True when nothing delivered to the lane is still pending. */
  get idle(): boolean {
    return !this.busy;
  }

  /** Resolves once everything delivered so far has been handled. */
  whenIdle(): Promise<void> | undefined {
    if (!this.busy) return undefined;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private get depth(): number {
    return this.queue.length - this.head;
  }

  private enqueue(item: StreamEvent | LaneStep): void {
    const depth = this.depth;
    if (depth >= this.capacity) {
      if (this.overflow === 'drop' && isDroppable(item)) {
        this.metrics.dropped++;
        return;
      }
      if (this.overflow === 'coalesce' && this.mergeIntoTail(item)) {
        this.metrics.coalesced++;
        return;
      }
    }
    this.queue.push(item);
    if (depth + 1 > this.metrics.maxQueueDepth) this.metrics.maxQueueDepth = depth + 1;
    // block: the run waits once the queue is at capacity. coalesce: events that cannot merge
    // (usage, data, a new tool call) may go past capacity, and the run waits only at twice it.
    // drop: never.
    const mustWait =
      this.overflow === 'block' ? depth + 1 >= this.capacity : this.overflow === 'coalesce' && depth + 1 >= 2 * this.capacity;
    if (mustWait && !this.full) {
      this.full = true;
      this.host.laneFull();
    }
  }

  private mergeIntoTail(item: StreamEvent | LaneStep): boolean {
    if (this.depth === 0) return false;
    const tailIndex = this.queue.length - 1;
    const tail = this.queue[tailIndex];
    if (tail === undefined || tail.type !== item.type || item.type.startsWith('@')) return false;
    const added = deltaText(item as StreamEvent);
    if (typeof added !== 'string') return false;
    const event = item as StreamEvent;
    if (event.type === 'tool-call-delta') {
      const tailCall = tail as CoalescedDelta | Extract<StreamEvent, { type: 'tool-call-delta' }>;
      // A new id or name starts a different call: never merge across calls.
      if (tailCall.index !== event.index || event.id !== undefined || event.name !== undefined) return false;
    }
    if (tail instanceof CoalescedDelta) {
      tail.parts.push(added);
      tail.seq = event.seq;
      return true;
    }
    const tailText = deltaText(tail as StreamEvent) as string;
    const tailEvent = tail as StreamEvent;
    this.queue[tailIndex] =
      tailEvent.type === 'tool-call-delta'
        ? new CoalescedDelta('tool-call-delta', event.seq, [tailText, added], tailEvent.index, tailEvent.id, tailEvent.name)
        : new CoalescedDelta(event.type as 'text-delta', event.seq, [tailText, added], 0, undefined, undefined);
    return true;
  }

  private drain(): void {
    while (this.head < this.queue.length) {
      const item = this.queue[this.head] as LaneItem;
      this.queue[this.head++] = undefined;
      if (this.full && this.depth < this.capacity) {
        this.full = false;
        this.host.laneHasRoom();
      }
      const pending = this.run(item instanceof CoalescedDelta ? item.toEvent() : item);
      if (pending !== undefined) {
        if (this.head >= COMPACT_AFTER) this.compact();
        pending.then(this.resume);
        return;
      }
    }
    this.queue.length = 0;
    this.head = 0;
    this.busy = false;
    const waiters = this.idleWaiters;
    if (waiters.length > 0) {
      this.idleWaiters = [];
      for (const wake of waiters) wake();
    }
  }

  private compact(): void {
    this.queue = this.queue.slice(this.head);
    this.head = 0;
  }

  /** Runs one item's hooks; returns a promise only when a hook is still pending. */
  private run(item: StreamEvent | LaneStep): Promise<void> | undefined {
    const handler = this.handler;
    switch (item.type) {
      case '@start':
        return handler.onChatStart === undefined ? undefined : this.call('onChatStart', handler.onChatStart, undefined);
      case '@flush':
        return handler.onChatFlush === undefined ? undefined : this.call('onChatFlush', handler.onChatFlush, undefined);
      case '@error':
        return handler.onChatError === undefined ? undefined : this.call('onChatError', handler.onChatError, item.error);
      case '@end':
        return handler.onChatEnd === undefined ? undefined : this.call('onChatEnd', handler.onChatEnd, item.result);
      default: {
        const pending =
          handler.onChatEvent === undefined ? undefined : this.call('onChatEvent', handler.onChatEvent, item);
        if (item.type !== 'text-delta' || !this.wantsChunks) return pending;
        if (pending === undefined) return this.newMessage(item);
        return pending.then(() => this.newMessage(item));
      }
    }
  }

  private newMessage(event: TextDeltaEvent): Promise<void> | undefined {
    const chunk: MessageChunk = { role: 'assistant', content: event.text, seq: event.seq };
    return this.call('onChatNewMessage', this.handler.onChatNewMessage as (...args: never[]) => HookResult, chunk);
  }

  private call(hook: string, fn: (...args: never[]) => HookResult, argument: unknown): Promise<void> | undefined {
    const metrics = this.metrics;
    // Reading the clock costs about as much as a small sync hook, so sync calls are timed on a
    // sample (every call at first, then one in SAMPLE_EVERY, scaled); async calls always are.
    const timed = metrics.calls < SAMPLE_ALL_UNTIL || (metrics.calls & SAMPLE_MASK) === 0;
    metrics.calls++;
    const started = timed ? performance.now() : 0;
    let result: unknown;
    try {
      result =
        argument === undefined
          ? (fn as (context: HandlerContext) => HookResult).call(this.handler, this.context)
          : (fn as (value: unknown, context: HandlerContext) => HookResult).call(this.handler, argument, this.context);
    } catch (error) {
      if (timed) this.addSyncTime(started, metrics.calls);
      this.fail(hook, error);
      return undefined;
    }
    if (!isThenable(result)) {
      if (timed) this.addSyncTime(started, metrics.calls);
      return undefined;
    }
    const asyncStarted = timed ? started : performance.now();
    return Promise.resolve(result).then(
      () => {
        metrics.timeMs += performance.now() - asyncStarted;
      },
      (error: unknown) => {
        metrics.timeMs += performance.now() - asyncStarted;
        this.fail(hook, error);
      },
    );
  }

  private addSyncTime(started: number, calls: number): void {
    const elapsed = performance.now() - started;
    this.metrics.timeMs += calls <= SAMPLE_ALL_UNTIL ? elapsed : elapsed * SAMPLE_EVERY;
  }

  private fail(hook: string, cause: unknown): void {
    this.metrics.errors++;
    this.host.reportHandlerError(this, hook, cause);
  }
}

function isDroppable(item: StreamEvent | LaneStep): boolean {
  switch (item.type) {
    case 'text-delta':
    case 'reasoning-delta':
    case 'tool-call-delta':
    case 'usage':
    case 'data':
      return true;
    default:
      return false;
  }
}
