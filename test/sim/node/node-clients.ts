// Clients of the whole-node simulation: they speak the real cell protocol (binary
// CellRequest / CellResponse, shared/codec) to the nodes over the SimBus, with retries that
// reuse the request id (at-most-once through the node's dedupe table), and record a history
// for the per-key linearizability checker.

import { decodeCellResponse, encodeCellRequest } from '../../../shared/codec/index.js';
import type { CellOp, CellRequest, CellResponse, OpResult } from '../../../shared/cell-protocol.js';
import type { HistoryOutput, HistoryRecord } from '../../../shared/lincheck/index.js';
import { FIRST_DATA_CELL_ID, cellForKey, type DirectoryView } from '../../../shared/directory.js';
import { namespacedKey } from '../../../shared/keys.js';
import type { Rng } from '../rng.js';
import type { Tracer } from '../trace.js';
import type { SimBus } from './sim-bus.js';
import type { SimScheduler } from './scheduler.js';

export const SIM_TENANT = 'simtenant';
/** Attempts of one logical op (same request id) before it gives up. */
const MAX_ATTEMPTS = 8;
const ATTEMPT_TIMEOUT_MS = 2500;

type OpKind = 'get' | 'put' | 'delete' | 'cas';

interface Op {
  readonly kind: OpKind;
  readonly key: string;
  readonly value?: string;
  readonly ifVersion?: bigint;
  readonly requestId: string;
  readonly invoke: number;
  readonly invokedAtMs: number;
}

export interface ClientStats {
  ok: number;
  fail: number;
  unknown: number;
  attempts: number;
}

/** Errors after which the write is known not to have applied (refused before proposing). */
const DEFINITE_REFUSALS = new Set(['NOT_LEADER', 'UNAVAILABLE', 'OVERLOADED', 'WRONG_RANGE', 'INVALID_ARGUMENT']);

export class NodeClients {
  private readonly records: HistoryRecord[] = [];
  private readonly inFlight = new Map<number, Op>();
  private issuing = true;
  /** Ops invoked at or after this time must succeed (the liveness check after heal). */
  private mustSucceedFromMs: number | null = null;
  livenessFailure: string | null = null;
  /** History time: one counter over every invoke and completion, so real-time order is kept. */
  private t = 0;
  readonly stats: ClientStats = { ok: 0, fail: 0, unknown: 0, attempts: 0 };

  constructor(
    private readonly sched: SimScheduler,
    private readonly bus: SimBus,
    private readonly rng: Rng,
    private readonly trace: Tracer,
    private readonly nodes: readonly string[],
    private readonly opts: { readonly clients: number; readonly keys: number; readonly thinkMs: number },
  ) {}

  start(): void {
    for (let c = 0; c < this.opts.clients; c++) void this.loop(c, this.rng.fork(`client-${c}`));
  }

  stopIssuing(): void {
    this.issuing = false;
  }

  requireSuccessFrom(ms: number): void {
    this.mustSucceedFromMs = ms;
  }

  idle(): boolean {
    return this.inFlight.size === 0;
  }

  private sleep(c: number, ms: number): Promise<void> {
    return new Promise((resolve) => void this.sched.at(ms, `client:${c}`, resolve));
  }

  /** The client's cached directory (refreshed on WRONG_RANGE, as the gateway does). */
  private readonly directories = new Map<number, DirectoryView>();

  private route(c: number, key: string): { cellId: string; epoch: number; leader: string | null } {
    const dir = this.directories.get(c);
    const cell = dir ? cellForKey(dir, namespacedKey(SIM_TENANT, new TextEncoder().encode(key))) : null;
    if (!dir || !cell) return { cellId: FIRST_DATA_CELL_ID, epoch: 1, leader: null };
    return { cellId: cell.id, epoch: cell.epoch, leader: dir.leaders[cell.id] ?? null };
  }

  private async refreshDirectory(c: number, rng: Rng): Promise<void> {
    try {
      const bytes = await this.bus.clientDirectory(`client${c}`, rng.pick(this.nodes), ATTEMPT_TIMEOUT_MS);
      this.directories.set(c, JSON.parse(new TextDecoder().decode(bytes)) as DirectoryView);
    } catch {
      // a lost lookup: the next attempt asks again
    }
  }

  private async loop(c: number, rng: Rng): Promise<void> {
    let seq = 0;
    const versions = new Map<string, bigint>();
    let leaderGuess: string | null = null;
    let lastCell = FIRST_DATA_CELL_ID;
    let readBack: string | null = null;
    while (this.issuing) {
      // Now and then a write is read back at once from a follower (which may not know the
      // commit yet): the read must still see it, through its ReadIndex and the apply wait.
      await this.sleep(c, readBack !== null ? 0 : rng.range(0, this.opts.thinkMs));
      if (!this.issuing) break;
      const op: Op = readBack !== null ? this.readOp(c, ++seq, readBack) : this.nextOp(c, ++seq, rng, versions);
      const follower = readBack !== null;
      readBack = null;
      this.inFlight.set(c, op);
      this.trace.event(this.sched.elapsed, () => `c${c} invoke ${describe(op)}`);
      let anyUnknown = false;
      let outcome: 'ok' | 'fail' | 'unknown' = 'fail';
      let output: HistoryOutput | undefined;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        this.stats.attempts++;
        // Reads go to any node half the time (followers confirm with the leader); writes follow the hint.
        const route = this.route(c, op.key);
        if (route.cellId !== lastCell) {
          lastCell = route.cellId;
          leaderGuess = route.leader;
        }
        const others = this.nodes.filter((x) => x !== leaderGuess);
        const target: string = follower && others.length > 0 ? rng.pick(others) : op.kind === 'get' && rng.chance(0.5) ? rng.pick(this.nodes) : (leaderGuess ?? rng.pick(this.nodes));
        const resp = await this.send(c, target, op, route.cellId, route.epoch);
        if (resp === null) {
          anyUnknown = true;
          leaderGuess = null;
        } else if (resp.status === 'ok') {
          output = toOutput(op, resp.results[0]!);
          outcome = 'ok';
          leaderGuess = target;
          break;
        } else {
          this.trace.event(this.sched.elapsed, () => `c${c} attempt ${attempt} ${describe(op)} at ${target}/${route.cellId}@${route.epoch}: ${resp.code} ${resp.message.slice(0, 80)}`);
          if (!DEFINITE_REFUSALS.has(resp.code ?? '')) anyUnknown = true;
          if (resp.code === 'WRONG_RANGE') await this.refreshDirectory(c, rng);
          leaderGuess = resp.code === 'NOT_LEADER' && resp.leaderHint !== '' && this.nodes.includes(resp.leaderHint) ? resp.leaderHint : null;
        }
        await this.sleep(c, Math.min(400, 10 * 2 ** attempt) + rng.range(0, 20));
      }
      if (outcome !== 'ok' && anyUnknown && op.kind !== 'get') outcome = 'unknown';
      this.finish(c, op, outcome, output, versions);
      if (outcome === 'ok' && op.kind !== 'get' && rng.chance(0.3)) readBack = op.key;
    }
  }

  private readOp(c: number, seq: number, key: string): Op {
    return { kind: 'get', key, requestId: `c${c}-${seq}`, invoke: ++this.t, invokedAtMs: this.sched.elapsed };
  }

  private nextOp(c: number, seq: number, rng: Rng, versions: Map<string, bigint>): Op {
    const key = `k${rng.int(this.opts.keys)}`;
    const roll = rng.next();
    const base = { key, requestId: `c${c}-${seq}`, invoke: ++this.t, invokedAtMs: this.sched.elapsed };
    if (roll < 0.4) return { ...base, kind: 'get' };
    if (roll < 0.75) return { ...base, kind: 'put', value: `c${c}.${seq}` };
    if (roll < 0.85) return { ...base, kind: 'delete' };
    return { ...base, kind: 'cas', value: `c${c}.${seq}`, ifVersion: versions.get(key) ?? BigInt(rng.range(1, 40)) };
  }

  private async send(c: number, target: string, op: Op, cellId: string, epoch: number): Promise<CellResponse | null> {
    const key = new TextEncoder().encode(op.key);
    let cellOp: CellOp;
    if (op.kind === 'get') cellOp = { op: 'get', key };
    else if (op.kind === 'delete') cellOp = { op: 'delete', key, ifVersion: null };
    else {
      cellOp = {
        op: 'put',
        key,
        value: new TextEncoder().encode(op.value!),
        ttlMs: null,
        ifVersion: op.kind === 'cas' ? op.ifVersion! : null,
        ifAbsent: false,
        attrs: null,
      };
    }
    const req: CellRequest = {
      cellId,
      epoch,
      requestId: op.requestId,
      tenant: SIM_TENANT,
      consistency: 'linearizable',
      sessionIndex: 0n,
      maxStalenessMs: 0,
      atomic: false,
      ops: [cellOp],
      scan: null,
      traceparent: '',
    };
    try {
      const bytes = await this.bus.clientRequest(`client${c}`, target, encodeCellRequest(req), ATTEMPT_TIMEOUT_MS);
      return decodeCellResponse(bytes);
    } catch {
      return null;
    }
  }

  private finish(c: number, op: Op, outcome: 'ok' | 'fail' | 'unknown', output: HistoryOutput | undefined, versions: Map<string, bigint>): void {
    this.inFlight.delete(c);
    const rec: { -readonly [K in keyof HistoryRecord]: HistoryRecord[K] } = {
      client: c,
      key: op.key,
      op: op.kind,
      invoke: op.invoke,
      complete: outcome === 'unknown' ? null : ++this.t,
      outcome,
    };
    if (op.value !== undefined) rec.value = op.value;
    if (op.ifVersion !== undefined) rec.ifVersion = op.ifVersion.toString();
    if (output !== undefined) rec.output = output;
    this.records.push(rec);
    this.stats[outcome]++;
    if (output !== undefined) learnVersion(versions, op.key, output);
    if (outcome !== 'ok' && this.mustSucceedFromMs !== null && op.invokedAtMs >= this.mustSucceedFromMs && this.livenessFailure === null) {
      this.livenessFailure = `client ${c} ${describe(op)} invoked at ${op.invokedAtMs} ms, after the heal, ended ${outcome}`;
    }
    this.trace.event(this.sched.elapsed, () => `c${c} ${outcome} ${describe(op)}${output ? ' -> ' + JSON.stringify(output) : ''}`);
  }

  /** Every op, finished or not (ops still in flight are `unknown`). */
  history(): HistoryRecord[] {
    const out = this.records.slice();
    for (const [c, op] of this.inFlight) {
      const rec: { -readonly [K in keyof HistoryRecord]: HistoryRecord[K] } = { client: c, key: op.key, op: op.kind, invoke: op.invoke, complete: null, outcome: 'unknown' };
      if (op.value !== undefined) rec.value = op.value;
      if (op.ifVersion !== undefined) rec.ifVersion = op.ifVersion.toString();
      out.push(rec);
    }
    return out;
  }
}

function toOutput(op: Op, r: OpResult): HistoryOutput {
  if (op.kind === 'cas') {
    if (r.status === 'error') return { swapped: false, currentVersion: r.currentVersion === null ? null : r.currentVersion.toString() };
    return { swapped: true, version: r.meta!.version.toString() };
  }
  if (r.status === 'error') throw new Error(`unexpected op error ${r.code} for ${describe(op)}: ${r.message}`);
  if (op.kind === 'get') return r.found ? { found: true, value: new TextDecoder().decode(r.value!), version: r.meta!.version.toString() } : { found: false };
  if (op.kind === 'delete') return { existed: r.found };
  return { version: r.meta!.version.toString() };
}

function learnVersion(versions: Map<string, bigint>, key: string, out: HistoryOutput): void {
  if ('version' in out) versions.set(key, BigInt(out.version));
  else if ('currentVersion' in out && out.currentVersion !== null) versions.set(key, BigInt(out.currentVersion));
  else if ('found' in out && !out.found) versions.delete(key);
}

function describe(op: Op): string {
  switch (op.kind) {
    case 'get':
      return `get ${op.key}`;
    case 'put':
      return `put ${op.key}=${op.value}`;
    case 'delete':
      return `delete ${op.key}`;
    case 'cas':
      return `cas ${op.key} if v${op.ifVersion} =${op.value}`;
  }
}
