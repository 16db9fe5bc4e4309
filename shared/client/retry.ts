// The retry policy both clients share. Reads retry on 429/503, timeouts and network errors.
// Writes retry only when they carry an idempotency key (the server then applies them at most
// once); a write whose last attempt left its fate unknown surfaces as OUTCOME_UNKNOWN with the
// key, so the caller can retry it safely later. Backoff is exponential with jitter, or the
// server's Retry-After when it sent one.

import { randomUUID } from 'node:crypto';
import { CellkvError } from './errors.js';
import type { RetryOptions } from './types.js';

export interface RetryPolicy {
  readonly retries: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRetryAfterMs: number;
}

export function retryPolicy(o: RetryOptions | number | undefined): RetryPolicy {
  const r = typeof o === 'number' ? { retries: o } : (o ?? {});
  const retries = r.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 0) throw new CellkvError({ code: 'INVALID_ARGUMENT', status: 0, detail: 'retries must be a whole number ≥ 0' });
  return { retries, baseDelayMs: r.baseDelayMs ?? 50, maxDelayMs: r.maxDelayMs ?? 2000, maxRetryAfterMs: r.maxRetryAfterMs ?? 30_000 };
}

/** How one failed attempt counts. */
export interface AttemptFailure {
  readonly error: CellkvError;
  /** Transient: trying again may succeed. */
  readonly retryable: boolean;
  /** The request may have reached the server and been applied (timeouts, cut connections, 504). */
  readonly ambiguous: boolean;
}

export type AttemptOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: AttemptFailure };

export interface CallInfo {
  readonly what: string;
  readonly write: boolean;
  /** Writes: the key sent with every attempt, null when none (then no retries). */
  readonly idempotencyKey: string | null;
  readonly signal?: AbortSignal | undefined;
}

/** Classification of an answer by status and code, the same for HTTP and NATS. */
export function failureOfStatus(error: CellkvError): AttemptFailure {
  const s = error.status;
  // A quota is not transient: retrying only repeats the refusal.
  const retryable = (s === 429 && error.code !== 'QUOTA_EXCEEDED') || s === 502 || s === 503 || s === 504;
  return { error, retryable, ambiguous: s === 502 || s === 504 || error.code === 'OUTCOME_UNKNOWN' };
}

export function newIdempotencyKey(): string {
  return `ck-${randomUUID()}`;
}

export function cancelled(signal: AbortSignal | undefined): CellkvError {
  return new CellkvError({ code: 'CANCELLED', status: 0, detail: 'the call was aborted', cause: signal?.reason });
}

/** The wait before retry `n` (0-based): Retry-After when given (capped, a little jitter), else backoff. */
export function delayMs(n: number, retryAfterS: number | null, p: RetryPolicy, random: () => number = Math.random): number {
  if (retryAfterS !== null) {
    const ms = Math.min(retryAfterS * 1000, p.maxRetryAfterMs);
    return ms + ms * 0.1 * random();
  }
  const cap = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** n);
  return cap / 2 + (cap / 2) * random();
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelled(signal));
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(cancelled(signal));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Runs `attempt` under the policy; resolves with its value or rejects with a CellkvError. */
export async function withRetries<T>(call: CallInfo, policy: RetryPolicy, attempt: (n: number) => Promise<AttemptOutcome<T>>): Promise<T> {
  const mayRetry = !call.write || call.idempotencyKey !== null;
  let sawAmbiguous = false;
  for (let n = 0; ; n++) {
    if (call.signal?.aborted) throw cancelled(call.signal);
    const out = await attempt(n);
    if (out.ok) return out.value;
    const f = out.failure;
    if (f.ambiguous) sawAmbiguous = true;
    const attempts = n + 1;
    if (f.error.code === 'CANCELLED') throw f.error.with({ attempts });
    if (!f.retryable || !mayRetry || n >= policy.retries) {
      // No definite answer for a write that may have been applied: say exactly that.
      if (call.write && sawAmbiguous && f.retryable) throw outcomeUnknown(call, f.error, attempts);
      throw f.error.with({ attempts, idempotencyKey: call.idempotencyKey });
    }
    await sleep(delayMs(n, f.error.retryAfter, policy), call.signal);
  }
}

function outcomeUnknown(call: CallInfo, last: CellkvError, attempts: number): CellkvError {
  const next = call.idempotencyKey
    ? `retry with idempotencyKey "${call.idempotencyKey}" to apply it at most once`
    : 'it had no idempotency key, so read the key to find out before retrying';
  return new CellkvError({
    code: 'OUTCOME_UNKNOWN',
    status: 504,
    detail: `${call.what}: the write may or may not have been applied after ${attempts} attempt(s) (last: ${last.code}: ${last.detail}); ${next}`,
    retryAfter: last.retryAfter,
    idempotencyKey: call.idempotencyKey,
    attempts,
    cause: last,
  });
}
