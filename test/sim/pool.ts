// Runs many seeds on worker threads (node:test runs test files one at a time on a 2-core
// machine, so the simulation brings its own parallelism). Each worker runs one seed at a time.

import { Worker } from 'node:worker_threads';
import { assert } from '../../shared/assert.js';
import type { HistoryRecord } from '../../shared/lincheck/index.js';
import type { RunOptions, RunResult, RunStats } from './run.js';

export type PoolRunOptions = Omit<RunOptions, 'traceSink'>;

export interface SeedJob {
  readonly seed: number;
  readonly options: PoolRunOptions;
}

export interface SeedSummary {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure?: RunResult['failure'];
  readonly stats: RunStats;
  readonly faults: readonly string[];
  readonly nodes: number;
  readonly fingerprint: string;
  readonly outcome: string;
  readonly ms: number;
  /** Only for failures (to write the history file). */
  readonly history?: HistoryRecord[];
}

export function summarize(r: RunResult, ms: number): SeedSummary {
  const base = {
    seed: r.seed,
    ok: r.ok,
    stats: r.stats,
    faults: r.config.faults,
    nodes: r.config.nodes,
    fingerprint: r.fingerprint,
    outcome: r.outcome,
    ms,
  };
  return r.ok ? base : { ...base, failure: r.failure, history: r.history };
}

/** The worker entry is TypeScript: register tsx's loader inside the thread, then load it. */
function workerSource(): string {
  const url = new URL('./worker.ts', import.meta.url).href;
  return (
    `import('tsx/esm/api').then((api) => { api.register(); return import(${JSON.stringify(url)}); })` +
    `.catch((e) => { console.error(e); process.exit(1); });`
  );
}

interface Slot {
  readonly worker: Worker;
  busy: { resolve: (s: SeedSummary) => void; reject: (e: Error) => void } | null;
}

export class SeedPool {
  private readonly slots: Slot[] = [];
  private readonly queue: { job: SeedJob; resolve: (s: SeedSummary) => void; reject: (e: Error) => void }[] = [];

  constructor(workers: number) {
    assert(workers >= 1 && workers <= 64, `bad worker count ${workers}`);
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(workerSource(), { eval: true });
      const slot: Slot = { worker, busy: null };
      worker.on('message', (s: SeedSummary) => {
        const b = slot.busy;
        slot.busy = null;
        b?.resolve(s);
        this.pump();
      });
      worker.on('error', (e) => {
        const b = slot.busy;
        slot.busy = null;
        b?.reject(e);
      });
      this.slots.push(slot);
    }
  }

  run(job: SeedJob): Promise<SeedSummary> {
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (const slot of this.slots) {
      if (slot.busy !== null) continue;
      const next = this.queue.shift();
      if (next === undefined) return;
      slot.busy = { resolve: next.resolve, reject: next.reject };
      slot.worker.postMessage(next.job);
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/**
 * Runs the seeds in order of submission (results arrive as they finish). `stop` ends the run
 * early (e.g. a mutation test that found its failure); queued seeds are then skipped.
 */
export async function runSeeds(
  seeds: readonly number[],
  options: PoolRunOptions,
  workers: number,
  onResult: (s: SeedSummary) => void,
  stop: () => boolean = () => false,
): Promise<void> {
  const pool = new SeedPool(workers);
  try {
    let next = 0;
    const lane = async (): Promise<void> => {
      while (next < seeds.length && !stop()) {
        const seed = seeds[next++]!;
        onResult(await pool.run({ seed, options }));
      }
    };
    await Promise.all(Array.from({ length: workers }, lane));
  } finally {
    await pool.close();
  }
}
