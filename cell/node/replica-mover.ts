// Replica moves (issue 10): a cell's replica goes from one node to another of the same AZ.
// On the cell's leader: the target prepares an empty replica; the leader compacts its log
// behind a fresh snapshot (so the learner starts from it, never from index 1), adds the
// target as a learner and waits until it caught up; if the leader itself is the replica to
// remove it hands leadership to another voter, which finishes the move; then ONE joint
// change promotes the learner and removes the old replica (auto-leave). The removed replica
// destroys itself (replica-gc.ts). Every applied membership change bumps the cell's epoch.

import { allMembers, isJoint } from '../raft/confchange.js';
import type { ConfChangeSingle, ConfState } from '../raft/types.js';
import { KvError, type ErrorCode } from '../../shared/errors.js';
import { isAbsorbed } from './merge-apply.js';
import { askNode } from './remote-ops.js';
import { META_CELL_ID, bytesOfHex, hexOf, type Directory } from '../../shared/directory.js';
import type { ReplicaRecord } from '../storage/records.js';
import type { NodeClock } from './clock.js';
import type { NodeConfig } from './config.js';
import type { Logger } from './log.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeTransportPort } from './ports.js';
import type { Replica } from './replica.js';

/** How long the learner may take to catch up (snapshot and log). */
const CATCH_UP_TIMEOUT_MS = 120_000;
const CONF_TIMEOUT_MS = 15_000;
const TRANSFER_TIMEOUT_MS = 10_000;
const PROGRESS_LOG_MS = 5_000;
const ADMIN_TIMEOUT_MS = 5_000;


/** A learner with no move running on the leader for this long is removed (its move died). */
const STALE_LEARNER_MS = 30_000;
export interface MoveRequest {
  readonly cell: string;
  readonly from: string;
  readonly to: string;
  /** Set by a leader that handed leadership over: the learner exists, finish the move. */
  readonly resume?: boolean;
  /** Set on a request forwarded to the leader (forwarded at most once). */
  readonly forwarded?: boolean;
}

export interface MoveResult {
  readonly cell: string;
  readonly from: string;
  readonly to: string;
  readonly epoch: number;
  readonly voters: readonly string[];
  /** The node that finished the move (the leader after a hand-over). */
  readonly finishedBy: string;
  readonly snapshotBytes: number;
  readonly steps: readonly { readonly step: string; readonly ms: number }[];
  readonly seconds: number;
}

export interface PrepareRequest {
  readonly cell: string;
  readonly start: string;
  readonly end: string | null;
  readonly epoch: number;
}

/** What moving replicas needs from the node (CellNode provides it). */
export interface MoverHost {
  readonly cfg: Pick<NodeConfig, 'nodeId' | 'az' | 'bootstrap' | 'tickMs'>;
  readonly clock: NodeClock;
  readonly replicas: ReadonlyMap<string, Replica>;
  readonly metrics: Pick<NodeMetrics, 'replicaMoves' | 'replicaMoveSeconds'>;
  readonly log: Logger;
  directory(): Directory | null;
  transport(): NodeTransportPort | null;
  schedulePump(): void;
  /** A sendable snapshot now and the log compacted behind it (SnapshotKeeper.compactNow). */
  compactNow(r: Replica): Promise<{ index: number; bytes: number; firstIndex: number }>;
  /** Writes the cell's descriptor into the directory (DirectorySync.publish). */
  publish(cells: readonly Replica[], azHints: ReadonlyMap<string, string>): Promise<void>;
  /** Target side: destroys a zombie replica of the cell (between pump rounds). */
  destroyZombie(r: Replica): Promise<void>;
  /** Target side: writes the record of an empty replica durably and opens it (between pump rounds). */
  createEmptyReplica(rec: ReplicaRecord): Promise<Replica>;
}

function refuse(code: ErrorCode, reason: string, message: string, details: Record<string, string> = {}): KvError {
  return new KvError(code, message, { reason, ...details });
}

export class ReplicaMover {
  private readonly moving = new Set<string>();
  /** Since when each led cell has had learners with no move running here (sweepStaleLearners). */
  private readonly learnerSince = new Map<string, number>();
  /** AZs learned from nodes' own status answers (nodes the directory does not list yet). */
  private readonly azHints = new Map<string, string>();

  constructor(private readonly host: MoverHost) {}

  /** The admin `move` op: run here if this node leads the cell, else forwarded once to its leader. */
  async handleMove(req: MoveRequest): Promise<MoveResult> {
    const h = this.host;
    const r = h.replicas.get(req.cell);
    const leader = r?.raft.status().leader ?? null;
    if (r && !r.isLeader && leader && leader !== h.cfg.nodeId && !req.forwarded) {
      return this.forward(leader, { ...req, forwarded: true });
    }
    return this.moveReplica(req.cell, req.from, req.to, req.resume ?? false);
  }

  /** Moves `cellId`'s replica from `from` to `to`; runs on the cell's leader. */
  async moveReplica(cellId: string, from: string, to: string, resume = false): Promise<MoveResult> {
    const h = this.host;
    const t0 = h.clock.now();
    const r = h.replicas.get(cellId);
    try {
      await this.checkMove(r, cellId, from, to, resume);
    } catch (e) {
      h.metrics.replicaMoves.inc({ result: 'refused' });
      throw e;
    }
    const replica = r!;
    this.moving.add(cellId);
    const steps: { step: string; ms: number }[] = [];
    let mark = t0;
    const step = (name: string) => {
      const now = h.clock.now();
      steps.push({ step: name, ms: now - mark });
      mark = now;
    };
    let learnerAdded = resume;
    let handedOver = false;
    let snapshotBytes = 0;
    try {
      if (!resume) {
        await this.adminCall(to, { op: 'prepareReplica', cell: cellId, ...hexRangeOf(replica), epoch: replica.epoch });
        step('prepare');
        const snap = await h.compactNow(replica);
        snapshotBytes = snap.bytes;
        h.log.info({ cell: cellId, to, snapshotIndex: snap.index, bytes: snap.bytes, firstIndex: snap.firstIndex }, 'move: snapshot built, log compacted');
        step('snapshot');
        await this.changeConf(replica, [{ type: 'addLearner', node: to }], (c) => c.learners.includes(to));
        learnerAdded = true;
        step('addLearner');
      }
      await this.awaitCatchUp(replica, to);
      step('catchUp');
      if (from === h.cfg.nodeId) {
        const next = await this.handOver(replica, from, to);
        handedOver = true;
        step('transferLeadership');
        const res = await this.forward(next, { cell: cellId, from, to, resume: true, forwarded: true });
        h.metrics.replicaMoves.inc({ result: 'ok' });
        return { ...res, snapshotBytes, steps: [...steps, ...res.steps], seconds: (h.clock.now() - t0) / 1000 };
      }
      await this.changeConf(
        replica,
        [
          { type: 'addVoter', node: to },
          { type: 'removeNode', node: from },
        ],
        (c) => c.voters.includes(to) && !allMembers(c).includes(from),
      );
      step('promoteAndRemove');
      // The meta cell is not routed by the directory (its members are the nodes hosting it).
      if (cellId !== META_CELL_ID) await h.publish([replica], this.azHints).catch((e: unknown) => h.log.warn({ cell: cellId, err: (e as Error).message }, 'move: directory publication failed; the periodic reconcile retries'));
      step('publish');
      const seconds = (h.clock.now() - t0) / 1000;
      h.metrics.replicaMoves.inc({ result: 'ok' });
      h.metrics.replicaMoveSeconds.observe(seconds);
      h.log.info({ cell: cellId, from, to, epoch: replica.epoch, seconds, steps }, 'replica moved');
      return { cell: cellId, from, to, epoch: replica.epoch, voters: [...replica.conf.voters], finishedBy: h.cfg.nodeId, snapshotBytes, steps, seconds };
    } catch (e) {
      h.metrics.replicaMoves.inc({ result: 'failed' });
      h.log.warn({ cell: cellId, from, to, err: (e as Error).message, steps }, 'replica move failed');
      // A learner nobody will promote is taken out again (its node collects the replica).
      if (learnerAdded && !handedOver && replica.isLeader && !isJoint(replica.conf) && replica.conf.learners.includes(to)) {
        await this.changeConf(replica, [{ type: 'removeNode', node: to }], (c) => !allMembers(c).includes(to)).catch(() => undefined);
      }
      throw e;
    } finally {
      this.moving.delete(cellId);
    }
  }

  /** The refusals: each says what to do instead. */
  private async checkMove(r: Replica | undefined, cellId: string, from: string, to: string, resume: boolean): Promise<void> {
    const h = this.host;
    if (!r) throw refuse('NOT_FOUND', 'NO_REPLICA', `node ${h.cfg.nodeId} has no replica of cell ${cellId}; send the move to a node of the cell (see \`npx cellkv cells\`)`);
    if (!r.isLeader) {
      const hint = r.raft.status().leader ?? '';
      throw new KvError('NOT_LEADER', `node ${h.cfg.nodeId} does not lead cell ${cellId}; send the move to its leader${hint ? ` (${hint})` : ''}`, { leaderHint: hint, reason: 'NOT_LEADER' });
    }
    // The cell is absorbing a frozen neighbour: its nodes must keep that neighbour's replicas.
    if ([...h.replicas.values()].some((x) => x.merge?.into === cellId && !isAbsorbed(x, h.replicas))) {
      throw refuse('UNAVAILABLE', 'MERGE_IN_PROGRESS', `cell ${cellId} is absorbing a neighbour; move it after the merge`);
    }
    if (r.frozen) throw refuse('UNAVAILABLE', 'FROZEN', `cell ${cellId} is being merged into ${r.merge?.into ?? 'its neighbour'}; move replicas of the merged cell afterwards`);
    if (from === to) throw refuse('INVALID_ARGUMENT', 'SAME_NODE', `--from and --to are both ${from}; name two nodes`);
    if (this.moving.has(cellId)) throw refuse('UNAVAILABLE', 'MOVE_IN_PROGRESS', `a move of cell ${cellId} is running; wait for it to finish and retry`);
    const conf = r.conf;
    if (isJoint(conf)) {
      throw refuse('UNAVAILABLE', 'JOINT_CONFIG', `cell ${cellId} is changing its membership; retry in a few seconds`);
    }
    if (!conf.voters.includes(from)) throw refuse('INVALID_ARGUMENT', 'NOT_A_VOTER', `node ${from} is not a voter of cell ${cellId} (voters: ${conf.voters.join(', ')}); move one of those`);
    if (resume) {
      if (!conf.learners.includes(to)) throw refuse('INVALID_ARGUMENT', 'NO_LEARNER', `node ${to} is not a learner of cell ${cellId}; start the move again`);
    } else if (allMembers(conf).includes(to)) {
      throw refuse('ALREADY_EXISTS', 'ALREADY_MEMBER', `node ${to} is already a member of cell ${cellId}; pick a node without a replica of it`);
    }
    const [azFrom, azTo] = await Promise.all([this.azOf(from), this.azOf(to)]);
    if (azFrom !== azTo) {
      throw refuse('INVALID_ARGUMENT', 'AZ_MISMATCH', `node ${to} is in ${azTo} but ${from} is in ${azFrom}: a cell keeps one replica per AZ, so move to a node of ${azFrom}`, { fromAz: azFrom, toAz: azTo });
    }
  }

  /** A node's AZ: this node, the directory's node records and replicas, the bootstrap list, else its own status. */
  private async azOf(node: string): Promise<string> {
    const h = this.host;
    if (node === h.cfg.nodeId) return h.cfg.az;
    const dir = h.directory();
    const known =
      dir?.nodes.find((n) => n.id === node)?.az ??
      dir?.cells.flatMap((c) => c.replicas).find((x) => x.node === node && x.az !== 'unknown')?.az ??
      h.cfg.bootstrap.find((n) => n.id === node)?.az ??
      this.azHints.get(node);
    if (known) return known;
    let st: Record<string, unknown>;
    try {
      st = await this.adminCall(node, { op: 'status' });
    } catch (e) {
      throw refuse('UNAVAILABLE', 'NODE_UNREACHABLE', `node ${node} does not answer (${(e as Error).message}); check that it runs (\`npx cellkv status\`) and retry`);
    }
    const az = String(st['az'] ?? '');
    if (az === '') throw refuse('UNAVAILABLE', 'NODE_UNREACHABLE', `node ${node} did not say its AZ; retry`);
    this.azHints.set(node, az);
    return az;
  }

  /**
   * Every few seconds on each leader: a learner with no move running here for a while was left
   * by a move whose leader died or lost the leadership; it is removed (its node destroys the
   * replica), so the cell's membership does not stay blocked for later moves.
   */
  sweepStaleLearners(): void {
    const now = this.host.clock.now();
    for (const r of this.host.replicas.values()) {
      if (!r.isLeader || isJoint(r.conf) || r.conf.learners.length === 0 || this.moving.has(r.cellId)) {
        this.learnerSince.delete(r.cellId);
        continue;
      }
      const since = this.learnerSince.get(r.cellId) ?? now;
      this.learnerSince.set(r.cellId, since);
      if (now - since < STALE_LEARNER_MS) continue;
      const res = r.raft.proposeConfChange({ changes: r.conf.learners.map((node) => ({ type: 'removeNode' as const, node })), autoLeave: true });
      this.learnerSince.delete(r.cellId);
      if (res.ok) {
        this.host.log.warn({ cell: r.cellId, learners: r.conf.learners }, 'removing learners left by an unfinished move');
        this.host.schedulePump();
      }
    }
  }

  /** Proposes one conf change and waits until it (and its auto-leave) applied here. */
  private async changeConf(r: Replica, changes: ConfChangeSingle[], done: (c: ConfState) => boolean): Promise<void> {
    const h = this.host;
    const res = r.raft.proposeConfChange({ changes, autoLeave: true });
    if (!res.ok) {
      if (res.error === 'NOT_LEADER') throw new KvError('NOT_LEADER', `node ${h.cfg.nodeId} lost the leadership of cell ${r.cellId} during the move; retry on the new leader`, { leaderHint: res.leaderHint ?? '' });
      throw refuse('UNAVAILABLE', res.error, `cell ${r.cellId} refused the membership change (${res.error}); retry in a few seconds`);
    }
    h.schedulePump();
    await this.waitUntil(CONF_TIMEOUT_MS, () => !isJoint(r.conf) && done(r.conf), `the membership change of cell ${r.cellId} did not apply within ${CONF_TIMEOUT_MS} ms`, r);
  }

  /** Waits until the learner's match index reaches the leader's commit index of now. */
  private async awaitCatchUp(r: Replica, to: string): Promise<void> {
    const h = this.host;
    const target = r.raft.status().commit;
    let lastLog = h.clock.now();
    const started = lastLog;
    const matchOf = () => r.raft.progress().find((p) => p.id === to)?.match ?? 0;
    await this.waitUntil(
      CATCH_UP_TIMEOUT_MS,
      () => {
        const match = matchOf();
        const now = h.clock.now();
        if (now - lastLog >= PROGRESS_LOG_MS) {
          lastLog = now;
          h.log.info({ cell: r.cellId, to, match, target, seconds: (now - started) / 1000 }, 'move: learner catching up');
        }
        return match >= target;
      },
      `the learner on ${to} did not catch up within ${CATCH_UP_TIMEOUT_MS / 1000} s (match ${matchOf()} of ${target}); check its node and retry`,
      r,
    );
  }

  /** Hands the leadership to the caught-up voter other than `from`; returns the new leader. */
  private async handOver(r: Replica, from: string, to: string): Promise<string> {
    const h = this.host;
    const progress = r.raft.progress();
    const candidates = r.conf.voters.filter((v) => v !== from && v !== to);
    const best = candidates.sort((a, b) => (progress.find((p) => p.id === b)?.match ?? 0) - (progress.find((p) => p.id === a)?.match ?? 0))[0];
    if (!best) throw refuse('UNAVAILABLE', 'NO_OTHER_VOTER', `cell ${r.cellId} has no other voter to lead it while ${from} leaves`);
    r.raft.transferLeadership(best);
    h.schedulePump();
    await this.waitUntil(TRANSFER_TIMEOUT_MS, () => !r.isLeader && r.raft.status().leader !== null, `leadership of cell ${r.cellId} did not move off ${from} within ${TRANSFER_TIMEOUT_MS} ms; retry`, null);
    return r.raft.status().leader!;
  }

  private async waitUntil(timeoutMs: number, ok: () => boolean, timeoutMessage: string, leaderOf: Replica | null): Promise<void> {
    const h = this.host;
    const deadline = h.clock.now() + timeoutMs;
    while (!ok()) {
      if (leaderOf && !leaderOf.isLeader) {
        throw new KvError('NOT_LEADER', `node ${h.cfg.nodeId} lost the leadership of cell ${leaderOf.cellId} during the move; check \`npx cellkv cells\` and retry`, { leaderHint: leaderOf.raft.status().leader ?? '' });
      }
      if (h.clock.now() >= deadline) throw refuse('UNAVAILABLE', 'TIMEOUT', timeoutMessage);
      await h.clock.sleep(h.cfg.tickMs);
    }
  }

  private async forward(node: string, req: MoveRequest): Promise<MoveResult> {
    const body = await this.adminCall(node, { op: 'move', ...req }, CATCH_UP_TIMEOUT_MS + 2 * CONF_TIMEOUT_MS + TRANSFER_TIMEOUT_MS);
    return body as unknown as MoveResult;
  }

  /** An admin request to another node; its refusal comes back as the same KvError. */
  private async adminCall(node: string, req: Record<string, unknown>, timeoutMs = ADMIN_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const body = await askNode(() => this.host.transport(), node, req, timeoutMs);
    if (body['ok'] !== true) {
      const details: Record<string, string> = {};
      for (const k of ['reason', 'leaderHint']) if (typeof body[k] === 'string') details[k] = body[k];
      throw new KvError((body['code'] as ErrorCode | undefined) ?? 'INTERNAL', `${node}: ${String(body['message'] ?? 'admin request failed')}`, details);
    }
    return body;
  }

  // ---------------------------------------------------------------- target side

  /**
   * The admin `prepareReplica` op on the target: an empty replica of the cell (no log, zero
   * hard state, no member yet), registered so it reopens after a restart. A zombie of an
   * earlier move (a replica here that is no member in its own configuration) is destroyed first.
   */
  async prepareReplica(req: PrepareRequest): Promise<{ cell: string; replaced: boolean }> {
    const h = this.host;
    const existing = h.replicas.get(req.cell);
    let replaced = false;
    if (existing) {
      if (allMembers(existing.conf).includes(h.cfg.nodeId)) {
        throw refuse('ALREADY_EXISTS', 'LOCAL_MEMBER', `node ${h.cfg.nodeId} holds a replica of cell ${req.cell} that still counts itself a member; wait until the removal check collects it (seconds) and retry`);
      }
      await h.destroyZombie(existing);
      replaced = true;
    }
    const rec: ReplicaRecord = { cellId: req.cell, start: req.start, end: req.end, epoch: req.epoch };
    // Validated before anything is written: the range must decode.
    bytesOfHex(req.start);
    if (req.end !== null) bytesOfHex(req.end);
    await h.createEmptyReplica(rec);
    h.log.info({ cell: req.cell, replaced, epoch: req.epoch }, 'move: empty replica prepared');
    return { cell: req.cell, replaced };
  }
}

function hexRangeOf(r: Replica): { start: string; end: string | null } {
  return { start: hexOf(r.range.start), end: r.range.end === null ? null : hexOf(r.range.end) };
}
