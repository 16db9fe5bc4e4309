// The canary: workers run get / put / delete / cas with unique values on a few reserved keys,
// every op is recorded, and each key's history is cut into windows (window.ts) that the
// check pipeline decides. A cut waits until no worker runs an op on that key, then issues the
// barrier read that ends one window and seeds the next. Memory is bounded: keys × window
// records, plus the check queue.

import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CellkvClient } from '../shared/client/index.js';
import type { HistoryOpName } from '../shared/lincheck/index.js';
import { CheckPipeline, type CheckTally } from './check-pipeline.js';
import type { CanaryMetrics } from './metrics.js';
import { MonotonicClock, runOp, type OpRequest, type OpResultLabel, type RecordedOp } from './ops.js';
import { WindowFiles } from './window-files.js';
import { KeyWindow, type KeyWindowLimits } from './window.js';

export interface CanaryConfig {
  /** Reserved key prefix; every canary key starts with it. */
  readonly prefix: string;
  readonly keys: number;
  readonly concurrency: number;
  /** Operations per second across all workers (barriers not counted). */
  readonly ratePerSec: number;
  /** A key's window is cut after this many ops, or this long after it opened. */
  readonly windowOps: number;
  readonly windowMs: number;
  /** Hard bound on one window's records; at least windowOps + concurrency + 1. */
  readonly maxWindowRecords: number;
  /** Unknown writes carried into one window at most, and for how long (then the key retires). */
  readonly maxCarried: number;
  readonly taintMs: number;
  readonly checkTimeoutMs: number;
  readonly maxQueuedWindows: number;
  readonly violationsDir: string;
  readonly maxViolationFiles: number;
  /** Longest wait between barrier attempts while a barrier read keeps failing. */
  readonly barrierRetryMaxMs: number;
  /** Stop after this many worker ops, barriers not counted (0: never). */
  readonly maxOps: number;
  /** Stop after this many checked windows (0: never). */
  readonly maxWindows: number;
  /** Delete this run's keys when stopping. */
  readonly cleanup: boolean;
}

export interface CanaryDeps {
  readonly client: CellkvClient;
  readonly metrics: CanaryMetrics;
  readonly logger: Logger;
  /** Part of every key name, so a restarted canary never meets its predecessor's late writes. */
  readonly runId?: string;
  readonly random?: () => number;
}

export class CanaryConfigError extends Error {
  readonly code = 'INVALID_ARGUMENT';
  constructor(message: string) {
    super(message);
    this.name = 'CanaryConfigError';
  }
}

/** Throws CanaryConfigError naming the first setting out of range. */
export function validateCanaryConfig(c: CanaryConfig): void {
  const whole = (name: string, v: number, lo: number, hi: number) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new CanaryConfigError(`${name} must be a whole number in ${lo}..${hi}, got ${v}`);
  };
  if (c.prefix.length < 1 || c.prefix.length > 256) throw new CanaryConfigError('prefix must be 1..256 characters');
  whole('keys', c.keys, 1, 1000);
  whole('concurrency', c.concurrency, 1, 256);
  if (!(c.ratePerSec > 0 && c.ratePerSec <= 100_000)) throw new CanaryConfigError(`rate must be in (0, 100000] ops/s, got ${c.ratePerSec}`);
  whole('window ops', c.windowOps, 1, 100_000);
  if (!(c.windowMs >= 10)) throw new CanaryConfigError(`window must be at least 10 ms, got ${c.windowMs}`);
  whole('max window records', c.maxWindowRecords, c.windowOps + c.concurrency + 1, 1_000_000);
  whole('max carried', c.maxCarried, 0, 10_000);
  if (!(c.taintMs >= 1)) throw new CanaryConfigError(`taint bound must be at least 1 ms, got ${c.taintMs}`);
  if (!(c.checkTimeoutMs >= 1)) throw new CanaryConfigError(`check timeout must be at least 1 ms, got ${c.checkTimeoutMs}`);
  whole('max queued windows', c.maxQueuedWindows, 1, 10_000);
  whole('max violation files', c.maxViolationFiles, 1, 100_000);
  if (!(c.barrierRetryMaxMs >= 1)) throw new CanaryConfigError('barrier retry bound must be at least 1 ms');
  whole('max ops', c.maxOps, 0, Number.MAX_SAFE_INTEGER);
  whole('max windows', c.maxWindows, 0, Number.MAX_SAFE_INTEGER);
}

interface Slot {
  readonly index: number;
  gen: number;
  name: string;
  window: KeyWindow;
  inflight: number;
  state: 'opening' | 'open' | 'cutting';
  quiet: (() => void) | null;
}

export interface CanarySummary {
  readonly runId: string;
  readonly ops: Readonly<Record<OpResultLabel, number>>;
  readonly checks: Readonly<CheckTally>;
  readonly retiredKeys: number;
  /** Writes of unknown outcome carried into a next window (summed over cuts). */
  readonly carriedWrites: number;
  readonly files: readonly string[];
}

const MAX_NAMES_REMEMBERED = 10_000;

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export class Canary {
  readonly runId: string;
  readonly pipeline: CheckPipeline;
  private readonly clock = new MonotonicClock();
  private readonly slots: Slot[] = [];
  private readonly limits: KeyWindowLimits;
  private readonly random: () => number;
  private readonly ops: Record<OpResultLabel, number> = { ok: 0, fail: 0, unknown: 0 };
  private readonly cuts = new Set<Promise<void>>();
  private readonly names: string[] = [];
  private stopping = false;
  private stopRequested!: () => void;
  private readonly stopSignal = new Promise<void>((r) => (this.stopRequested = r));
  private nextClient = 1;
  private nextRateAt = 0;
  private retired = 0;
  private workerOps = 0;
  private carriedTotal = 0;
  private ageTimer: NodeJS.Timeout | null = null;
  private finished: Promise<CanarySummary> | null = null;

  constructor(
    private readonly cfg: CanaryConfig,
    private readonly deps: CanaryDeps,
  ) {
    validateCanaryConfig(cfg);
    this.runId = deps.runId ?? randomBytes(4).toString('hex');
    this.random = deps.random ?? Math.random;
    this.limits = { maxRecords: cfg.maxWindowRecords, maxCarried: cfg.maxCarried, taintUs: cfg.taintMs * 1000 };
    this.pipeline = new CheckPipeline({
      metrics: deps.metrics,
      files: new WindowFiles(cfg.violationsDir, cfg.maxViolationFiles),
      logger: deps.logger,
      runId: this.runId,
      timeoutMs: cfg.checkTimeoutMs,
      maxQueued: cfg.maxQueuedWindows,
      onChecked: () => {
        const t = this.pipeline.tally;
        if (this.cfg.maxWindows > 0 && t.linearizable + t.violation + t.unknown >= this.cfg.maxWindows) this.requestStop();
      },
    });
  }

  /** Starts the workers; resolves with a summary once stopped (by limits or stop()). */
  run(): Promise<CanarySummary> {
    if (this.finished) return this.finished;
    for (let i = 0; i < this.cfg.keys; i++) {
      const name = this.keyName(i, 0);
      const slot: Slot = { index: i, gen: 0, name, window: new KeyWindow(name, this.limits), inflight: 0, state: 'opening', quiet: null };
      this.names.push(name);
      this.slots.push(slot);
      this.track(this.open(slot));
    }
    const workers = Array.from({ length: this.cfg.concurrency }, (_, i) =>
      this.worker(i + 1).catch((e: unknown) => {
        this.deps.logger.error({ err: (e as Error).message }, 'canary stopped on an internal error');
        this.requestStop();
      }),
    );
    this.ageTimer = setInterval(() => this.cutOld(), Math.max(10, Math.floor(this.cfg.windowMs / 4)));
    this.ageTimer.unref();
    this.deps.logger.info({ runId: this.runId, prefix: this.cfg.prefix, keys: this.cfg.keys, concurrency: this.cfg.concurrency, rate: this.cfg.ratePerSec }, 'canary started');
    this.finished = this.shutdownAfter(workers);
    return this.finished;
  }

  /** Asks the canary to stop; run() resolves once the last windows are checked. */
  stop(): Promise<CanarySummary> {
    this.requestStop();
    return this.finished ?? Promise.resolve(this.summary());
  }

  private requestStop(): void {
    this.stopping = true;
    this.stopRequested();
  }

  summary(): CanarySummary {
    return { runId: this.runId, ops: { ...this.ops }, checks: { ...this.pipeline.tally }, retiredKeys: this.retired, carriedWrites: this.carriedTotal, files: [...this.pipeline.filesWritten] };
  }

  private async shutdownAfter(workers: Promise<void>[]): Promise<CanarySummary> {
    await this.stopSignal;
    await Promise.all(workers);
    while (this.cuts.size > 0) await Promise.all([...this.cuts]);
    if (this.ageTimer) clearInterval(this.ageTimer);
    // The last windows end without a barrier: every op has returned, so each is a complete
    // (if shorter) history and can be checked as it is.
    for (const s of this.slots) if (s.window.isSeeded && s.window.size > 0) await this.pipeline.submit(s.window.drain());
    await this.pipeline.idle();
    if (this.cfg.cleanup) await this.deleteKeys();
    const summary = this.summary();
    this.deps.logger.info(summary, 'canary stopped');
    return summary;
  }

  private keyName(slot: number, gen: number): string {
    return `${this.cfg.prefix}${this.runId}/${slot}.${gen}`;
  }

  /** The slot's next generation: a fresh key name and an empty, unseeded window. */
  private rename(slot: Slot): void {
    slot.gen++;
    slot.name = this.keyName(slot.index, slot.gen);
    slot.window = new KeyWindow(slot.name, this.limits);
    if (this.names.length < MAX_NAMES_REMEMBERED) this.names.push(slot.name);
  }

  private track(p: Promise<void>): void {
    const tracked = p.catch((e: unknown) => {
      // A broken invariant in the windowing: stop rather than check an unsound history.
      this.deps.logger.error({ err: (e as Error).message }, 'canary stopped on an internal error');
      this.requestStop();
    });
    this.cuts.add(tracked);
    void tracked.finally(() => this.cuts.delete(tracked));
  }

  private newClient(): number {
    return this.nextClient++;
  }

  private note(op: HistoryOpName | 'barrier', r: RecordedOp): void {
    const result = r.record.outcome;
    this.ops[result]++;
    this.deps.metrics.ops.inc({ op, result });
    this.deps.metrics.opDuration.observe({ op }, r.seconds);
    if (r.error !== null) this.deps.logger.debug({ op, key: r.record.key, result, error: r.error }, 'canary op did not succeed');
  }

  /** Waits for this worker's share of the rate; false when stopping. */
  private async takeRate(): Promise<boolean> {
    const now = performance.now();
    const at = Math.max(now, this.nextRateAt);
    this.nextRateAt = at + 1000 / this.cfg.ratePerSec;
    if (at > now) await Promise.race([sleep(at - now), this.stopSignal]);
    return !this.stopping;
  }

  private pick(): Slot | null {
    const open = this.slots.filter((s) => s.state === 'open' && s.window.size + s.inflight < this.cfg.maxWindowRecords - 1);
    return open.length === 0 ? null : open[Math.floor(this.random() * open.length)]!;
  }

  private request(slot: Slot, client: number, seen: Map<string, bigint>, value: string): OpRequest {
    const roll = this.random();
    const known = seen.get(slot.name);
    const op: HistoryOpName = roll < 0.25 ? 'put' : roll < 0.5 && known !== undefined ? 'cas' : roll < 0.6 ? 'delete' : 'get';
    if (op === 'put') return { client, key: slot.name, op, value };
    if (op === 'cas') return { client, key: slot.name, op, value, ifVersion: known! };
    return { client, key: slot.name, op };
  }

  private async worker(w: number): Promise<void> {
    let client = this.newClient();
    let seq = 0;
    // The last version this worker saw per key: its cas ops expect it (often stale, on purpose).
    const seen = new Map<string, bigint>();
    while (await this.takeRate()) {
      const slot = this.pick();
      if (slot === null) {
        await Promise.race([sleep(5), this.stopSignal]);
        continue;
      }
      const req = this.request(slot, client, seen, `${this.runId}:${w}:${++seq}`);
      slot.inflight++;
      const r = await runOp(this.deps.client, this.clock, req);
      slot.window.add(r.record);
      slot.inflight--;
      this.note(req.op, r);
      if (seen.size > 4 * this.cfg.keys) seen.clear(); // names of retired keys
      this.learn(seen, r);
      if (r.record.outcome === 'unknown') client = this.newClient(); // it may still apply: a client's ops must not overlap
      if (slot.inflight === 0 && slot.quiet) slot.quiet();
      this.maybeCut(slot);
      if (this.cfg.maxOps > 0 && ++this.workerOps >= this.cfg.maxOps) this.requestStop();
    }
  }

  private learn(seen: Map<string, bigint>, r: RecordedOp): void {
    const { record: rec } = r;
    const out = rec.output;
    if (rec.outcome !== 'ok' || out === undefined) return;
    if ('found' in out) {
      if (out.found) seen.set(rec.key, BigInt(out.version));
    } else if ('swapped' in out) {
      if (out.swapped) seen.set(rec.key, BigInt(out.version));
      else if (out.currentVersion !== null) seen.set(rec.key, BigInt(out.currentVersion));
      else seen.delete(rec.key);
    } else if ('version' in out) seen.set(rec.key, BigInt(out.version));
    else seen.delete(rec.key);
  }

  private cutOld(): void {
    for (const s of this.slots) this.maybeCut(s);
  }

  /** Cuts a key's window once it holds windowOps ops or is windowMs old (and not empty). */
  private maybeCut(slot: Slot): void {
    if (this.stopping || slot.state !== 'open' || slot.window.size === 0) return;
    const old = this.clock.nowUs() - slot.window.openedAt >= this.cfg.windowMs * 1000;
    if (slot.window.size < this.cfg.windowOps && !old) return;
    slot.state = 'cutting';
    this.track(this.cut(slot));
  }

  private async quiescent(slot: Slot): Promise<void> {
    while (slot.inflight > 0) await new Promise<void>((r) => (slot.quiet = r));
    slot.quiet = null;
  }

  /** A linearizable read with nothing else running on the key; retried until ok (null: stopping). */
  private async barrier(name: string) {
    for (let n = 0; !this.stopping; n++) {
      const r = await runOp(this.deps.client, this.clock, { client: this.newClient(), key: name, op: 'get' });
      this.note('barrier', r);
      if (r.record.outcome === 'ok') return r.record;
      // Say why the key is stuck (e.g. a rejected token), without a line per retry.
      if ((n & (n - 1)) === 0) this.deps.logger.warn({ key: name, attempts: n + 1, error: r.error }, 'canary barrier read failed; the key waits and retries');
      await Promise.race([sleep(Math.min(this.cfg.barrierRetryMaxMs, 50 * 2 ** Math.min(n, 16))), this.stopSignal]);
    }
    return null;
  }

  private async open(slot: Slot): Promise<void> {
    slot.state = 'opening';
    const b = await this.barrier(slot.name);
    if (b === null) return;
    slot.window.begin(b);
    slot.state = 'open';
  }

  private async cut(slot: Slot): Promise<void> {
    await this.quiescent(slot);
    const b = await this.barrier(slot.name);
    if (b === null) return; // stopping: the window is drained and checked without a barrier
    const out = slot.window.close(b, this.clock.nowUs());
    await this.pipeline.submit(out.window);
    if (out.next === 'retire') {
      this.retired++;
      this.deps.metrics.retiredKeys.inc();
      this.pipeline.skipped(slot.name, out.reason);
      this.rename(slot);
      await this.open(slot);
    } else {
      this.carriedTotal += out.carried;
      slot.state = 'open';
    }
    this.deps.metrics.carriedWrites.set(this.slots.reduce((n, s) => n + s.window.carriedCount, 0));
  }

  private async deleteKeys(): Promise<void> {
    for (const name of this.names) await this.deps.client.delete(name).catch(() => undefined);
  }
}
