/** How the server's side of one exchange ended. */
export type RequestOutcome =
  /** The whole response was sent. */
  | 'completed'
  /** The client closed the connection before the response was complete (an abort, an idle timeout). */
  | 'client-closed'
  /** A scripted fault ended it (`truncate`, `error-event`, `reset`). */
  | 'fault';

/** A request the fake server received, for tests to assert on. */
export interface RecordedRequest {
  method: string;
  /** The path without the query, e.g. `/v1/chat/completions`. */
  path: string;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** The parsed JSON body (`undefined` when there was none or it was not JSON). */
  body: unknown;
  /** `Date.now()` when the request arrived. */
  receivedAt: number;
  /** How the exchange ended; `undefined` while it is still going. */
  outcome: RequestOutcome | undefined;
  /** Resolves with the outcome once the exchange has ended. */
  readonly settled: Promise<RequestOutcome>;
}
