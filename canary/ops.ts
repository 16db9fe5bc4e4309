// One canary operation through the typed client, recorded for the checker: invoke and
// complete times from a strictly increasing monotonic clock, and an outcome.
//
// Outcome rules (DESIGN.md's error contract, as in the chaos drivers): OUTCOME_UNKNOWN (504),
// timeouts, cut connections and anything unexpected leave a write `unknown`; UNAVAILABLE (503)
// and other definite refusals (4xx) are `fail` (nothing applied). A refused cas (412) is an
// `ok` outcome with the current version. A read that fails is dropped by the checker either
// way; it is labelled `unknown` when no answer came (timeout), else `fail`.

import { CellkvError, type CellkvClient } from '../shared/client/index.js';
import type { HistoryOpName, HistoryOutput, HistoryRecord } from '../shared/lincheck/index.js';

/** Microseconds since the clock's start, strictly increasing across calls (ties are concurrency). */
export class MonotonicClock {
  private readonly t0 = process.hrtime.bigint();
  private last = -1;

  nowUs(): number {
    const t = Number(process.hrtime.bigint() - this.t0) / 1000;
    this.last = t > this.last ? t : this.last + 0.001;
    return this.last;
  }
}

export type OpResultLabel = 'ok' | 'fail' | 'unknown';

export interface OpRequest {
  readonly client: number;
  readonly key: string;
  readonly op: HistoryOpName;
  /** put and cas: a value never written before. */
  readonly value?: string;
  /** cas: the version the write expects. */
  readonly ifVersion?: bigint;
}

const dec = new TextDecoder();

type Answer = { readonly outcome: 'ok'; readonly output: HistoryOutput } | { readonly outcome: 'fail' | 'unknown'; readonly error: string };

function writeFailure(e: unknown): Answer {
  if (!(e instanceof CellkvError)) return { outcome: 'unknown', error: String(e) };
  const error = `${e.code}: ${e.detail}`;
  if (e.code === 'OUTCOME_UNKNOWN' || e.code === 'CANCELLED' || e.status === 504 || e.status === 502) return { outcome: 'unknown', error };
  // Retryable refusals (503, 429 RATE_LIMITED, "not sent") after an ambiguous attempt already
  // arrive as OUTCOME_UNKNOWN from the client; a final non-retryable refusal (401 after a token
  // expired, 429 QUOTA_EXCEEDED) does not, so after several attempts it proves nothing.
  if (e.code === 'UNAVAILABLE' || e.code === 'RATE_LIMITED') return { outcome: 'fail', error };
  if (e.status >= 400 && e.status < 500) return { outcome: e.attempts > 1 ? 'unknown' : 'fail', error };
  return { outcome: 'unknown', error };
}

function readFailure(e: unknown): Answer {
  const timedOut = e instanceof CellkvError && (e.status === 0 || e.status === 504) && e.code !== 'INVALID_ARGUMENT';
  return { outcome: timedOut ? 'unknown' : 'fail', error: e instanceof CellkvError ? `${e.code}: ${e.detail}` : String(e) };
}

async function answer(kv: CellkvClient, req: OpRequest): Promise<Answer> {
  switch (req.op) {
    case 'get':
      try {
        const r = await kv.get(req.key);
        return { outcome: 'ok', output: r === null ? { found: false } : { found: true, value: dec.decode(r.value), version: r.version.toString() } };
      } catch (e) {
        return readFailure(e);
      }
    case 'put':
      try {
        const r = await kv.put(req.key, req.value!);
        return { outcome: 'ok', output: { version: r.version.toString() } };
      } catch (e) {
        return writeFailure(e);
      }
    case 'delete':
      try {
        const r = await kv.delete(req.key);
        return { outcome: 'ok', output: { existed: r.deleted } };
      } catch (e) {
        return writeFailure(e);
      }
    case 'cas':
      try {
        const r = await kv.put(req.key, req.value!, { ifMatch: req.ifVersion! });
        return { outcome: 'ok', output: { swapped: true, version: r.version.toString() } };
      } catch (e) {
        if (e instanceof CellkvError && e.code === 'VERSION_MISMATCH' && e.status === 412) {
          return { outcome: 'ok', output: { swapped: false, currentVersion: e.currentVersion === null ? null : e.currentVersion.toString() } };
        }
        return writeFailure(e);
      }
  }
}

export interface RecordedOp {
  readonly record: HistoryRecord;
  /** Why it failed or is unknown; null when ok. */
  readonly error: string | null;
  readonly seconds: number;
}

/** Runs one op and returns its history record. Never throws for a server or network error. */
export async function runOp(kv: CellkvClient, clock: MonotonicClock, req: OpRequest): Promise<RecordedOp> {
  if ((req.op === 'put' || req.op === 'cas') && req.value === undefined) throw new RangeError(`${req.op} needs a value`);
  if (req.op === 'cas' && req.ifVersion === undefined) throw new RangeError('cas needs ifVersion');
  const invoke = clock.nowUs();
  const a = await answer(kv, req);
  const complete = clock.nowUs();
  const base = {
    client: req.client,
    key: req.key,
    op: req.op,
    ...(req.value !== undefined ? { value: req.value } : {}),
    ...(req.ifVersion !== undefined ? { ifVersion: req.ifVersion.toString() } : {}),
    invoke,
    complete,
  };
  const record: HistoryRecord = a.outcome === 'ok' ? { ...base, outcome: 'ok', output: a.output } : { ...base, outcome: a.outcome };
  return { record, error: a.outcome === 'ok' ? null : a.error, seconds: (complete - invoke) / 1e6 };
}
