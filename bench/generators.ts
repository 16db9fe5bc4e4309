// The load generator threads for one target: `--generator-threads 1` runs in this process;
// more run in worker_threads (one driver each, the concurrency and rate split between them)
// and their histograms are merged here. Drivers stay open across the phases of one target, so
// connections are warm after the first phase, the same way for every system.

import { Worker } from 'node:worker_threads';
import hdr, { type Histogram } from 'hdr-histogram-js';
import { createDriver } from './peers/drivers.js';
import type { KvDriver, TargetSpec } from './peers/types.js';
import { CELL_STOP, errorsCellOf, newHistogram, opsCellOf, runThreadPhase, sharedCounters, type ThreadPhaseSpec, type ThreadResult } from './loadgen.js';
import type { Distribution, OpKind } from './workloads.js';

/** A whole phase: the same fields as one thread's share, with `concurrency` and `rate` in total. */
export type PhaseSpec = Omit<ThreadPhaseSpec, 'threadIndex'>;

export interface PhaseResult {
  readonly ops: number;
  readonly histogramCount: number;
  readonly errors: number;
  readonly errorLabels: Record<string, number>;
  readonly notFound: number;
  readonly conflicts: number;
  readonly scannedKeys: number;
  readonly inserts: number;
  readonly insertsTotal: number;
  /** Insert ids handed out (warm-up included, failed inserts too): the next phase's keys start after them. */
  readonly insertIdsAllocated: number;
  readonly late: number;
  /** Measured seconds (the slowest thread's). */
  readonly elapsedSeconds: number;
  /** Merged (µs); the caller destroys them. */
  readonly histogram: Histogram;
  readonly perOp: ReadonlyMap<OpKind, { readonly ops: number; readonly histogram: Histogram }>;
}

/** Progress of a running phase: ops and errors so far (all threads, warm-up included). */
export type ProgressProbe = () => { ops: number; errors: number };

type FromWorker = { type: 'opened' } | { type: 'result'; result: ThreadResult } | { type: 'closed' } | { type: 'error'; message: string };

/** The worker entry is TypeScript: register tsx's loader inside the thread, then load it. */
function workerSource(): string {
  const url = new URL('./loadgen-worker.ts', import.meta.url).href;
  return `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url)}); }).catch((e) => { console.error(e); process.exit(1); });`;
}

class ThreadHandle {
  private pending: { resolve: (m: FromWorker) => void; reject: (e: Error) => void } | null = null;

  constructor(readonly worker: Worker) {
    worker.on('message', (m: FromWorker) => this.settle((p) => p.resolve(m)));
    worker.on('error', (e) => this.settle((p) => p.reject(e)));
    worker.on('exit', (code) => this.settle((p) => p.reject(new Error(`generator thread exited (code ${code})`))));
  }

  private settle(f: (p: { resolve: (m: FromWorker) => void; reject: (e: Error) => void }) => void): void {
    const p = this.pending;
    this.pending = null;
    if (p) f(p);
  }

  ask(msg: unknown): Promise<FromWorker> {
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.worker.postMessage(msg);
    });
  }
}

/** Splits n into `parts` near-equal whole shares. */
export function split(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

export class Generators {
  /** The running phase's shared counters (its stop flag), null between phases. */
  private running: Int32Array | null = null;

  private constructor(
    private readonly local: KvDriver | null,
    private readonly threads: ThreadHandle[],
    private readonly shares: number[],
  ) {}

  /** Opens one driver per thread; `concurrency` is split between the threads. */
  static async open(target: TargetSpec, threads: number, concurrency: number, opTimeoutMs: number): Promise<Generators> {
    const n = Math.max(1, Math.min(threads, concurrency));
    const shares = split(concurrency, n);
    if (n === 1) return new Generators(await createDriver(target, { connections: concurrency, opTimeoutMs }), [], shares);
    const handles: ThreadHandle[] = [];
    try {
      for (let i = 0; i < n; i++) {
        const h = new ThreadHandle(new Worker(workerSource(), { eval: true }));
        handles.push(h);
        const m = await h.ask({ type: 'open', target, options: { connections: shares[i]!, opTimeoutMs } });
        if (m.type === 'error') throw new Error(`generator thread ${i}: ${m.message}`);
      }
    } catch (e) {
      await Promise.all(handles.map((h) => h.worker.terminate()));
      throw e;
    }
    return new Generators(null, handles, shares);
  }

  /** Runs one phase on every thread; `probe` is valid until the promise settles. */
  run(spec: PhaseSpec): { probe: ProgressProbe; result: Promise<PhaseResult> } {
    const n = this.shares.length;
    const shared = sharedCounters(n);
    const cells = new Int32Array(shared);
    this.running = cells;
    const probe: ProgressProbe = () => {
      let ops = 0;
      let errors = 0;
      for (let t = 0; t < n; t++) {
        ops += Atomics.load(cells, opsCellOf(t));
        errors += Atomics.load(cells, errorsCellOf(t));
      }
      return { ops, errors };
    };
    const threadSpec = (t: number): ThreadPhaseSpec => ({
      workload: spec.workload,
      distribution: spec.distribution,
      warmupSeconds: spec.warmupSeconds,
      seconds: spec.seconds,
      concurrency: this.shares[t]!,
      rate: spec.rate === null ? null : (spec.rate * this.shares[t]!) / spec.concurrency,
      baseKeys: spec.baseKeys,
      valueBytes: spec.valueBytes,
      seed: spec.seed + t,
      threadIndex: t,
    });
    const result = (async () => {
      let parts: ThreadResult[];
      if (this.local) {
        parts = [await runThreadPhase(this.local, threadSpec(0), shared)];
      } else {
        parts = await Promise.all(
          this.threads.map(async (h, t) => {
            const m = await h.ask({ type: 'run', spec: threadSpec(t), shared });
            if (m.type === 'error') throw new Error(`generator thread ${t}: ${m.message}`);
            if (m.type !== 'result') throw new Error(`generator thread ${t}: unexpected ${m.type}`);
            return m.result;
          }),
        );
      }
      return { ...merge(parts), insertIdsAllocated: Atomics.load(cells, 1) };
    })().finally(() => {
      if (this.running === cells) this.running = null;
    });
    return { probe, result };
  }

  async close(): Promise<void> {
    if (this.local) await this.local.close();
    await Promise.all(
      this.threads.map(async (h) => {
        // A thread stuck in a hung driver is terminated rather than waited for.
        const closed = h.ask({ type: 'close' }).catch(() => undefined);
        await Promise.race([closed, new Promise((r) => setTimeout(r, 5000))]);
        await h.worker.terminate();
      }),
    );
  }

  /** Ctrl-C: every worker ends after its current op (in this process and in threads). */
  stop(): void {
    if (this.running) Atomics.store(this.running, CELL_STOP, 1);
  }

  /** Hard stop (a stuck phase): stops the workers and kills the threads without waiting for drivers. */
  async terminate(): Promise<void> {
    this.stop();
    await Promise.all(this.threads.map((h) => h.worker.terminate()));
  }
}

function decode(b64: string): Histogram {
  return hdr.decodeFromCompressedBase64(b64);
}

function addCounts(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = (out[k] ?? 0) + v;
  return out;
}

export function merge(parts: readonly ThreadResult[]): Omit<PhaseResult, 'insertIdsAllocated'> {
  const histogram = newHistogram();
  const perOp = new Map<OpKind, { ops: number; histogram: Histogram }>();
  let errorLabels: Record<string, number> = {};
  const sum = (f: (r: ThreadResult) => number) => parts.reduce((s, r) => s + f(r), 0);
  for (const r of parts) {
    const h = decode(r.histogram);
    histogram.add(h);
    h.destroy();
    for (const [op, p] of Object.entries(r.perOp) as [OpKind, { ops: number; histogram: string }][]) {
      let m = perOp.get(op);
      if (!m) perOp.set(op, (m = { ops: 0, histogram: newHistogram() }));
      m.ops += p.ops;
      const ph = decode(p.histogram);
      m.histogram.add(ph);
      ph.destroy();
    }
    errorLabels = addCounts(errorLabels, r.errorLabels);
  }
  return {
    ops: sum((r) => r.ops),
    histogramCount: sum((r) => r.histogramCount),
    errors: sum((r) => r.errors),
    errorLabels,
    notFound: sum((r) => r.notFound),
    conflicts: sum((r) => r.conflicts),
    scannedKeys: sum((r) => r.scannedKeys),
    inserts: sum((r) => r.inserts),
    insertsTotal: sum((r) => r.insertsTotal),
    late: sum((r) => r.late),
    elapsedSeconds: Math.max(...parts.map((r) => r.elapsedNs)) / 1e9,
    histogram,
    perOp,
  };
}
