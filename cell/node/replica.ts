// One replica of one cell on this node: the Raft core, its durable log, its state machine,
// and the client operations waiting on it (proposals waiting for apply, reads waiting for a
// ReadIndex confirmation and then for apply).

import { RaftNode } from '../raft/raft.js';
import type { ConfState, Entry, RaftStorage, Ready, Snapshot } from '../raft/types.js';
import { SnapshotUnavailableError } from '../raft/types.js';
import { assert } from '../../shared/assert.js';
import type { CellData } from '../kv/cell-data.js';
import { isRangeCommand, type CellCommand, type OpResult } from '../../shared/cell-protocol.js';
import { KvError } from '../../shared/errors.js';
import type { RaftLogStore } from '../storage/raft-log-store.js';
import { encodeCellEntryPayload } from '../kv/value-codec.js';
import { LoadSampler } from '../placement/load-sampler.js';

export interface CellRange {
  readonly start: Uint8Array;
  /** Exclusive; null = unbounded. */
  readonly end: Uint8Array | null;
}

export interface WriteWaiter {
  /** Client writes, and the leader's own expire and meta commands. */
  readonly cmd: CellCommand;
  readonly resolve: (r: { results: OpResult[]; index: number }) => void;
  readonly reject: (e: KvError) => void;
  readonly deadline: number;
  /** Raft phase hooks of a traced write (node/tracing.ts); only read when tracing is on. */
  readonly trace?: WriteTraceHooks;
}

export interface WriteTraceHooks {
  /** The command went into the Raft entry at `index` (with `commands` commands in all). */
  proposed(index: number, term: number, commands: number): void;
  /** That entry is committed: durable on a majority (it reached Ready.committedEntries). */
  committed(): void;
}

export interface ReadWaiter {
  readonly run: (appliedIndex: number) => void;
  readonly reject: (e: KvError) => void;
  readonly deadline: number;
}

interface PendingProposal {
  readonly term: number;
  readonly waiters: WriteWaiter[];
}

/** RaftStorage that serves snapshots built by the node (the data lives in LevelDB). */
class SnapshotServingStorage implements RaftStorage {
  constructor(
    private readonly log: RaftLogStore,
    private readonly snapshotSource: () => Snapshot | null,
  ) {}
  initialState() {
    return this.log.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.log.entries(lo, hi, maxBytes);
  }
  term(index: number): number {
    return this.log.term(index);
  }
  firstIndex(): number {
    return this.log.firstIndex();
  }
  lastIndex(): number {
    return this.log.lastIndex();
  }
  snapshot(): Snapshot {
    const s = this.snapshotSource();
    if (s === null) throw new SnapshotUnavailableError();
    return s;
  }
}

export interface ReplicaLimits {
  readonly maxCommandsPerEntry: number;
  readonly maxQueuedOps: number;
}

export class Replica {
  readonly raft: RaftNode;
  range: CellRange;
  epoch: number;
  /**
   * The epoch at which the range last changed (at most `epoch`; membership changes bump the
   * epoch but keep the range, so requests routed by an epoch in [rangeEpoch, epoch] fit).
   * Not stored: after a restart it is the epoch then, which only errs towards refusing.
   */
  rangeEpoch: number;
  conf: ConfState;
  /** A snapshot of the state machine ready to send to lagging followers, if built. */
  sendableSnapshot: Snapshot | null = null;
  /** Set when the core asked for a snapshot that is not built yet. */
  snapshotWanted = false;
  lastLeaderContactMs = 0;
  /** When this replica last saw its range change (opened, split, merged); the merge cool-downs read it. */
  rangeChangedAtMs = 0;
  /** Index of the last split this replica applied since it opened (compaction holds behind it). */
  lastSplitIndex = 0;
  /** Sampled accesses to this cell's keys (the split policy's load signal; read on the leader). */
  readonly load: LoadSampler;
  /** Range commands (split, merge) in the write queue (the hot path scans only when there is one). */
  private queuedRangeCommands = 0;
  /** Set by a merge freeze (from the replica record at open): the cell this one is absorbed into. */
  merge: { readonly into: string; readonly intoEpoch: number; readonly freezeIndex: number; readonly atMs: number } | null = null;
  /** Cells merged into this one or an ancestor it split from (ReplicaRecord.absorbed). */
  absorbed: readonly string[] = [];
  /**
   * Committed entries handed out by the core but not applied yet: a merge commit waits here until
   * this node's replica of the absorbed cell has applied its freeze (with the entries after it).
   */
  deferred: Entry[] = [];

  private writeQueue: WriteWaiter[] = [];
  private readonly proposals = new Map<number, PendingProposal>();
  private readQueue: ReadWaiter[] = [];
  private readonly readsByContext = new Map<string, ReadWaiter[]>();
  private readsAwaitingApply: { index: number; waiters: ReadWaiter[] }[] = [];
  private readSeq = 0;
  private readonly bootId: string;

  constructor(
    readonly cellId: string,
    readonly nodeId: string,
    readonly log: RaftLogStore,
    readonly data: CellData,
    opts: {
      range: CellRange;
      epoch: number;
      electionTicks: number;
      heartbeatTicks: number;
      random: () => number;
      /** Distinguishes this boot's ReadIndex contexts from an earlier boot's. */
      bootId: string;
      limits: ReplicaLimits;
      /** Tracing on: call the waiters' trace hooks (never touched when off). */
      traced?: boolean;
      /** Simulation mutant (mutations.ts): reads do not wait for apply. */
      readsBeforeApply?: boolean;
    },
  ) {
    this.traced = opts.traced ?? false;
    this.bootId = opts.bootId;
    this.load = new LoadSampler({ seed: Math.floor(opts.random() * 0x7fffffff) });
    this.readsBeforeApply = opts.readsBeforeApply ?? false;
    this.range = opts.range;
    this.epoch = opts.epoch;
    this.rangeEpoch = opts.epoch;
    this.conf = data.applied.confState;
    this.limits = opts.limits;
    this.raft = new RaftNode({
      id: nodeId,
      storage: new SnapshotServingStorage(log, () => {
        if (this.sendableSnapshot === null || this.sendableSnapshot.metadata.index < log.firstIndex() - 1) {
          this.snapshotWanted = true;
          return null;
        }
        return this.sendableSnapshot;
      }),
      electionTicks: opts.electionTicks,
      heartbeatTicks: opts.heartbeatTicks,
      random: opts.random,
      applied: data.applied.index,
      confState: data.applied.confState,
      preVote: true,
      checkQuorum: true,
      maxInflightMsgs: 64,
      maxMsgBytes: 512 << 10,
      snapshotChunkBytes: 256 << 10,
    });
  }

  private readonly limits: ReplicaLimits;
  private readonly traced: boolean;
  private readonly readsBeforeApply: boolean;

  /** Frozen for a merge: no writes, no reads, no snapshots to send. */
  get frozen(): boolean {
    return this.merge !== null;
  }

  get isLeader(): boolean {
    return this.raft.status().role === 'leader';
  }

  queuedOps(): number {
    return this.writeQueue.length + this.readQueue.length;
  }

  enqueueWrite(w: WriteWaiter): void {
    if (this.writeQueue.length >= this.limits.maxQueuedOps) {
      w.reject(new KvError('OVERLOADED', `cell ${this.cellId} has too many queued writes; retry after a short backoff`));
      return;
    }
    this.writeQueue.push(w);
    if (isRangeCommand(w.cmd)) this.queuedRangeCommands++;
  }

  enqueueLinearizableRead(r: ReadWaiter): void {
    if (this.readQueue.length >= this.limits.maxQueuedOps) {
      r.reject(new KvError('OVERLOADED', `cell ${this.cellId} has too many queued reads; retry after a short backoff`));
      return;
    }
    this.readQueue.push(r);
  }

  /** Runs `r` once applied >= index (session reads); immediately if already there. */
  whenApplied(index: number, r: ReadWaiter): void {
    if (this.data.applied.index >= index) {
      r.run(this.data.applied.index);
      return;
    }
    this.readsAwaitingApply.push({ index, waiters: [r] });
  }

  /** Turns queued writes into one proposal (one Raft entry) and queued reads into one ReadIndex. */
  flushQueues(nowMs: number): number {
    let proposed = 0;
    while (this.writeQueue.length > 0) {
      // A range command is an entry of its own (the node applies it between the entries around it).
      const splitAt = this.queuedRangeCommands === 0 ? -1 : this.writeQueue.findIndex((w) => isRangeCommand(w.cmd));
      if (splitAt === 0) this.queuedRangeCommands--;
      const take = splitAt === 0 ? 1 : splitAt > 0 ? Math.min(splitAt, this.limits.maxCommandsPerEntry) : this.limits.maxCommandsPerEntry;
      const batch = this.writeQueue.splice(0, take);
      const data = encodeCellEntryPayload({ commands: batch.map((w) => w.cmd) });
      const r = this.raft.propose(data);
      if (!r.ok) {
        const hint = r.leaderHint ?? '';
        const err =
          r.error === 'NOT_LEADER'
            ? new KvError('NOT_LEADER', `node ${this.nodeId} does not lead cell ${this.cellId}`, { leaderHint: hint })
            : new KvError('UNAVAILABLE', `cell ${this.cellId} cannot take writes now (${r.error}); retry shortly`);
        for (const w of batch) w.reject(err);
        for (const w of this.writeQueue.splice(0)) w.reject(err);
        this.queuedRangeCommands = 0;
        break;
      }
      this.proposals.set(r.index, { term: r.term, waiters: batch });
      if (this.traced) for (const w of batch) w.trace?.proposed(r.index, r.term, batch.length);
      proposed += batch.length;
    }
    if (this.readQueue.length > 0) {
      // Unique across restarts too: a reused context must never match an older read.
      const ctx = `${this.nodeId}/${this.cellId}/${this.bootId}/${++this.readSeq}`;
      const waiters = this.readQueue.splice(0);
      const r = this.raft.readIndex(ctx);
      if (r.ok) {
        this.readsByContext.set(ctx, waiters);
      } else {
        const err =
          r.error === 'NO_LEADER'
            ? new KvError('UNAVAILABLE', `cell ${this.cellId} has no leader right now; retry shortly`)
            : new KvError('OVERLOADED', `cell ${this.cellId} has too many pending reads; retry shortly`);
        for (const w of waiters) w.reject(err);
      }
    }
    this.expire(nowMs);
    return proposed;
  }

  /** Read states from a Ready: their reads may run once applied reaches the index. */
  onReadStates(rd: Ready): void {
    for (const rs of rd.readStates) {
      const waiters = this.readsByContext.get(rs.context);
      if (!waiters) continue;
      this.readsByContext.delete(rs.context);
      this.readsAwaitingApply.push({ index: rs.index, waiters });
    }
  }

  /** Tracing: these entries just became committed; tells the traced writes proposed here. */
  traceCommitted(entries: readonly Entry[]): void {
    for (const e of entries) {
      const p = this.proposals.get(e.index);
      if (p !== undefined && p.term === e.term) for (const w of p.waiters) w.trace?.committed();
    }
  }

  /** After an entry is applied: answers its proposers (if proposed here). */
  onApplied(entry: Entry, results: (OpResult[] | null)[]): void {
    const p = this.proposals.get(entry.index);
    if (p) {
      this.proposals.delete(entry.index);
      if (p.term === entry.term) {
        assert(results.length === p.waiters.length, 'results per proposed command');
        p.waiters.forEach((w, i) => w.resolve({ results: results[i] ?? [], index: entry.index }));
      } else {
        // Another leader's entry took the slot: ours was never committed, so a retry is safe.
        const err = new KvError('NOT_LEADER', `proposal for cell ${this.cellId} was superseded by a new leader; retry`);
        for (const w of p.waiters) w.reject(err);
      }
    }
  }

  /** Runs reads whose index is now applied. */
  releaseReads(): void {
    if (this.readsAwaitingApply.length === 0) return;
    const applied = this.data.applied.index;
    const still: { index: number; waiters: ReadWaiter[] }[] = [];
    for (const r of this.readsAwaitingApply) {
      if (r.index <= applied || this.readsBeforeApply) for (const w of r.waiters) w.run(applied);
      else still.push(r);
    }
    this.readsAwaitingApply = still;
  }

  /** After a snapshot install skipped entries: proposals in the gap have unknown outcomes. */
  onSnapshotInstalled(index: number): void {
    for (const [i, p] of this.proposals) {
      if (i > index) continue;
      this.proposals.delete(i);
      const err = new KvError('OUTCOME_UNKNOWN', `write to cell ${this.cellId} may or may not have applied; retry with the same request id`);
      for (const w of p.waiters) w.reject(err);
    }
  }

  /** Times out waiters past their deadline (bounded waiting everywhere). */
  private expire(nowMs: number): void {
    for (const [i, p] of this.proposals) {
      const live = p.waiters.filter((w) => w.deadline > nowMs);
      if (live.length === p.waiters.length) continue;
      const err = new KvError('OUTCOME_UNKNOWN', `write to cell ${this.cellId} timed out after proposal; retry with the same request id`);
      for (const w of p.waiters) if (w.deadline <= nowMs) w.reject(err);
      // Keep the slot so results of live waiters still arrive; an all-expired slot is dropped.
      if (live.length === 0) this.proposals.delete(i);
      else this.proposals.set(i, { term: p.term, waiters: p.waiters.map((w) => (w.deadline <= nowMs ? { ...w, resolve: () => {}, reject: () => {} } : w)) });
    }
    // Errors are built only when something expired: constructing one captures a stack.
    const readErr = () => new KvError('UNAVAILABLE', `read on cell ${this.cellId} timed out waiting for the leader; retry`);
    for (const [ctx, ws] of this.readsByContext) {
      if (ws.every((w) => w.deadline <= nowMs)) {
        const err = readErr();
        for (const w of ws) w.reject(err);
        this.readsByContext.delete(ctx);
      }
    }
    if (this.readsAwaitingApply.some((r) => r.waiters.every((w) => w.deadline <= nowMs))) {
      this.readsAwaitingApply = this.readsAwaitingApply.filter((r) => {
        if (r.waiters.every((w) => w.deadline <= nowMs)) {
          const err = readErr();
          for (const w of r.waiters) w.reject(err);
          return false;
        }
        return true;
      });
    }
  }

  /** Fails everything waiting (shutdown). */
  failAll(err: KvError): void {
    for (const w of this.writeQueue.splice(0)) w.reject(err);
    this.queuedRangeCommands = 0;
    for (const r of this.readQueue.splice(0)) r.reject(err);
    for (const p of this.proposals.values()) for (const w of p.waiters) w.reject(err);
    this.proposals.clear();
    for (const ws of this.readsByContext.values()) for (const w of ws) w.reject(err);
    this.readsByContext.clear();
    for (const r of this.readsAwaitingApply) for (const w of r.waiters) w.reject(err);
    this.readsAwaitingApply = [];
  }
}
