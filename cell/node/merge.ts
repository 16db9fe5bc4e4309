// Carrying out a merge of two adjacent cells (the commands and their apply: merge-apply.ts),
// and cleaning up after one. Any node hosting both cells can run it; it talks to the cells'
// leaders over the admin surface (or locally when it leads them):
//   1. freeze the right cell R on its leader (index F);
//   2. wait until every voter of R has applied F (bounded), so every node's L can apply the
//      commit without waiting long;
//   3. commit on the left cell's leader. A merge that cannot commit is given up in order: an
//      abort in L (raising L's epoch, so no commit of this freeze can apply any more), then a
//      rollback in R.
// A run cut short (a crash, a timeout) is finished by `tick` on R's leader the same way. A frozen R replica is retired (its records
// deleted, the data kept: it is L's now) once every voter of L has the commit on disk.

import { KvError } from '../../shared/errors.js';
import { compareBytes } from '../../shared/keys.js';
import { META_CELL_ID, bytesOfHex, hexOf, type Directory } from '../../shared/directory.js';
import type { MergeCommitCommand, RangeCommand } from '../../shared/cell-protocol.js';
import { isJoint } from '../raft/confchange.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { NodeTransportPort } from './ports.js';
import type { Replica } from './replica.js';
import { askNode } from './remote-ops.js';
import { absorberOf, isAbsorbed } from './merge-apply.js';

/**
 * How long a merge waits for every voter of R to apply the freeze before rolling back: R takes
 * no writes meanwhile, so this bounds the write outage of a merge that cannot finish.
 */
const FREEZE_CATCH_UP_MS = 5000;
/** A status poll of one voter (a down node must not hold up the others' answers). */
const POLL_TIMEOUT_MS = 400;
/**
 * A frozen, unmerged cell older than this is finished or given up by its leader (a second run
 * next to a live one is safe: one commit applies, and a rollback only follows an abort).
 */
const STALLED_MERGE_MS = 2000;
/** One merge step on a leader (a dead target must not hold a merge up for long). */
const ADMIN_TIMEOUT_MS = 1500;
/** Attempts to find a cell's leader (hints, then every voter) per step. */
const LEADER_ATTEMPTS = 12;

export interface MergeResult {
  readonly cell: string;
  readonly absorbed: string;
  readonly freezeIndex: number;
  readonly commitIndex: number;
  readonly epoch: number;
}

/** What orchestrating merges needs from the node (CellNode provides it). */
export interface MergeHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'requestTimeoutMs'>;
  readonly clock: NodeClock;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly log: Logger;
  transport(): NodeTransportPort | null;
  flushAll(sync: boolean): Promise<void>;
  schedulePump(): void;
  /** What this node knows of the directory (the left cell may not be hosted here any more). */
  directory(): Directory | null;
  /** Deletes a retired replica's records (never data keys) and drops it from the node. */
  retireReplica(cellId: string): Promise<void>;
}

/** Where a merge step goes: the cell's leader if known, else its voters in turn. */
interface CellRef {
  readonly cellId: string;
  readonly leader: string | null;
  readonly voters: readonly string[];
}

function refOf(r: Replica): CellRef {
  return { cellId: r.cellId, leader: r.raft.status().leader, voters: [...r.conf.voters] };
}

/** What the freeze fixed: the commit and the abort are decided by these. */
interface FreezeFacts {
  readonly into: string;
  readonly intoEpoch: number;
  readonly freezeIndex: number;
  /** R's epoch after the freeze (a rollback must name it). */
  readonly sourceEpoch: number;
  /** R's last version index: the freeze index plus R's version base. */
  readonly versionTop: number;
}

type AdminReply = { ok: boolean; code?: string; message?: string; leaderHint?: string } & Record<string, unknown>;

export class CellMerger {
  private readonly running = new Set<string>();
  private ticking = false;

  constructor(private readonly host: MergeHost) {}

  /** Merges `rightId` into its left neighbour `leftId`; resolves once the commit applied on L's leader. */
  async requestMerge(leftId: string, rightId: string): Promise<MergeResult> {
    const h = this.host;
    const left = h.replicas.get(leftId);
    const right = h.replicas.get(rightId);
    if (!left || !right) throw new KvError('NOT_FOUND', `node ${h.cfg.nodeId} does not host both ${leftId} and ${rightId}; run the merge on a node that hosts both`);
    const refusal = mergeRefusal(left, right);
    if (refusal !== null) throw new KvError('INVALID_ARGUMENT', `cannot merge ${rightId} into ${leftId}: ${refusal}`);
    if (this.running.has(rightId)) throw new KvError('UNAVAILABLE', `a merge of ${rightId} is already running; wait for it`);
    this.running.add(rightId);
    try {
      const intoEpoch = left.epoch;
      const freeze = await this.step(refOf(right), { step: 'freeze', cell: rightId, into: leftId, intoEpoch, epoch: right.epoch, atMs: h.clock.now() });
      if (freeze['applied'] !== true) throw new KvError('UNAVAILABLE', `freeze of ${rightId} was refused (it changed meanwhile); retry the merge`);
      const m: FreezeFacts = {
        into: leftId,
        intoEpoch,
        freezeIndex: Number(freeze['index']),
        sourceEpoch: Number(freeze['epoch']),
        versionTop: Number(freeze['versionTop']),
      };
      if (!(await this.waitApplied(right, m.freezeIndex, FREEZE_CATCH_UP_MS))) {
        await this.giveUp(refOf(left), right, m);
        throw new KvError('UNAVAILABLE', `not every replica of ${rightId} applied the freeze within ${FREEZE_CATCH_UP_MS} ms; the merge was given up, retry when all replicas are up`);
      }
      return await this.commit(refOf(left), right, m);
    } finally {
      this.running.delete(rightId);
    }
  }

  /** Sends the commit to L's leader; a commit that did not apply is settled by giveUp. */
  private async commit(left: CellRef, right: Replica, m: FreezeFacts): Promise<MergeResult> {
    const res = await this.step(left, {
      step: 'commit',
      cell: left.cellId,
      source: right.cellId,
      sourceStart: hexOf(right.range.start),
      sourceEnd: right.range.end === null ? null : hexOf(right.range.end),
      sourceEpoch: m.sourceEpoch,
      freezeIndex: m.freezeIndex,
      sourceVersionTop: m.versionTop,
      epoch: m.intoEpoch,
    });
    const done = (index: number, epoch: number): MergeResult => ({ cell: left.cellId, absorbed: right.cellId, freezeIndex: m.freezeIndex, commitIndex: index, epoch });
    if (res['applied'] === true) return done(Number(res['index']), Number(res['epoch']));
    // Another run committed it first, or L changed: the abort tells which, in L's own order.
    const outcome = await this.giveUp(left, right, m);
    if (outcome.absorbed) return done(outcome.index, outcome.epoch);
    throw new KvError('UNAVAILABLE', `cell ${left.cellId} changed while ${right.cellId} was frozen; the merge was rolled back, retry it`);
  }

  /**
   * Ends a merge that did not commit here: an abort in L first (after it, no commit at the
   * freeze's epoch can apply), then, unless L turns out to have absorbed R already, a rollback
   * in R. Never the other way round: R taking writes while L may still absorb it would give two
   * owners to one range.
   */
  private async giveUp(left: CellRef, right: Replica, m: FreezeFacts): Promise<{ absorbed: boolean; index: number; epoch: number }> {
    const res = await this.step(left, { step: 'abort', cell: left.cellId, source: right.cellId, epoch: m.intoEpoch });
    if (res['absorbed'] === true) return { absorbed: true, index: Number(res['index']), epoch: Number(res['epoch']) };
    await this.step(refOf(right), { step: 'rollback', cell: right.cellId, epoch: m.sourceEpoch });
    return { absorbed: false, index: 0, epoch: 0 };
  }

  /** Admin `mergeStep` on the leader: proposes one merge command; resolves once applied. */
  async proposeStep(req: Record<string, unknown>): Promise<AdminReply> {
    const h = this.host;
    const cellId = String(req['cell'] ?? '');
    const r = h.replicas.get(cellId);
    if (!r || !r.isLeader) throw new KvError('NOT_LEADER', `node ${h.cfg.nodeId} does not lead cell ${cellId}`, { leaderHint: r?.raft.status().leader ?? '' });
    const cmd = commandOf(req);
    const before = { epoch: r.epoch, frozen: r.frozen };
    const { index } = await new Promise<{ index: number }>((resolve, reject) => {
      r.enqueueWrite({ cmd, resolve, reject, deadline: h.clock.now() + h.cfg.requestTimeoutMs });
      h.schedulePump();
    });
    // The leader applied it: whether it took effect shows in the cell's state.
    const applied = cmd.kind === 'mergeFreeze' ? r.frozen && !before.frozen : cmd.kind === 'mergeRollback' ? !r.frozen && before.frozen : r.epoch !== before.epoch;
    // After an abort: whether this cell (or the cell it split from) absorbed the source, which
    // its record says for good (a later split of this cell does not change the answer).
    const absorbed = cmd.kind === 'mergeAbort' && r.absorbed.includes(cmd.source);
    return { ok: true, applied, index, epoch: r.epoch, absorbed, versionTop: index + (r.data.applied.versionBase ?? 0) };
  }

  /** Admin `mergeDurable`: a replica here has absorbed `source` (merge-apply.ts absorberOf), on disk. */
  async durable(source: string): Promise<boolean> {
    if (absorberOf(source, this.host.replicas) === null) return false;
    await this.host.flushAll(true);
    return true;
  }

  /** Every 250 ms: finish stalled merges this node leads; retire absorbed replicas. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const now = this.host.clock.now();
      for (const r of [...this.host.replicas.values()]) {
        if (r.merge === null) continue;
        if (isAbsorbed(r, this.host.replicas)) await this.maybeRetire(r);
        // Measured from the freeze's replicated time (the proposer's clock): a stalled merge is
        // finished soon after on whichever node leads the cell then.
        else if (r.isLeader && !this.running.has(r.cellId) && now - r.merge.atMs > STALLED_MERGE_MS) await this.finishStalled(r);
      }
    } catch (e) {
      this.host.log.warn({ err: e }, 'merge round failed; the next one retries');
    } finally {
      this.ticking = false;
    }
  }

  private async maybeRetire(r: Replica): Promise<void> {
    const into = absorberOf(r.cellId, this.host.replicas)!;
    const req = { op: 'mergeDurable', source: r.cellId };
    for (const v of [...into.conf.voters, ...into.conf.votersOutgoing]) {
      const res = await this.ask(v, req, POLL_TIMEOUT_MS * 2).catch(() => null);
      if (res === null || res['durable'] !== true) return;
    }
    this.host.log.info({ cell: r.cellId, into: into.cellId }, 'retiring a merged replica');
    await this.host.retireReplica(r.cellId);
  }

  /** A frozen cell whose merge run ended early (its runner crashed): commit if R caught up, else give up. */
  private async finishStalled(r: Replica): Promise<void> {
    const merge = r.merge!;
    // The left cell may have moved off this node: its leader is found through the directory.
    const local = this.host.replicas.get(merge.into);
    const left = local !== undefined ? refOf(local) : this.refFromDirectory(merge.into);
    if (left === null) return;
    this.running.add(r.cellId);
    try {
      const m: FreezeFacts = { ...merge, sourceEpoch: r.epoch, versionTop: merge.freezeIndex + (r.data.applied.versionBase ?? 0) };
      this.host.log.warn({ cell: r.cellId, into: merge.into, frozenForMs: this.host.clock.now() - merge.atMs }, 'finishing a stalled merge');
      if (await this.waitApplied(r, merge.freezeIndex, 1000)) await this.commit(left, r, m);
      else await this.giveUp(left, r, m);
    } finally {
      this.running.delete(r.cellId);
    }
  }

  /** Waits until every voter of `r` reports its replica applied at least `index`. */
  private async waitApplied(r: Replica, index: number, timeoutMs: number): Promise<boolean> {
    const deadline = this.host.clock.now() + timeoutMs;
    const pending = new Set([...r.conf.voters, ...r.conf.votersOutgoing]);
    while (this.host.clock.now() < deadline) {
      const answers = await Promise.all([...pending].map(async (v) => [v, v === this.host.cfg.nodeId ? r.data.applied.index : await this.appliedOn(v, r.cellId)] as const));
      for (const [v, applied] of answers) if (applied >= index) pending.delete(v);
      if (pending.size === 0) return true;
      await this.host.clock.sleep(20);
    }
    return false;
  }

  private async appliedOn(node: string, cellId: string): Promise<number> {
    const res = await this.ask(node, { op: 'status' }, POLL_TIMEOUT_MS).catch(() => null);
    const cells = (res?.['cells'] ?? []) as { cell: string; dataApplied?: number }[];
    return cells.find((c) => c.cell === cellId)?.dataApplied ?? -1;
  }

  /** One merge step on the cell's leader: here if this node leads, else over the admin surface. */
  private async step(r: CellRef, req: Record<string, unknown>): Promise<AdminReply> {
    let hint: string | null = r.leader;
    let lastErr: unknown = null;
    const voters = [...r.voters];
    for (let attempt = 0; attempt < LEADER_ATTEMPTS; attempt++) {
      const target = hint ?? voters[attempt % voters.length]!;
      try {
        if (target === this.host.cfg.nodeId) return await this.proposeStep(req);
        const res = await this.ask(target, { op: 'mergeStep', ...req });
        if (res.ok) return res;
        lastErr = new KvError((res.code as never) ?? 'UNAVAILABLE', res.message ?? 'merge step failed');
        hint = res.code === 'NOT_LEADER' && res.leaderHint ? res.leaderHint : null;
      } catch (e) {
        lastErr = e;
        hint = e instanceof KvError && e.code === 'NOT_LEADER' && typeof e.details?.['leaderHint'] === 'string' && e.details['leaderHint'] !== '' ? (e.details['leaderHint'] as string) : null;
      }
      await this.host.clock.sleep(100 * Math.min(attempt + 1, 5));
    }
    throw lastErr instanceof KvError ? lastErr : new KvError('UNAVAILABLE', `no leader of cell ${r.cellId} took the merge step; retry`);
  }

  private refFromDirectory(cellId: string): CellRef | null {
    const d = this.host.directory()?.cells.find((c) => c.id === cellId);
    if (d === undefined) return null;
    return { cellId, leader: null, voters: d.replicas.filter((x) => x.role === 'voter').map((x) => x.node) };
  }

  private async ask(node: string, req: Record<string, unknown>, timeoutMs = ADMIN_TIMEOUT_MS): Promise<AdminReply> {
    return (await askNode(() => this.host.transport(), node, req, timeoutMs)) as AdminReply;
  }
}

/** Why two local replicas cannot merge (right into left), or null. */
export function mergeRefusal(left: Replica, right: Replica): string | null {
  if (left.cellId === META_CELL_ID || right.cellId === META_CELL_ID) return 'the meta cell does not merge';
  if (left.frozen || right.frozen) return 'one of the cells is frozen for another merge';
  if (left.range.end === null || compareBytes(left.range.end, right.range.start) !== 0) return `${right.cellId} does not start where ${left.cellId} ends`;
  if (isJoint(left.conf) || isJoint(right.conf) || left.conf.learners.length > 0 || right.conf.learners.length > 0) return 'a membership change (a replica move) is in progress; retry after it';
  const a = [...left.conf.voters].sort().join(',');
  const b = [...right.conf.voters].sort().join(',');
  if (a !== b) return `the cells have different replicas (${a} vs ${b}); move replicas so both are on the same nodes first`;
  return null;
}

function commandOf(req: Record<string, unknown>): RangeCommand {
  const num = (k: string) => {
    const v = req[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new KvError('INVALID_ARGUMENT', `merge step needs a non-negative integer ${k}`);
    return v;
  };
  const str = (k: string) => {
    const v = req[k];
    if (typeof v !== 'string' || v.length === 0) throw new KvError('INVALID_ARGUMENT', `merge step needs ${k}`);
    return v;
  };
  const hex = (v: unknown) => {
    if (typeof v !== 'string' || !/^([0-9a-f]{2})*$/.test(v)) throw new KvError('INVALID_ARGUMENT', 'merge step needs hex keys');
    return bytesOfHex(v);
  };
  switch (req['step']) {
    case 'freeze':
      return { kind: 'mergeFreeze', into: str('into'), intoEpoch: num('intoEpoch'), epoch: num('epoch'), atMs: num('atMs') };
    case 'commit': {
      const cmd: MergeCommitCommand = {
        kind: 'mergeCommit',
        source: str('source'),
        sourceStart: hex(req['sourceStart']),
        sourceEnd: req['sourceEnd'] === null ? null : hex(req['sourceEnd']),
        sourceEpoch: num('sourceEpoch'),
        freezeIndex: num('freezeIndex'),
        sourceVersionTop: num('sourceVersionTop'),
        epoch: num('epoch'),
      };
      return cmd;
    }
    case 'rollback':
      return { kind: 'mergeRollback', epoch: num('epoch') };
    case 'abort':
      return { kind: 'mergeAbort', source: str('source'), epoch: num('epoch') };
    default:
      throw new KvError('INVALID_ARGUMENT', 'merge step is freeze, commit, abort or rollback');
  }
}
