// One generator thread's part of a phase: `concurrency` workers, each running operations
// against one driver, timed with process.hrtime and recorded in HDR histograms (µs).
//
// Closed loop (no rate): a worker sends its next op when the previous one answered, so a slow
// server slows the generator down and latency counts only the time each op was outstanding:
// the numbers are subject to coordinated omission (the stalls hide the waits of the requests
// that were never sent). Open loop (`rate`): op n of this thread is due at t0 + n/rate; a free
// worker takes the next slot, waits for its due time, and its latency is measured from the
// due time when it starts late, so queueing behind a stall is counted (as wrk2 does). With too
// few workers for the rate, ops fall behind and latencies grow: that is the finding, not a bug.

import hdr, { type Histogram } from 'hdr-histogram-js';
import type { KvDriver, ReadResult } from './peers/types.js';
import { errorLabel } from './peers/types.js';
import { OpChooser, ValuePool, WORKLOADS, type ChosenOp, type Distribution, type InsertCounters, type OpKind } from './workloads.js';
import { Rng } from './zipfian.js';

export interface ThreadPhaseSpec {
  readonly workload: string;
  readonly distribution: Distribution;
  readonly warmupSeconds: number;
  readonly seconds: number;
  /** Workers in this thread. */
  readonly concurrency: number;
  /** This thread's share of the open-loop rate (ops/s); null = closed loop. */
  readonly rate: number | null;
  /** Keys that exist when the phase starts. */
  readonly baseKeys: number;
  readonly valueBytes: number;
  readonly seed: number;
  readonly threadIndex: number;
}

/**
 * Counters shared by every generator thread through one SharedArrayBuffer (Int32 cells):
 * [0] stop flag (Ctrl-C: workers end after their current op), [1] next insert id,
 * [2] finished inserts, then per thread: [3+2t] ops done, [4+2t] errors (the progress line
 * reads these without messages).
 */
export const CELL_STOP = 0;
const CELL_INSERT_NEXT = 1;
const CELL_INSERT_DONE = 2;
export const opsCellOf = (thread: number) => 3 + 2 * thread;
export const errorsCellOf = (thread: number) => 4 + 2 * thread;

export function sharedCounters(threads: number): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * (3 + 2 * threads));
}

/**
 * After a failed op a worker pauses this long: a system that is down answers at once
 * (connection refused), and without a pause the workers would spin on errors.
 */
const ERROR_PAUSE_MS = 10;

export interface ThreadResult {
  /** Successful ops in the measured period (each one recorded in `histogram`). */
  readonly ops: number;
  readonly histogramCount: number;
  readonly errors: number;
  readonly errorLabels: Record<string, number>;
  readonly notFound: number;
  readonly conflicts: number;
  readonly scannedKeys: number;
  readonly inserts: number;
  /** Inserts done in warm-up plus measured period (they grow the key space for later phases). */
  readonly insertsTotal: number;
  /** Ops whose due time had passed before a worker could take them (open loop only). */
  readonly late: number;
  readonly elapsedNs: number;
  /** hdr-histogram-js compressed base64 (µs), so threads can hand it to the main thread. */
  readonly histogram: string;
  readonly perOp: Partial<Record<OpKind, { readonly ops: number; readonly histogram: string }>>;
}

export function newHistogram(): Histogram {
  // 1 µs .. 1 hour at 3 significant digits; autoResize covers anything longer.
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: 3 });
}

interface Tally {
  ops: number;
  errors: number;
  notFound: number;
  conflicts: number;
  scannedKeys: number;
  inserts: number;
  late: number;
  readonly errorLabels: Map<string, number>;
  readonly hist: Histogram;
  readonly perOp: Map<OpKind, { ops: number; hist: Histogram }>;
}

function newTally(): Tally {
  return { ops: 0, errors: 0, notFound: 0, conflicts: 0, scannedKeys: 0, inserts: 0, late: 0, errorLabels: new Map(), hist: newHistogram(), perOp: new Map() };
}

/** Runs one operation; resolves with what it found (for the tallies). */
async function execute(d: KvDriver, op: ChosenOp, values: ValuePool): Promise<{ notFound?: boolean; conflict?: boolean; scanned?: number }> {
  switch (op.op) {
    case 'read':
    case 'read-stale': {
      const r = await d.get(op.key, op.op === 'read-stale');
      return { notFound: !r.found };
    }
    case 'update':
    case 'insert':
      await d.put(op.key, values.next());
      return {};
    case 'cas': {
      const r: ReadResult = await d.get(op.key, false);
      return { conflict: (await d.cas(op.key, values.next(), r)) === 'conflict' };
    }
    case 'rmw': {
      // YCSB F: read the record, then write it back (unconditionally), timed as one op.
      await d.get(op.key, false);
      await d.put(op.key, values.next());
      return {};
    }
    case 'scan':
      return { scanned: await d.scan(op.key, op.scanLength ?? 100) };
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs warm-up (not recorded) then the measured period; resolves when every worker is done. */
export async function runThreadPhase(driver: KvDriver, spec: ThreadPhaseSpec, shared: SharedArrayBuffer): Promise<ThreadResult> {
  const w = WORKLOADS[spec.workload];
  if (!w) throw new Error(`unknown workload ${spec.workload}`);
  const cells = new Int32Array(shared);
  const opsCell = opsCellOf(spec.threadIndex);
  const errCell = errorsCellOf(spec.threadIndex);
  const inserts: InsertCounters = {
    next: () => Atomics.add(cells, CELL_INSERT_NEXT, 1),
    done: () => Atomics.load(cells, CELL_INSERT_DONE),
    markDone: () => void Atomics.add(cells, CELL_INSERT_DONE, 1),
  };
  const stopped = () => Atomics.load(cells, CELL_STOP) !== 0;
  const values = new ValuePool(spec.valueBytes, new Rng(spec.seed ^ 0x5bd1e995));
  let insertsTotal = 0;

  const period = async (seconds: number, tally: Tally | null): Promise<number> => {
    const t0 = process.hrtime.bigint();
    const end = t0 + BigInt(Math.round(seconds * 1e9));
    const intervalNs = spec.rate ? 1e9 / spec.rate : 0;
    let slot = 0;
    const worker = async (wi: number): Promise<void> => {
      const rng = new Rng(spec.seed * 7919 + spec.threadIndex * 104729 + wi * 31 + (tally ? 1 : 0));
      const chooser = new OpChooser(w, spec.distribution, spec.baseKeys, inserts, rng);
      while (!stopped()) {
        let due: bigint | null = null;
        if (intervalNs > 0) {
          due = t0 + BigInt(Math.round(slot++ * intervalNs));
          if (due >= end) return;
          const aheadMs = Number(due - process.hrtime.bigint()) / 1e6;
          // setTimeout has ms granularity: sleep the whole ms, start up to 1 ms early.
          if (aheadMs >= 1) await sleep(Math.floor(aheadMs));
          if (stopped()) return;
        } else if (process.hrtime.bigint() >= end) {
          return;
        }
        const op = chooser.next();
        const start = process.hrtime.bigint();
        try {
          const out = await execute(driver, op, values);
          const done = process.hrtime.bigint();
          if (op.op === 'insert') {
            inserts.markDone();
            insertsTotal++;
          }
          Atomics.add(cells, opsCell, 1);
          if (!tally) continue;
          // Open loop: measured from the due time when the op started late.
          const from = due !== null && due < start ? due : start;
          if (due !== null && due < start - 1_000_000n) tally.late++;
          const us = Math.max(1, Math.round(Number(done - from) / 1000));
          tally.hist.recordValue(us);
          let per = tally.perOp.get(op.op);
          if (!per) tally.perOp.set(op.op, (per = { ops: 0, hist: newHistogram() }));
          per.ops++;
          per.hist.recordValue(us);
          tally.ops++;
          if (out.notFound) tally.notFound++;
          if (out.conflict) tally.conflicts++;
          if (out.scanned !== undefined) tally.scannedKeys += out.scanned;
          if (op.op === 'insert') tally.inserts++;
        } catch (e) {
          Atomics.add(cells, errCell, 1);
          if (tally) {
            tally.errors++;
            const label = errorLabel(e);
            tally.errorLabels.set(label, (tally.errorLabels.get(label) ?? 0) + 1);
          }
          await sleep(ERROR_PAUSE_MS);
        }
      }
    };
    await Promise.all(Array.from({ length: spec.concurrency }, (_, i) => worker(i)));
    return Number(process.hrtime.bigint() - t0);
  };

  if (spec.warmupSeconds > 0) await period(spec.warmupSeconds, null);
  if (stopped()) throw new Error('stopped');
  const tally = newTally();
  const elapsedNs = await period(spec.seconds, tally);
  const perOp: ThreadResult['perOp'] = {};
  for (const [op, p] of tally.perOp) {
    perOp[op] = { ops: p.ops, histogram: hdr.encodeIntoCompressedBase64(p.hist) };
    p.hist.destroy();
  }
  const result: ThreadResult = {
    ops: tally.ops,
    histogramCount: tally.hist.totalCount,
    errors: tally.errors,
    errorLabels: Object.fromEntries(tally.errorLabels),
    notFound: tally.notFound,
    conflicts: tally.conflicts,
    scannedKeys: tally.scannedKeys,
    inserts: tally.inserts,
    insertsTotal,
    late: tally.late,
    elapsedNs,
    histogram: hdr.encodeIntoCompressedBase64(tally.hist),
    perOp,
  };
  tally.hist.destroy();
  return result;
}
