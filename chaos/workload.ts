// Concurrent chaos clients: each runs get / put / delete / cas on a small shared key set (so
// operations contend) through its driver, closed loop, and records every operation in the
// history with invoke and complete times. Every write carries a value never used before.
// A client whose operation ended `unknown` continues under a new client id: the checker
// needs each client's operations to be sequential, and the unknown one may still apply later.

import type { HistoryRecord } from '../shared/lincheck/index.js';
import type { KvDriver, OpOutcome } from './drivers.js';
import type { Rng } from './rng.js';

/** The history of a run; times are microseconds since the run's clock zero. */
export class History {
  readonly records: HistoryRecord[] = [];
  private nextClient = 1;
  private readonly inflight = new Map<number, Omit<HistoryRecord, 'complete' | 'outcome' | 'output'>>();
  private nextOp = 0;

  constructor(private readonly t0: bigint) {}

  /** Microseconds since zero, with sub-microsecond digits so distinct events rarely tie. */
  nowUs(): number {
    return Number(process.hrtime.bigint() - this.t0) / 1000;
  }

  nowMs(): number {
    return this.nowUs() / 1000;
  }

  newClient(): number {
    return this.nextClient++;
  }

  begin(r: Omit<HistoryRecord, 'complete' | 'outcome' | 'output' | 'invoke'>): number {
    const id = this.nextOp++;
    this.inflight.set(id, { ...r, invoke: this.nowUs() });
    return id;
  }

  end(id: number, o: OpOutcome): HistoryRecord {
    const r = this.inflight.get(id)!;
    this.inflight.delete(id);
    const rec: HistoryRecord = o.outcome === 'ok' ? { ...r, complete: this.nowUs(), outcome: 'ok', output: o.output } : { ...r, complete: this.nowUs(), outcome: o.outcome };
    this.records.push(rec);
    return rec;
  }

  /** Operations that never returned (run cut short): unknown, no completion. */
  abandonInflight(): number {
    const n = this.inflight.size;
    for (const r of this.inflight.values()) this.records.push({ ...r, complete: null, outcome: 'unknown' });
    this.inflight.clear();
    return n;
  }
}

export interface WorkloadOptions {
  readonly keys: readonly string[];
  readonly drivers: readonly KvDriver[];
  readonly history: History;
  readonly rng: Rng;
  /** Think time between a client's operations, uniform in [lo, hi] ms. */
  readonly thinkMs: readonly [number, number];
}

export interface WorkloadStats {
  ok: number;
  fail: number;
  unknown: number;
}

export class Workload {
  readonly stats: WorkloadStats = { ok: 0, fail: 0, unknown: 0 };
  private stopped = false;
  private loops: Promise<void>[] = [];
  private valueSeq = 0;
  /** Failure and unknown reasons seen, with counts (for the report). */
  readonly reasons = new Map<string, number>();

  constructor(private readonly o: WorkloadOptions) {}

  start(): void {
    this.loops = this.o.drivers.map((d, i) => this.loop(d, this.o.rng.fork(`client-${i}`)));
  }

  /** Stops issuing; resolves when every client's current operation returned (or the bound passed). */
  async stop(boundMs: number): Promise<boolean> {
    this.stopped = true;
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<false>((r) => (timer = setTimeout(() => r(false), boundMs)));
    const done = Promise.all(this.loops).then(() => true as const);
    const finished = await Promise.race([done, bound]);
    clearTimeout(timer);
    return finished;
  }

  private note(o: OpOutcome): void {
    if (o.outcome === 'ok') {
      this.stats.ok++;
      return;
    }
    this.stats[o.outcome]++;
    // Group reasons coarsely: the first words of the message.
    const reason = `${o.outcome}: ${o.error.replace(/[0-9a-f-]{16,}/g, '…').slice(0, 80)}`;
    this.reasons.set(reason, (this.reasons.get(reason) ?? 0) + 1);
  }

  private async loop(d: KvDriver, rng: Rng): Promise<void> {
    const h = this.o.history;
    let client = h.newClient();
    // The last version this client saw per key: its cas operations use it (often stale on
    // purpose, so refused cas happen too).
    const seen = new Map<string, bigint>();
    while (!this.stopped) {
      const key = rng.pick(this.o.keys);
      const roll = rng.next();
      const known = seen.get(key);
      let outcome: OpOutcome;
      if (roll < 0.4 || (roll >= 0.65 && roll < 0.9 && known === undefined)) {
        const id = h.begin({ client, key, op: 'get' });
        outcome = await d.get(key);
        h.end(id, outcome);
        if (outcome.outcome === 'ok' && 'found' in outcome.output && outcome.output.found) seen.set(key, BigInt(outcome.output.version));
      } else if (roll < 0.65) {
        const value = `${d.label}:${++this.valueSeq}`;
        const id = h.begin({ client, key, op: 'put', value });
        outcome = await d.put(key, value);
        h.end(id, outcome);
        if (outcome.outcome === 'ok' && 'version' in outcome.output) seen.set(key, BigInt(outcome.output.version));
      } else if (roll < 0.9) {
        const value = `${d.label}:${++this.valueSeq}`;
        const ifVersion = known!;
        const id = h.begin({ client, key, op: 'cas', value, ifVersion: ifVersion.toString() });
        outcome = await d.cas(key, ifVersion, value);
        h.end(id, outcome);
        if (outcome.outcome === 'ok' && 'swapped' in outcome.output) {
          const out = outcome.output;
          if (out.swapped) seen.set(key, BigInt(out.version));
          else if (out.currentVersion !== null) seen.set(key, BigInt(out.currentVersion));
          else seen.delete(key);
        }
      } else {
        const id = h.begin({ client, key, op: 'delete' });
        outcome = await d.del(key);
        h.end(id, outcome);
        if (outcome.outcome === 'ok') seen.delete(key);
      }
      this.note(outcome);
      if (outcome.outcome === 'unknown') client = h.newClient();
      const [lo, hi] = this.o.thinkMs;
      if (hi > 0) await new Promise((r) => setTimeout(r, rng.range(lo, hi)));
    }
  }
}
