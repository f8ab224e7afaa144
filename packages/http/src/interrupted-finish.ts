import { PartialReply, type FinishEvent, type SerializedError, type StreamEvent } from '@sluice/core';

/**
 * The terminal event of a run whose instance died, built from the events its log holds: the
 * run's own `finish` if the log has one, otherwise the partial reply so far (`PartialReply`),
 * reason `aborted` and the error saying why, at `seq`.
 */
export function interruptedFinish(events: readonly StreamEvent[], seq: number, error: SerializedError): FinishEvent {
  const reply = new PartialReply();
  for (const event of events) reply.add(event);
  return reply.finish ?? { type: 'finish', seq, reason: 'aborted', message: reply.message(), usage: reply.usage, error };
}
