// What a failed NATS request says about whether its message left: the client's typed errors
// (and our own NotSentError for requests refused before sending) decide it, never message text.
// Only a request that may have been delivered makes a write ambiguous (504 OUTCOME_UNKNOWN).

import { ClosedConnectionError, DrainingConnectionError, NoRespondersError, RequestError, TimeoutError } from '@nats-io/transport-node';

/** Thrown instead of sending when the connection is known to be down (nothing left the process). */
export class NotSentError extends Error {
  readonly code = 'NOT_SENT';
  constructor(reason: string) {
    super(`not sent: ${reason}`);
    this.name = 'NotSentError';
  }
}

/**
 * not-sent: refused before sending (our guard, a closed or draining connection);
 * no-responders: sent, but the server had no subscriber, so nobody received it;
 * timeout: sent, no answer in time (it may have been processed);
 * transport: anything else after sending (treated as possibly delivered).
 */
export type RequestFailure = 'not-sent' | 'no-responders' | 'timeout' | 'transport';

/** Follows `cause` links (bounded) and returns the first typed NATS failure found. */
export function classifyRequestError(e: unknown): RequestFailure {
  let c: unknown = e;
  for (let depth = 0; depth < 5 && c instanceof Error; depth++) {
    if (c instanceof NotSentError || c instanceof ClosedConnectionError || c instanceof DrainingConnectionError) return 'not-sent';
    if (c instanceof NoRespondersError || (c instanceof RequestError && c.isNoResponders())) return 'no-responders';
    if (c instanceof TimeoutError) return 'timeout';
    c = c.cause;
  }
  return 'transport';
}

/** Whether a failed request may have reached a responder (so a write is ambiguous). */
export function mayHaveBeenDelivered(f: RequestFailure): boolean {
  return f === 'timeout' || f === 'transport';
}
