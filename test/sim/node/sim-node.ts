// One simulated cell node: the production CellNode (cell/node/node.ts) over a SimDisk, the
// SimBus and a virtual clock. A crash abandons the running node object (its timers, disk
// calls and bus endpoint die with its boot) and keeps what the disk model keeps; a restart
// opens a new CellNode on the same disk, as the process would after `kill -9` or power loss.
//
// It also keeps the node's promises as others saw them on the wire (votes granted,
// entries acknowledged, terms spoken in) and checks at every restart that the disk still
// backs them: the production pump's ordering of fsync and send, checked directly.

import pino from 'pino';
import { CellNode } from '../../../cell/node/node.js';
import { NodeConfigSchema, type NodeConfig } from '../../../cell/node/config.js';
import type { NodeMutation } from '../../../cell/node/mutations.js';
import { decodeLogRecord, decodeRaftEnvelope, decodeSnapshotMetadata } from '../../../cell/raft/codec.js';
import { raftLogKey, snapshotMetaKey } from '../../../cell/storage/records.js';
import { openChecksum } from '../../../shared/codec/index.js';
import { mulberry32 } from '../../../cell/node/random.js';
import type { Rng } from '../rng.js';
import { fail } from '../invariants.js';
import type { SimBus } from './sim-bus.js';
import { SimDisk, SimulatedDiskError } from './sim-disk.js';
import type { SimScheduler } from './scheduler.js';

/** What a node said on the wire, per cell: the disk must back it after any crash. */
interface CellPromises {
  /** Highest term of any message it sent. */
  term: number;
  /** term -> the candidate it granted a vote to. */
  readonly votes: Map<number, string>;
  /** The last acknowledgement sent: its term and matched index. */
  ackTerm: number;
  ackIndex: number;
}

export interface SimNodeSpec {
  readonly id: string;
  readonly az: string;
}

const SILENT = process.env['SIM_NODE_LOG'] ? pino({ level: 'info' }, pino.destination(2)) : pino({ level: 'silent' });

/** Timing of the simulated nodes: small, so a seed covers many elections and snapshots. */
export function simNodeConfig(id: string, az: string, bootstrap: readonly SimNodeSpec[]): NodeConfig {
  return NodeConfigSchema.parse({
    nodeId: id,
    az,
    dataDir: `sim://${id}`,
    natsUrls: ['sim://bus'],
    bootstrap,
    tickMs: 10,
    electionTicks: 10,
    heartbeatTicks: 2,
    logRetainEntries: 16,
    snapshotEveryEntries: 48,
    requestTimeoutMs: 1500,
    expiryScanMs: 400,
    dedupeRetentionMs: 60_000,
    maxPendingOps: 2000,
    // Fleet placement is not simulated: its status requests would change every seed's trace.
    placementIntervalMs: 0,
  });
}

export class SimNode {
  readonly disk: SimDisk;
  node: CellNode | null = null;
  private boot = 0;
  private starting = false;
  private readonly promises = new Map<string, CellPromises>();
  restarts = 0;
  /** Snapshot chunks this node sent (a follower too far behind for the log). */
  snapshotChunksSent = 0;
  fatalErrors = 0;
  /** Set when the node's Raft loop gave up (a failed fsync): the run restarts it later. */
  onFatal: (id: string) => void = () => undefined;
  /** The Raft loop failed for any other reason: a bug. */
  onUnexpected: (err: unknown) => void = () => undefined;

  constructor(
    readonly spec: SimNodeSpec,
    private readonly cfg: NodeConfig,
    private readonly sched: SimScheduler,
    private readonly bus: SimBus,
    private readonly rng: Rng,
    private readonly mutations: ReadonlySet<NodeMutation>,
  ) {
    this.disk = new SimDisk(spec.id, sched, rng.fork('disk'));
  }

  get id(): string {
    return this.spec.id;
  }

  get up(): boolean {
    return this.node !== null;
  }

  private owner(): string {
    return `node:${this.id}:${this.boot}`;
  }

  /** Crash point: the next synced write this node issues loses power right after it left. */
  armSyncCrash(onCrash: () => void): void {
    this.disk.onSyncIssued = () => {
      this.disk.onSyncIssued = () => undefined;
      if (this.node === null) return;
      this.crash(true);
      onCrash();
    };
  }

  disarmSyncCrash(): void {
    this.disk.onSyncIssued = () => undefined;
  }

  /** Whether this node's disk holds the entry (index, term) of `cellId` for sure (or a snapshot past it). */
  durablyHolds(cellId: string, index: number, term: number): boolean {
    const meta = this.disk.durableGet(snapshotMetaKey(cellId));
    if (meta !== undefined && decodeSnapshotMetadata(openChecksum(meta)).index >= index) return true;
    const rec = this.disk.durableGet(raftLogKey(cellId, index));
    return rec !== undefined && decodeLogRecord(rec).term === term;
  }

  async start(): Promise<void> {
    if (this.node !== null || this.starting) return;
    this.starting = true;
    const boot = this.boot;
    const clock = this.sched.clockFor(this.owner());
    this.sched.revive(this.owner());
    const db = this.disk.open();
    const node = await CellNode.open(this.cfg, SILENT, {
      db,
      clock,
      random: mulberry32(this.rng.u32()),
      bootId: `b${boot}`,
      connect: (handlers) => Promise.resolve(this.bus.attach(this.id, handlers)),
      onFatal: (err) => {
        this.fatalErrors++;
        if (this.boot !== boot) return;
        if (err instanceof SimulatedDiskError) this.onFatal(this.id);
        else this.onUnexpected(err);
      },
      tracing: null,
      processMetrics: false,
      mutations: this.mutations,
    });
    this.starting = false;
    if (this.boot !== boot) return; // crashed while opening
    this.node = node;
    this.checkPromisesKept(node);
  }

  /** kill -9 (`powerLoss` false: what reached the OS survives) or power loss. */
  crash(powerLoss: boolean): void {
    this.sched.kill(this.owner());
    this.bus.detach(this.id);
    this.disk.onSyncIssued = () => undefined;
    this.disk.crash(powerLoss);
    this.node = null;
    this.starting = false;
    this.boot++;
  }

  /** Watches what this node sends (called by the run for every envelope it leaves with). */
  observeSent(data: Uint8Array): void {
    const env = decodeRaftEnvelope(data);
    for (const { cellId, message: m } of env.items) {
      if (m.type === 'snapshot') this.snapshotChunksSent++;
      let p = this.promises.get(cellId);
      if (!p) this.promises.set(cellId, (p = { term: 0, votes: new Map(), ackTerm: 0, ackIndex: 0 }));
      if (m.type !== 'preVote' && m.type !== 'preVoteResp') p.term = Math.max(p.term, m.term);
      if (m.type === 'voteResp' && !m.reject) p.votes.set(m.term, m.to);
      if (m.type === 'vote') p.votes.set(m.term, this.id);
      if (m.type === 'appendResp' && !m.reject && (m.term > p.ackTerm || (m.term === p.ackTerm && m.index > p.ackIndex))) {
        p.ackTerm = m.term;
        p.ackIndex = m.index;
      }
    }
  }

  /** At restart: the durable hard state and log back everything the node said before. */
  private checkPromisesKept(node: CellNode): void {
    for (const [cellId, p] of this.promises) {
      const r = node.replicas.get(cellId);
      if (r === undefined) continue;
      const hs = r.log.hardState();
      if (hs.term < p.term) fail('durability', `${this.id}/${cellId} restarted at term ${hs.term} but had spoken in term ${p.term}`);
      const voted = p.votes.get(hs.term);
      if (voted !== undefined && hs.vote !== voted) {
        fail('durability', `${this.id}/${cellId} granted its vote in term ${hs.term} to ${voted}, restarted with vote ${hs.vote ?? 'none'}`);
      }
      if (p.ackTerm === hs.term && p.ackIndex > 0) {
        const snapIndex = r.log.snapshotMetadata().index;
        if (r.log.lastIndex() < p.ackIndex && snapIndex < p.ackIndex) {
          fail('durability', `${this.id}/${cellId} acknowledged index ${p.ackIndex} in term ${p.ackTerm}, restarted with last index ${r.log.lastIndex()}`);
        }
      }
    }
  }
}
