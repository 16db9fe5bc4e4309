// The history of one canary key, cut into windows that are checked one at a time.
//
// Why a window can be checked alone (docs/decisions/0010-linearizability-canary.md):
//   - A window ends with a *barrier*: a linearizable read issued while no other operation on
//     the key is running. Everything earlier in the window completed before it, so in every
//     linearization the barrier comes last and sees the state the window leaves behind.
//   - The next window starts from that state: synthetic "seed" records (a put of the value
//     and version the barrier read, or a put + delete for an absent key, which keeps the
//     largest version seen as the bound new versions must exceed) that complete before any
//     of the next window's own operations start.
//   - A write whose outcome is unknown may still take effect after the barrier. Unless the
//     window proves it cannot (a read returned its unique value, or, for a cas, the barrier
//     shows a version past the one it expects), it is *carried* into the next window as an
//     optional op, where it may be linearized anywhere after its invoke, or never.
//   - A carried write is carried for at most `taintUs` after its invoke. If still unresolved
//     then, the key is *retired*: the canary moves to a fresh key name (nothing late can land
//     there) and counts the lost continuity as a skipped check.

import type { HistoryRecord } from '../shared/lincheck/index.js';

/** The client id of synthetic seed records; workers use ids from 1 up. */
export const SEED_CLIENT = 0;

export interface KeyWindowLimits {
  /** Most records one window may hold (its own ops and the closing barrier). */
  readonly maxRecords: number;
  /** Most unknown writes carried into a window; more retire the key. */
  readonly maxCarried: number;
  /** How long (µs, the records' clock) an unknown write is assumed able to take effect. */
  readonly taintUs: number;
}

/** One window's history, ready for the checker (and for a file `npm run lincheck` reads). */
export interface WindowHistory {
  readonly key: string;
  /** 0-based index of the window on this key name. */
  readonly index: number;
  /** Seed records, carried unknown writes, then the window's own ops, by invoke time. */
  readonly records: readonly HistoryRecord[];
}

export type CloseOutcome =
  | { readonly next: 'continue'; readonly window: WindowHistory; readonly carried: number }
  /** The key cannot continue soundly: `reason` says why; the caller starts a fresh key name. */
  | { readonly next: 'retire'; readonly window: WindowHistory; readonly reason: string };

export class WindowError extends Error {
  constructor(
    readonly code: 'NOT_SEEDED' | 'WRONG_KEY' | 'WINDOW_FULL' | 'BAD_BARRIER' | 'RETIRED',
    message: string,
  ) {
    super(message);
    this.name = 'WindowError';
  }
}

function isWrite(r: HistoryRecord): boolean {
  return r.op !== 'get';
}

/** Versions an ok record reports (all were installed by some write). */
function versionsOf(r: HistoryRecord): bigint[] {
  const out = r.output;
  if (r.outcome !== 'ok' || out === undefined) return [];
  if ('found' in out) return out.found ? [BigInt(out.version)] : [];
  if ('swapped' in out) return out.swapped ? [BigInt(out.version)] : out.currentVersion === null ? [] : [BigInt(out.currentVersion)];
  if ('version' in out) return [BigInt(out.version)];
  return [];
}

function readValue(r: HistoryRecord): string | null {
  const out = r.output;
  return r.op === 'get' && r.outcome === 'ok' && out !== undefined && 'found' in out && out.found ? out.value : null;
}

export class KeyWindow {
  private seed: HistoryRecord[] = [];
  private carried: HistoryRecord[] = [];
  private own: HistoryRecord[] = [];
  private maxKnown: bigint | null = null;
  private seeded = false;
  private retired = false;
  private index = 0;
  /** Records' clock time the current window opened (set by begin / close). */
  openedAt = 0;

  constructor(
    readonly key: string,
    private readonly limits: KeyWindowLimits,
  ) {
    if (!(limits.maxRecords >= 2 && limits.maxCarried >= 0 && limits.taintUs > 0)) throw new RangeError('KeyWindow limits: maxRecords >= 2, maxCarried >= 0, taintUs > 0');
  }

  get isSeeded(): boolean {
    return this.seeded;
  }

  /** Operations recorded in the current window (without seed and carried records). */
  get size(): number {
    return this.own.length;
  }

  get carriedCount(): number {
    return this.carried.length;
  }

  /** Room for more ops, keeping one place for the closing barrier. */
  get full(): boolean {
    return this.own.length >= this.limits.maxRecords - 1;
  }

  /** Starts the first window of this key name from a barrier read (nothing else running). */
  begin(barrier: HistoryRecord): void {
    if (this.retired) throw new WindowError('RETIRED', `key ${this.key} was retired`);
    if (this.seeded) throw new WindowError('BAD_BARRIER', `key ${this.key} already has a window`);
    this.checkBarrier(barrier);
    this.noteVersions(barrier);
    this.seed = this.seedFrom(barrier);
    this.seeded = true;
    this.openedAt = barrier.complete!;
  }

  /** Adds a completed op (ok, fail or unknown) of this key to the current window. */
  add(r: HistoryRecord): void {
    if (this.retired) throw new WindowError('RETIRED', `key ${this.key} was retired`);
    if (!this.seeded) throw new WindowError('NOT_SEEDED', `key ${this.key}: an op was recorded before the first barrier`);
    if (r.key !== this.key) throw new WindowError('WRONG_KEY', `record of key ${r.key} added to the window of ${this.key}`);
    if (this.full) throw new WindowError('WINDOW_FULL', `key ${this.key}: window holds ${this.own.length} ops (limit ${this.limits.maxRecords}); cut it first`);
    this.own.push(r);
    this.noteVersions(r);
  }

  /**
   * Ends the current window with `barrier` (an ok linearizable get invoked after every op of
   * the window completed) and opens the next one, seeded from it. `now` is the records' clock.
   */
  close(barrier: HistoryRecord, now: number): CloseOutcome {
    if (this.retired) throw new WindowError('RETIRED', `key ${this.key} was retired`);
    if (!this.seeded) throw new WindowError('NOT_SEEDED', `key ${this.key}: close before begin`);
    this.checkBarrier(barrier);
    for (const r of this.own) {
      if (r.complete === null || r.complete >= barrier.invoke) {
        throw new WindowError('BAD_BARRIER', `key ${this.key}: the barrier started at ${barrier.invoke} while an op (invoked ${r.invoke}) was still running`);
      }
    }
    this.noteVersions(barrier);
    const window = this.snapshot([barrier]);
    const pending = this.stillPending(barrier);
    const expired = pending.filter((r) => now - r.invoke > this.limits.taintUs);
    this.index++;
    this.own = [];
    this.openedAt = barrier.complete!;
    if (expired.length > 0 || pending.length > this.limits.maxCarried) {
      this.retired = true;
      const reason =
        expired.length > 0
          ? `${expired.length} write(s) of unknown outcome still unresolved after ${Math.round(this.limits.taintUs / 1e6)} s (first: ${expired[0]!.op} invoked at ${expired[0]!.invoke})`
          : `${pending.length} writes of unknown outcome pending (limit ${this.limits.maxCarried})`;
      return { next: 'retire', window, reason };
    }
    this.carried = pending;
    this.seed = this.seedFrom(barrier);
    return { next: 'continue', window, carried: pending.length };
  }

  /** The current window as it stands, without a barrier (when the canary stops). */
  drain(): WindowHistory {
    return this.snapshot([]);
  }

  private snapshot(extra: readonly HistoryRecord[]): WindowHistory {
    const records = [...this.seed, ...this.carried, ...this.own, ...extra];
    records.sort((a, b) => a.invoke - b.invoke);
    return { key: this.key, index: this.index, records };
  }

  private checkBarrier(b: HistoryRecord): void {
    const out = b.output;
    if (b.key !== this.key || b.op !== 'get' || b.outcome !== 'ok' || b.complete === null || out === undefined || !('found' in out)) {
      throw new WindowError('BAD_BARRIER', `key ${this.key}: a barrier must be an ok get of this key`);
    }
  }

  private noteVersions(r: HistoryRecord): void {
    for (const v of versionsOf(r)) if (this.maxKnown === null || v > this.maxKnown) this.maxKnown = v;
  }

  /**
   * Unknown writes of the closing window (carried or its own) that could still take effect
   * after the barrier. A put or cas whose unique value some read returned has taken effect
   * (and applies at most once). A cas expecting version v can no longer apply once the key is
   * at a version above v, or absent after having had v (a recreated key gets a version above
   * every earlier one). An unconditional delete leaves no trace a read could tell apart.
   */
  private stillPending(barrier: HistoryRecord): HistoryRecord[] {
    const read = new Set<string>();
    for (const r of [...this.carried, ...this.own, barrier]) {
      const v = readValue(r);
      if (v !== null) read.add(v);
    }
    const out = barrier.output as { found: false } | { found: true; value: string; version: string };
    const pending: HistoryRecord[] = [];
    for (const r of [...this.carried, ...this.own]) {
      if (r.outcome !== 'unknown' || !isWrite(r)) continue;
      if (r.value !== undefined && read.has(r.value)) continue;
      if (r.op === 'cas') {
        const expects = BigInt(r.ifVersion!);
        if (out.found ? BigInt(out.version) > expects : this.maxKnown !== null && expects <= this.maxKnown) continue;
      }
      pending.push(r);
    }
    return pending;
  }

  /**
   * Records that establish, at the barrier, the state the barrier read. They span the
   * barrier's own interval, so they end before any later op of the key starts.
   */
  private seedFrom(barrier: HistoryRecord): HistoryRecord[] {
    const out = barrier.output as { found: false } | { found: true; value: string; version: string };
    const t0 = barrier.invoke;
    const t1 = barrier.complete!;
    if (out.found) {
      return [{ client: SEED_CLIENT, key: this.key, op: 'put', value: out.value, invoke: t0, complete: t1, outcome: 'ok', output: { version: out.version } }];
    }
    if (this.maxKnown === null) return []; // never written: the model's initial state
    // Absent, with every new version above the largest one seen (a lower bound of the truth).
    const third = (t1 - t0) / 3;
    const marker = `canary-seed:${this.key}:${this.index}`;
    return [
      { client: SEED_CLIENT, key: this.key, op: 'put', value: marker, invoke: t0, complete: t0 + third, outcome: 'ok', output: { version: this.maxKnown.toString() } },
      { client: SEED_CLIENT, key: this.key, op: 'delete', invoke: t0 + 2 * third, complete: t1, outcome: 'ok', output: { existed: true } },
    ];
  }
}
