// Simulated clients: each runs one op at a time against a small shared key set (so ops
// contend), with a per-attempt timeout and bounded retries under the same request id, and
// records every op in the project's history format.
// Times in the history are tick*1000 + an event counter within the tick, so a reply and the
// next invoke in the same tick stay ordered (the checker treats equal times as concurrent).

import { assert } from '../../shared/assert.js';
import type { NodeId } from '../../cell/raft/types.js';
import type { HistoryOutput, HistoryRecord } from '../../shared/lincheck/index.js';
import { clientAddress, type ClientReply, type ClientRequest } from './client-protocol.js';
import type { KvCommand, KvOpName, KvOutput } from './kv-state-machine.js';
import type { Rng } from './rng.js';
import type { Tracer } from './trace.js';

export interface ClientOptions {
  readonly clients: number;
  readonly keys: readonly string[];
  /** Ticks an attempt waits for a reply before retrying elsewhere. */
  readonly attemptTimeout: number;
  readonly maxAttempts: number;
  /** Share of gets that go through the log instead of ReadIndex. */
  readonly readViaLogRate: number;
  /** Longest pause between one op's end and the next op. */
  readonly thinkMax: number;
}

export interface ClientTransport {
  sendRequest(req: ClientRequest): void;
  /** Nodes a client may contact. */
  memberIds(): NodeId[];
}

interface InFlight {
  readonly seq: number;
  readonly cmd: KvCommand;
  readonly invoke: number;
  readonly invokeTick: number;
  attempt: number;
  deadline: number;
  /** Attempts refused before proposing; if it ends up equal to `attempt`, the op surely failed. */
  rejected: Set<number>;
  /** Earliest tick of the next attempt after a refusal (a short backoff). */
  retryAt: number | null;
}

const SUBTICK = 1000;
/** Attempt k waits min(k, BACKOFF_STEPS) attempt timeouts. */
export const BACKOFF_STEPS = 4;
/** Hard bound on ops recorded per run, so a runaway loop cannot fill memory. */
const MAX_OPS = 100_000;

class SimClient {
  seq = 0;
  op: InFlight | null = null;
  nextOpAt = 0;
  leaderHint: NodeId | null = null;
  /** The hint came with a refusal just now (fresh news): follow it, do not explore. */
  hintFresh = false;
  readonly versions = new Map<string, string>();
  constructor(readonly id: number) {}
}

export class Clients {
  private readonly clients: SimClient[] = [];
  private readonly records: HistoryRecord[] = [];
  private subTick = 0;
  private lastTick = -1;
  private issuing = true;
  /** Ops invoked at or after this tick must succeed (the liveness check after heal). */
  private mustSucceedFrom: number | null = null;
  livenessFailure: string | null = null;
  stats = { ok: 0, fail: 0, unknown: 0, attempts: 0 };

  constructor(
    private readonly rng: Rng,
    private readonly transport: ClientTransport,
    private readonly trace: Tracer,
    private readonly opts: ClientOptions,
  ) {
    assert(opts.clients > 0 && opts.keys.length > 0 && opts.maxAttempts > 0, 'bad client options');
    for (let i = 1; i <= opts.clients; i++) this.clients.push(new SimClient(i));
  }

  private time(now: number): number {
    if (now !== this.lastTick) {
      this.lastTick = now;
      this.subTick = 0;
    }
    assert(this.subTick < SUBTICK - 1, 'too many client events in one tick');
    return now * SUBTICK + this.subTick++;
  }

  stopIssuing(): void {
    this.issuing = false;
  }

  requireSuccessFrom(tick: number): void {
    this.mustSucceedFrom = tick;
  }

  /** True when no op is in flight. */
  idle(): boolean {
    return this.clients.every((c) => c.op === null);
  }

  step(now: number): void {
    for (const c of this.clients) {
      if (c.op !== null) {
        const op = c.op;
        if (op.retryAt !== null && now >= op.retryAt) this.retry(c, now);
        else if (op.retryAt === null && now >= op.deadline) this.retry(c, now);
      } else if (this.issuing && now >= c.nextOpAt && this.records.length < MAX_OPS) {
        this.startOp(c, now);
      }
    }
  }

  private startOp(c: SimClient, now: number): void {
    const key = this.rng.pick(this.opts.keys);
    const r = this.rng.next();
    const op: KvOpName = r < 0.35 ? 'get' : r < 0.65 ? 'put' : r < 0.85 ? 'cas' : 'delete';
    c.seq++;
    const value = `c${c.id}-${c.seq}`;
    let cmd: KvCommand;
    if (op === 'put') cmd = { client: c.id, seq: c.seq, op, key, value };
    else if (op === 'cas') {
      const known = c.versions.get(key);
      const ifVersion = known !== undefined && this.rng.chance(0.8) ? known : String(this.rng.range(1, 40));
      cmd = { client: c.id, seq: c.seq, op, key, value, ifVersion };
    } else cmd = { client: c.id, seq: c.seq, op, key };
    c.op = { seq: c.seq, cmd, invoke: this.time(now), invokeTick: now, attempt: 0, deadline: 0, rejected: new Set(), retryAt: null };
    this.trace.event(now, () => `c${c.id} invoke #${c.seq} ${describeCmd(cmd)}`);
    this.sendAttempt(c, now);
  }

  private sendAttempt(c: SimClient, now: number): void {
    const op = c.op!;
    const members = this.transport.memberIds();
    assert(members.length > 0, 'no nodes to talk to');
    // Usually the hint; now and then a random node, so a stale hint cannot trap the client,
    // except right after a refusal named the leader (six unlucky draws in a row used to fail an
    // op after the heal: seed 22256).
    const hinted = c.leaderHint !== null && members.includes(c.leaderHint);
    const useHint = hinted && (this.rng.chance(0.9) || c.hintFresh);
    c.hintFresh = false;
    const target = useHint ? c.leaderHint! : this.rng.pick(members);
    op.attempt++;
    // Linear back-off: a slow cluster (a backlog to drain) gets more time on each attempt.
    op.deadline = now + this.opts.attemptTimeout * Math.min(op.attempt, BACKOFF_STEPS);
    op.retryAt = null;
    this.stats.attempts++;
    const viaLog = op.cmd.op === 'get' && this.rng.chance(this.opts.readViaLogRate);
    this.transport.sendRequest({
      kind: 'request',
      from: clientAddress(c.id),
      to: target,
      client: c.id,
      seq: op.seq,
      attempt: op.attempt,
      cmd: op.cmd,
      viaLog,
    });
  }

  /** Next attempt, or the end of the op when the attempts are used up. */
  private retry(c: SimClient, now: number): void {
    const op = c.op!;
    if (op.attempt >= this.opts.maxAttempts) {
      const surelyNotApplied = op.rejected.size === op.attempt;
      this.finish(c, now, surelyNotApplied ? 'fail' : 'unknown', undefined);
      return;
    }
    if (op.retryAt === null) c.leaderHint = null; // a timeout: the hint was no good
    this.sendAttempt(c, now);
  }

  onReply(r: ClientReply, now: number): void {
    const c = this.clients[r.client - 1];
    assert(c !== undefined, `reply for unknown client ${r.client}`);
    const op = c.op;
    if (op === null || op.seq !== r.seq) return; // an answer to an op already finished
    const body = r.body;
    switch (body.type) {
      case 'ok':
        this.finish(c, now, 'ok', body.output);
        return;
      case 'rejected':
        op.rejected.add(r.attempt);
        if (r.attempt !== op.attempt) return;
        c.leaderHint = body.leaderHint;
        c.hintFresh = body.leaderHint !== null;
        op.retryAt = now + this.rng.range(1, 6);
        return;
      case 'dropped':
        if (r.attempt !== op.attempt) return;
        op.retryAt = now + 1;
        return;
    }
  }

  private finish(c: SimClient, now: number, outcome: 'ok' | 'fail' | 'unknown', output: KvOutput | undefined): void {
    const op = c.op!;
    const cmd = op.cmd;
    const rec: { -readonly [K in keyof HistoryRecord]: HistoryRecord[K] } = {
      client: c.id,
      key: cmd.key,
      op: cmd.op,
      invoke: op.invoke,
      complete: outcome === 'unknown' ? null : this.time(now),
      outcome,
    };
    if (cmd.value !== undefined) rec.value = cmd.value;
    if (cmd.ifVersion !== undefined) rec.ifVersion = cmd.ifVersion;
    if (output !== undefined) rec.output = output as HistoryOutput;
    this.records.push(rec);
    this.stats[outcome]++;
    if (output !== undefined) this.learnVersion(c, cmd.key, output);
    if (outcome !== 'ok' && this.mustSucceedFrom !== null && op.invokeTick >= this.mustSucceedFrom && this.livenessFailure === null) {
      this.livenessFailure = `client ${c.id} op #${op.seq} (${describeCmd(cmd)}) invoked at tick ${op.invokeTick} after heal ended ${outcome} after ${op.attempt} attempts`;
    }
    this.trace.event(now, () => `c${c.id} ${outcome} #${op.seq} ${describeCmd(cmd)}${output ? ' -> ' + JSON.stringify(output) : ''} (attempts ${op.attempt})`);
    c.op = null;
    c.nextOpAt = now + this.rng.range(0, this.opts.thinkMax);
  }

  private learnVersion(c: SimClient, key: string, out: KvOutput): void {
    if ('version' in out && typeof out.version === 'string') c.versions.set(key, out.version);
    else if ('currentVersion' in out && out.currentVersion !== null) c.versions.set(key, out.currentVersion);
    else if ('found' in out && !out.found) c.versions.delete(key);
  }

  /** Every op, finished or not (ops still in flight are `unknown` with no completion). */
  history(): HistoryRecord[] {
    const out = this.records.slice();
    for (const c of this.clients) {
      const op = c.op;
      if (op === null) continue;
      const rec: { -readonly [K in keyof HistoryRecord]: HistoryRecord[K] } = {
        client: c.id,
        key: op.cmd.key,
        op: op.cmd.op,
        invoke: op.invoke,
        complete: null,
        outcome: 'unknown',
      };
      if (op.cmd.value !== undefined) rec.value = op.cmd.value;
      if (op.cmd.ifVersion !== undefined) rec.ifVersion = op.cmd.ifVersion;
      out.push(rec);
    }
    return out;
  }
}

function describeCmd(cmd: KvCommand): string {
  switch (cmd.op) {
    case 'get':
      return `get ${cmd.key}`;
    case 'put':
      return `put ${cmd.key}=${cmd.value}`;
    case 'delete':
      return `delete ${cmd.key}`;
    case 'cas':
      return `cas ${cmd.key} if v${cmd.ifVersion} =${cmd.value}`;
  }
}
