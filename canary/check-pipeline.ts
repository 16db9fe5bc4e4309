// Checks closed windows one at a time with the project's checker, within a time budget per
// window, from a bounded queue (a full queue makes the key that closed a window wait: the
// canary slows down rather than drop history). Verdicts become metrics; a violation, or a
// window the budget could not decide, is logged and written to a file for `npm run lincheck`.

import type { Logger } from 'pino';
import { checkCellkvHistory, formatDetails, type CheckResult } from '../shared/lincheck/index.js';
import type { CanaryMetrics, CheckVerdict } from './metrics.js';
import type { WindowFiles } from './window-files.js';
import type { WindowHistory } from './window.js';

export interface CheckPipelineOptions {
  readonly metrics: CanaryMetrics;
  readonly files: WindowFiles;
  readonly logger: Logger;
  readonly runId: string;
  /** Checker budget per window (its `unknown` verdict when exceeded). */
  readonly timeoutMs: number;
  /** Optional budget in search steps per window (deterministic; tests). */
  readonly maxSteps?: number;
  /** Closed windows waiting at most. */
  readonly maxQueued: number;
  /** Called after each decided window (tests, --max-windows). */
  readonly onChecked?: (verdict: CheckVerdict, w: WindowHistory) => void;
}

export interface CheckTally {
  linearizable: number;
  violation: number;
  unknown: number;
  skipped: number;
}

export class CheckPipeline {
  readonly tally: CheckTally = { linearizable: 0, violation: 0, unknown: 0, skipped: 0 };
  /** Paths of window files written, newest last (bounded like the directory). */
  readonly filesWritten: string[] = [];
  private readonly queue: WindowHistory[] = [];
  private readonly spaceWaiters: (() => void)[] = [];
  private readonly idleWaiters: (() => void)[] = [];
  private running = false;

  constructor(private readonly o: CheckPipelineOptions) {
    if (!Number.isInteger(o.maxQueued) || o.maxQueued < 1) throw new RangeError('maxQueued must be a whole number >= 1');
    if (!(o.timeoutMs > 0)) throw new RangeError('timeoutMs must be > 0');
  }

  get queued(): number {
    return this.queue.length;
  }

  /** Queues a window; waits while the queue is full. */
  async submit(w: WindowHistory): Promise<void> {
    while (this.queue.length >= this.o.maxQueued) await new Promise<void>((r) => this.spaceWaiters.push(r));
    this.queue.push(w);
    this.o.metrics.queuedWindows.set(this.queue.length);
    if (!this.running) void this.drainQueue();
  }

  /** A key restarted without a sound cut: counted, never checked. */
  skipped(key: string, reason: string): void {
    this.tally.skipped++;
    this.o.metrics.checks.inc({ verdict: 'skipped' });
    this.o.logger.warn({ key, reason }, 'canary key restarted under a fresh name; its continuity is not checked');
  }

  /** Resolves when nothing is queued or being checked. */
  idle(): Promise<void> {
    if (!this.running && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private async drainQueue(): Promise<void> {
    this.running = true;
    try {
      while (this.queue.length > 0) {
        // Let operations in flight record their completions before the (synchronous) search.
        await new Promise((r) => setImmediate(r));
        const w = this.queue.shift()!;
        this.o.metrics.queuedWindows.set(this.queue.length);
        this.spaceWaiters.shift()?.();
        await this.checkOne(w);
      }
    } finally {
      this.running = false;
      for (const r of this.idleWaiters.splice(0)) r();
    }
  }

  private async checkOne(w: WindowHistory): Promise<void> {
    const started = performance.now();
    let result: CheckResult;
    try {
      result = checkCellkvHistory(w.records, { timeoutMs: this.o.timeoutMs, ...(this.o.maxSteps !== undefined ? { maxSteps: this.o.maxSteps } : {}) });
    } catch (e) {
      // A malformed record is a canary bug; it must not pass as linearizable.
      result = { result: 'unknown', reason: `history rejected by the checker: ${(e as Error).message}` };
    }
    this.o.metrics.checkDuration.observe((performance.now() - started) / 1000);
    const verdict: CheckVerdict = result.result === 'linearizable' ? 'linearizable' : result.result === 'not-linearizable' ? 'violation' : 'unknown';
    this.tally[verdict]++;
    this.o.metrics.checks.inc({ verdict });
    this.o.metrics.lastCheck.set(Date.now() / 1000);
    if (verdict === 'violation') this.o.metrics.violations.inc();
    if (result.result !== 'linearizable') await this.keep(w, result);
    this.o.onChecked?.(verdict, w);
  }

  private async keep(w: WindowHistory, result: Exclude<CheckResult, { result: 'linearizable' }>): Promise<void> {
    const verdict = result.result === 'not-linearizable' ? 'violation' : 'unknown';
    const detail = result.result === 'not-linearizable' ? formatDetails(result, { maxLines: 40 }).join('\n') : result.reason;
    let file: string | null = null;
    try {
      file = await this.o.files.write(w, { runId: this.o.runId, verdict, detail });
      this.filesWritten.push(file);
      if (this.filesWritten.length > 100) this.filesWritten.shift();
    } catch (e) {
      this.o.logger.error({ err: (e as Error).message, dir: this.o.files.dir }, 'canary could not write the window file; check the directory is writable');
    }
    const fields = { key: w.key, window: w.index, ops: w.records.length, file, recheck: file === null ? null : `npm run lincheck -- ${file}`, detail };
    if (verdict === 'violation') this.o.logger.error(fields, 'canary: window is NOT linearizable');
    else this.o.logger.warn(fields, 'canary: checker budget ran out; verdict unknown (not counted as linearizable)');
  }
}
