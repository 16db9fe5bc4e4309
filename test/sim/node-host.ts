// One simulated node: a RaftNode, its stable storage (MemoryStorage = what survived on disk),
// the KV state machine, and the driver that handles each Ready per the persistence contract.
// Persisting takes simulated time: a Ready is received at one tick and persisted at a later one,
// so a crash in between loses exactly what a real crash would.

import { assert } from '../../shared/assert.js';
import {
  decodeConfChange,
  maySendEarly,
  MemoryStorage,
  RaftNode,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type RaftMutation,
  type Ready,
  type Status,
} from '../../cell/raft/index.js';
import type { ClientReply, ClientRequest } from './client-protocol.js';
import { describeConf, describeMessage } from './describe.js';
import { noPromises, type Promises } from './invariants.js';
import { checkConfChange } from './conf-model.js';
import { NodeChecks, type CheckEnv } from './node-checks.js';
import { KvStateMachine } from './kv-state-machine.js';
import { MAX_READS, PendingRequests, type LocalReads } from './pending-requests.js';
import type { Rng } from './rng.js';
import type { Tracer } from './trace.js';

export interface HostOptions {
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly preVote: boolean;
  readonly checkQuorum: boolean;
  readonly maxMsgBytes: number;
  readonly maxInflightMsgs: number;
  readonly maxInflightBytes?: number;
  readonly maxUncommittedBytes?: number;
  readonly maxCommittedBytesPerReady?: number;
  readonly snapshotChunkBytes: number;
  readonly mutation: RaftMutation;
  /** Mutation of the driver: send a Ready's messages before persisting it. */
  readonly ackBeforePersist: boolean;
  /** Mutation of the driver: also send these election messages before the Ready is durable. */
  readonly earlyElectionTraffic: 'vote' | 'voteResp' | null;
  /** Send what maySendEarly() allows as soon as a Ready arrives (overlapping disk writes). */
  readonly earlySend: boolean;
  /**
   * Mutation of the driver: answer reads from local state without ReadIndex, on any node or
   * only on a node that believes it is the leader (a lease without a clock).
   */
  readonly localReads: LocalReads;
  /** Keep stepping and ticking the core while a Ready waits to be persisted. */
  readonly stepWhileBusy: boolean;
  /** Take a snapshot every this many applied entries (the first one as soon as anything applies). */
  readonly snapshotEvery: number;
  /** Entries kept behind a snapshot when compacting. */
  readonly snapshotKeep: number;
}

export interface HostEnv extends CheckEnv {
  readonly trace: Tracer;
  /** `from` sent `to` an acknowledgement of `index` in `term`. */
  noteAck(from: NodeId, to: NodeId, term: number, index: number): void;
  /** Probability that a Ready carrying votes or vote requests ends in a crash around its persist. */
  electionCrashRate(): number;
  /** This node crashed by itself (an election crash point): schedule its restart. */
  onSelfCrash(id: NodeId): void;
  now(): number;
  sendRaft(msg: Message): boolean;
  sendClient(reply: ClientReply): void;
  /** Ticks the next Ready takes to persist (the nemesis' slow disk). */
  persistDelay(): number;
}

const INBOX_CAP = 1024;
const REQUEST_CAP = 64;
const ACTION_CAP = 64;
const MAX_READIES_PER_TURN = 8;

export class NodeHost {
  readonly storage: MemoryStorage;
  private raft: RaftNode | null = null;
  private sm: KvStateMachine | null = null;
  private conf: ConfState;
  /** A Ready received but not yet persisted, and the messages still held back until it is. */
  private busy: { rd: Ready; persistAt: number; later: readonly Message[]; crashAfterPersist: boolean } | null = null;
  /** The hard state as of the last synced write: a crash loses later unsynced (commit-only) ones. */
  private syncedHardState: HardState;
  /** The checks of the core's paths on this node (node-checks.ts). */
  private readonly checks: NodeChecks;
  private readonly crashRng: Rng;
  private inbox: Message[] = [];
  private requests: ClientRequest[] = [];
  private actions: ((r: RaftNode) => void)[] = [];
  private readonly pending: PendingRequests;
  /** Highest durable committed index already fed to the log-matching check. */
  private checkedCommit = 0;
  private lastLeaderTerm = -1;
  private incarnation = 0;
  /** What this node told others (survives crashes: the others remember it). */
  private readonly promised: Promises = noPromises();
  alive = false;
  /** Removed from the cluster and shut down for good. */
  retired = false;
  droppedInbox = 0;

  constructor(
    readonly id: NodeId,
    private readonly opts: HostOptions,
    private readonly env: HostEnv,
    private readonly rng: Rng,
    bootstrap: ConfState | null,
  ) {
    this.pending = new PendingRequests(id, env.sendClient, env.trace, opts.localReads, (ctx) => this.checks.onLocalRead(this.raft!, ctx));
    this.storage = new MemoryStorage();
    if (bootstrap !== null) this.storage.bootstrap(bootstrap);
    this.syncedHardState = this.storage.hardStateNow();
    this.checks = new NodeChecks(id, env, this.storage, () => this.syncedHardState);
    this.crashRng = rng.fork('election-crash');
    this.conf = this.storage.snapshot().metadata.confState;
  }

  /** Builds the volatile node from stable storage (first start and every restart). */
  start(): void {
    assert(!this.alive && !this.retired, `${this.id} started twice`);
    this.env.checker.onRestart(this.id, this.promised, this.storage.hardStateNow(), this.storage.lastIndex());
    const snap = this.storage.snapshot();
    const sm = KvStateMachine.fromSnapshot(snap.data, snap.metadata.index);
    this.env.checker.onSnapshotState(this.id, snap.metadata.index, sm.digest);
    this.sm = sm;
    this.conf = snap.metadata.confState;
    this.incarnation++;
    const rng = this.rng.fork(`raft-${this.incarnation}`);
    this.raft = new RaftNode({
      id: this.id,
      storage: this.storage,
      electionTicks: this.opts.electionTicks,
      heartbeatTicks: this.opts.heartbeatTicks,
      random: () => rng.next(),
      applied: snap.metadata.index,
      preVote: this.opts.preVote,
      checkQuorum: this.opts.checkQuorum,
      maxMsgBytes: this.opts.maxMsgBytes,
      maxInflightMsgs: this.opts.maxInflightMsgs,
      ...(this.opts.maxInflightBytes === undefined ? {} : { maxInflightBytes: this.opts.maxInflightBytes }),
      ...(this.opts.maxUncommittedBytes === undefined ? {} : { maxUncommittedBytes: this.opts.maxUncommittedBytes }),
      ...(this.opts.maxCommittedBytesPerReady === undefined ? {} : { maxCommittedBytesPerReady: this.opts.maxCommittedBytesPerReady }),
      snapshotChunkBytes: this.opts.snapshotChunkBytes,
      maxPendingReads: MAX_READS,
      mutation: this.opts.mutation,
    });
    this.alive = true;
    this.lastLeaderTerm = -1;
    this.checks.onStart(snap.metadata.index);
    this.env.trace.event(this.env.now(), () => `${this.id} start: snapshot@${snap.metadata.index} log..${this.storage.lastIndex()} hs=${JSON.stringify(this.storage.hardStateNow())}`);
  }

  /** Loses everything not in stable storage: the core, the state machine, unpersisted Ready work, callbacks. */
  crash(): void {
    assert(this.alive, `${this.id} crashed while down`);
    const lost = this.busy ? this.busy.rd.entries.length : 0;
    this.env.trace.event(this.env.now(), () => `${this.id} CRASH (unpersisted entries lost: ${lost})`);
    this.raft = null;
    this.sm = null;
    this.busy = null;
    this.inbox = [];
    this.requests = [];
    this.actions = [];
    this.pending.clear();
    this.checks.onCrash();
    // What was written without a sync is lost: the hard state goes back to the last synced
    // one (only commit-only changes skip the sync, so term and vote are never lost this way).
    if (this.storage.hardStateNow() !== this.syncedHardState) this.storage.setHardState(this.syncedHardState);
    this.alive = false;
  }

  /** A crash at an election crash point: the cluster restarts the node later. */
  private crashSelf(when: string): void {
    this.env.trace.event(this.env.now(), () => `${this.id} election crash point: ${when}`);
    this.crash();
    this.env.onSelfCrash(this.id);
  }

  retire(): void {
    if (this.alive) this.crash();
    this.retired = true;
  }

  status(): Status | null {
    return this.raft === null ? null : this.raft.status();
  }

  /** Whether this node's commit index has reached an entry of its current term. */
  committedOwnTerm(): boolean {
    const r = this.raft;
    if (r === null) return false;
    const st = r.status();
    return r.termAt(st.commit) === st.term;
  }

  /** The configuration this node has applied. */
  confState(): ConfState {
    return this.conf;
  }

  /** Index of the last conf change this node applied (0 if none since it started). */
  private confIndex = 0;

  lastConfIndex(): number {
    return this.confIndex;
  }

  /** The commit index this node would restart with (synced hard state or snapshot). */
  durableCommit(): number {
    return Math.max(this.syncedHardState.commit, this.storage.snapshot().metadata.index);
  }

  applied(): number {
    return this.sm?.applied ?? 0;
  }

  digest(): number | null {
    return this.sm?.digest ?? null;
  }

  pendingProposals(): number {
    return this.pending.proposalCount();
  }

  hasUnpersistedEntries(): boolean {
    return this.busy !== null && (this.busy.rd.entries.length > 0 || this.busy.rd.hardState !== null);
  }

  deliver(msg: Message): void {
    if (!this.alive) return;
    if (this.inbox.length >= INBOX_CAP) {
      this.droppedInbox++;
      return;
    }
    this.inbox.push(msg);
  }

  request(req: ClientRequest): void {
    if (!this.alive) return;
    if (this.requests.length >= REQUEST_CAP) {
      this.pending.reply(req, { type: 'rejected', error: 'OVERLOADED', leaderHint: null });
      return;
    }
    this.requests.push(req);
  }

  /** Runs `fn` against the core at this node's next turn, with its other input (never inside Ready handling). */
  act(fn: (r: RaftNode) => void): boolean {
    if (!this.alive || this.actions.length >= ACTION_CAP) return false;
    this.actions.push(fn);
    return true;
  }

  /** One tick of this node: finish a due Ready, take input, tick, start the next Ready. */
  turn(now: number): void {
    if (!this.alive) return;
    const raft = this.raft!;
    if (this.busy !== null && this.busy.persistAt <= now) this.finishReady();
    if (!this.alive) return; // crashed at an election crash point
    if (this.busy !== null && !this.opts.stepWhileBusy) return; // a stalled disk stalls the node
    const inbox = this.inbox;
    this.inbox = [];
    for (const m of inbox) {
      this.checks.step(raft, m);
      // After every message: a node may win and lose leadership within one turn.
      this.observeRole();
      this.checks.observeCommit(raft);
    }
    const actions = this.actions;
    this.actions = [];
    for (const fn of actions) fn(raft);
    this.observeRole();
    const requests = this.requests;
    this.requests = [];
    for (const req of requests) this.pending.handle(raft, this.sm!, req, now);
    this.checks.tick(raft);
    this.pending.expireReads(now);
    this.observeRole();
    this.checks.observeCommit(raft);
    // Like a real driver, keep handling Readies while they come (a restarted node replaying a
    // long log in small Readies), but boundedly: a slow disk stops the loop (busy).
    for (let i = 0; i < MAX_READIES_PER_TURN && this.alive && this.busy === null && raft.hasReady(); i++) this.startReady(now);
  }

  /** Election safety and leader completeness, checked whenever this node is leader. */
  private observeRole(): void {
    const st = this.raft!.status();
    if (st.role !== 'leader') return;
    this.env.checker.onLeader(this.id, st.term);
    if (st.term === this.lastLeaderTerm) return;
    this.lastLeaderTerm = st.term;
    // Off with the durable-vote check, where the test is that two leaders in a term are seen.
    if (this.env.checker.voteCheck) this.env.quorum.onBecameLeader(this.id, st.term, st.confState);
    const raft = this.raft!;
    this.env.checker.onBecameLeader(this.id, st.term, { termAt: (i) => raft.termAt(i), lastIndex: () => raft.status().lastIndex });
  }

  private startReady(now: number): void {
    const rd = this.raft!.ready();
    const delay = this.env.persistDelay();
    assert(delay >= 0 && delay <= 20, `persist delay ${delay} out of range`);
    if (rd.softState !== null) {
      const ss = rd.softState;
      this.env.trace.event(now, () => `${this.id} role ${ss.role} (leader ${ss.leader ?? '-'}) term ${this.raft!.status().term}`);
    }
    // What may leave before the Ready is durable: the contract allows messages that promise
    // nothing about this node's disk (maySendEarly); the mutation sends everything.
    let later: readonly Message[] = rd.messages;
    if (this.opts.ackBeforePersist && delay > 0) {
      this.sendAll(rd.messages);
      later = [];
    } else if (this.opts.earlySend || this.opts.earlyElectionTraffic !== null) {
      const now: Message[] = [];
      const held: Message[] = [];
      for (const m of rd.messages) (this.mayLeaveEarly(rd, m) ? now : held).push(m);
      this.sendAll(now);
      later = held;
    }
    for (const m of rd.messages) {
      if (m.type === 'readIndexResp') this.checks.onRemoteReadAnswered(this.raft!, m);
    }
    // Crash points around the persistence of election traffic: a crash before the Ready is
    // durable (after whatever left early), or after it is durable but before the rest leaves.
    let crashAfterPersist = false;
    const rate = this.env.electionCrashRate();
    if (rate > 0 && rd.messages.some((m) => m.type === 'vote' || (m.type === 'voteResp' && !m.reject)) && this.crashRng.chance(rate)) {
      if (this.crashRng.chance(0.5)) return this.crashSelf('election Ready not yet durable');
      crashAfterPersist = true;
    }
    this.busy = { rd, persistAt: now + delay, later, crashAfterPersist };
    if (delay === 0) this.finishReady();
  }

  /** The contract's early messages, plus the election traffic a driver mutation sends early. */
  private mayLeaveEarly(rd: Ready, m: Message): boolean {
    return maySendEarly(rd, m) || m.type === this.opts.earlyElectionTraffic;
  }

  private finishReady(): void {
    const { rd, later, crashAfterPersist } = this.busy!;
    const raft = this.raft!;
    const checker = this.env.checker;
    if (rd.snapshot !== null) this.installSnapshot(rd);
    if (rd.entries.length > 0) {
      this.checkOverwrite(rd.entries);
      this.storage.append(rd.entries);
    }
    if (rd.hardState !== null) {
      const prev = this.storage.hardStateNow();
      checker.onHardState(this.id, prev, rd.hardState);
      this.storage.setHardState(rd.hardState);
      const c = rd.hardState.commit;
      if (c > prev.commit && raft.status().role === 'leader' && c >= this.storage.firstIndex() && this.storage.term(c) < rd.hardState.term) {
        checker.oldTermCommits++;
      }
    }
    // A synced write makes everything written before it durable too.
    if (rd.mustSync) this.syncedHardState = this.storage.hardStateNow();
    this.checkCommitted();
    // A crash point armed before the heal is disarmed by it (the rate drops to 0).
    if (crashAfterPersist && this.env.electionCrashRate() > 0) return this.crashSelf('election Ready durable, messages not sent');
    this.sendAll(later);
    const ce = rd.committedEntries;
    if (ce.length > 0) this.env.trace.event(this.env.now(), () => `${this.id} apply ${ce[0]!.index}..${ce[ce.length - 1]!.index}`);
    for (const e of ce) this.applyEntry(e);
    for (const rs of rd.readStates) {
      this.checks.onLocalReadAnswered(raft, rs.context, rs.index);
      this.pending.onReadState(rs.context, rs.index);
    }
    this.pending.serveReads(this.sm!);
    this.maybeSnapshot();
    raft.advance();
    this.busy = null;
    this.checks.observeCommit(raft);
  }

  private installSnapshot(rd: Ready): void {
    const snap = rd.snapshot!;
    const idx = snap.metadata.index;
    this.storage.applySnapshot(snap);
    const sm = KvStateMachine.fromSnapshot(snap.data, idx);
    this.env.checker.onSnapshotState(this.id, idx, sm.digest);
    this.sm = sm;
    this.conf = snap.metadata.confState;
    this.checkedCommit = Math.max(this.checkedCommit, idx);
    this.pending.onSnapshot(idx);
    this.env.trace.event(this.env.now(), () => `${this.id} installed snapshot @${idx} term ${snap.metadata.term} conf ${describeConf(snap.metadata.confState)}`);
  }

  /** Entries at or below the durable commit index may be rewritten only with identical ones. */
  private checkOverwrite(entries: readonly Entry[]): void {
    const durableCommit = this.storage.hardStateNow().commit;
    // Diagnostics: how much divergent suffix the schedules made nodes overwrite.
    const first = entries[0]!.index;
    if (first >= this.storage.firstIndex() && first <= this.storage.lastIndex() && this.storage.term(first) !== entries[0]!.term) {
      const n = this.storage.lastIndex() - first + 1;
      this.env.checker.truncatedEntries += n;
      if (n > this.env.checker.longestTruncation) this.env.checker.longestTruncation = n;
    }
    for (const e of entries) {
      if (e.index > durableCommit) break;
      if (e.index < this.storage.firstIndex() || e.index > this.storage.lastIndex()) continue;
      if (this.storage.term(e.index) !== e.term) this.env.checker.onAppend(this.id, e.index, durableCommit);
    }
  }

  /** Feeds newly committed durable entries to the log-matching check. */
  private checkCommitted(): void {
    const hs = this.storage.hardStateNow();
    const upto = Math.min(hs.commit, this.storage.lastIndex());
    let i = Math.max(this.checkedCommit + 1, this.storage.firstIndex());
    for (; i <= upto; i++) {
      const e = this.storage.entries(i, i + 1, Infinity)[0]!;
      this.env.checker.onCommitted(this.id, e, hs.term);
    }
    this.checkedCommit = Math.max(this.checkedCommit, upto);
  }

  private sendAll(msgs: readonly Message[]): void {
    const now = this.env.now();
    for (const m of msgs) {
      this.env.trace.event(now, () => describeMessage(m));
      this.notePromise(m);
      if (!this.env.sendRaft(m)) {
        const to = m.to;
        this.act((r) => r.reportUnreachable(to));
      }
    }
  }

  /** Remembers the latest append acknowledgement and vote this node sent. */
  private notePromise(m: Message): void {
    this.checks.beforeSend(m);
    if (m.type === 'appendResp' && !m.reject) this.env.noteAck(this.id, m.to, m.term, m.index);
    const p = this.promised;
    // Pre-votes are for a future term, and a forwarded read promises nothing.
    if (m.type !== 'preVote' && m.type !== 'preVoteResp' && m.type !== 'readIndex' && m.term > p.sentTerm) {
      p.sentTerm = m.term;
      p.sentType = m.type;
    }
    if (m.type === 'vote' && m.term > p.campaignTerm) p.campaignTerm = m.term;
    if (m.type === 'appendResp' && !m.reject) {
      if (m.term > p.ackTerm || (m.term === p.ackTerm && m.index > p.ackIndex)) {
        p.ackTerm = m.term;
        p.ackIndex = m.index;
      }
    } else if (m.type === 'voteResp' && !m.reject && m.term >= p.voteTerm) {
      p.voteTerm = m.term;
      p.voteFor = m.to;
    }
  }

  private applyEntry(e: Entry): void {
    const sm = this.sm!;
    if (e.index <= sm.applied) {
      assert(false, `${this.id} asked to re-apply ${e.index} (applied ${sm.applied})`);
    }
    const outcome = sm.applyEntry(e);
    this.env.checker.onApplied(this.id, e, sm.digest);
    if (e.kind === 'conf') {
      this.confIndex = e.index;
      const cc = decodeConfChange(e.data);
      this.env.trace.event(this.env.now(), () => `${this.id} applying conf @${e.index} term ${e.term} on ${describeConf(this.conf)}`);
      const before = this.conf;
      this.conf = this.raft!.applyConfChange(cc);
      checkConfChange(this.id, e.index, before, cc, this.conf);
      const cs = this.conf;
      this.env.trace.event(this.env.now(), () => `${this.id} applied conf @${e.index}: ${JSON.stringify(cc.changes)} -> ${describeConf(cs)}`);
    }
    this.pending.onApplied(e, outcome);
  }

  private maybeSnapshot(): void {
    const sm = this.sm!;
    const snapIndex = this.storage.snapshot().metadata.index;
    if (sm.applied - snapIndex < this.opts.snapshotEvery) return;
    this.storage.createSnapshot(sm.applied, this.conf, sm.toSnapshot());
    this.storage.compact(Math.max(1, sm.applied - this.opts.snapshotKeep));
    this.env.trace.event(this.env.now(), () => `${this.id} snapshot @${sm.applied}, log from ${this.storage.firstIndex()}`);
  }
}
