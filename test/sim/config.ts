// Everything a run is parameterized by, derived from its seed (and the caller's overrides).
// Options vary per seed so the core runs under many settings: pre-vote on/off, check-quorum,
// tiny messages (one entry each, which splits a new leader's no-op from older entries),
// pipelining windows, chunked snapshots, and stepping the core while a Ready is unpersisted.

import type { RaftMutation } from '../../cell/raft/types.js';
import type { ClientOptions } from './clients.js';
import type { HostOptions } from './node-host.js';
import { chooseFaults, type FaultType } from './nemesis.js';
import { Rng } from './rng.js';

/** Mutations of the core (cell/raft/, see RaftMutation) the simulation runs with. */
export const CORE_MUTATIONS = [
  'voteTwiceInTerm',
  'commitPreviousTermByCount',
  'followerCommitOnReject',
  'heartbeatCommitUnbounded',
  'jointCommitIncomingOnly',
  'jointVoteIncomingOnly',
  'readIndexBeforeOwnTermCommit',
  'readAckAnyRound',
  'preVoteBumpsTerm',
  'preCandidateBumpsTerm',
  'acceptStaleTermResponses',
  'noSyncOnVote',
  'staleVoteRequestGranted',
  'leaderCountsUnsyncedSelf',
  'learnersInCommitQuorum',
  'readShortcutIncomingOnly',
] as const satisfies readonly Exclude<RaftMutation, 'none'>[];

/**
 * Mutations of the driver (the persistence contract as a node process follows it):
 * ackBeforePersist sends every message before persisting; voteRespBeforePersist and
 * voteBeforePersist send vote answers / vote requests before the vote is durable;
 * staleReads / leaderLocalReads answer reads from local state without ReadIndex.
 */
export const DRIVER_MUTATIONS = ['ackBeforePersist', 'voteRespBeforePersist', 'voteBeforePersist', 'staleReads', 'leaderLocalReads'] as const;

export const MUTATIONS = ['none', ...CORE_MUTATIONS, ...DRIVER_MUTATIONS] as const;
export type SimMutation = (typeof MUTATIONS)[number];

function coreMutationOf(m: SimMutation): RaftMutation {
  return (CORE_MUTATIONS as readonly string[]).includes(m) ? (m as RaftMutation) : 'none';
}

export function isMutation(s: string): s is SimMutation {
  return (MUTATIONS as readonly string[]).includes(s);
}

export interface RunOverrides {
  readonly mutation?: SimMutation;
  /** Fault types to enable; default: a seed-chosen mix. */
  readonly faults?: readonly FaultType[];
  readonly nodes?: 3 | 5;
  /** Ticks of the chaos phase; default: seed-chosen. */
  readonly chaosTicks?: number;
}

export interface SimConfig {
  readonly seed: number;
  readonly nodes: number;
  readonly faults: readonly FaultType[];
  readonly mutation: SimMutation;
  readonly chaosTicks: number;
  readonly host: HostOptions;
  readonly client: ClientOptions;
}

export const ELECTION_TICKS = 10;

export function deriveConfig(seed: number, o: RunOverrides = {}): { config: SimConfig; rng: Rng } {
  const rng = new Rng(seed);
  const r = rng.fork('config');
  const faults = o.faults !== undefined && o.faults.length > 0 ? [...o.faults] : chooseFaults(r);
  const mutation = o.mutation ?? 'none';
  const snapshots = faults.includes('snapshot');
  const nodes = o.nodes ?? (r.chance(0.5) ? 3 : 5);
  const coreMutation = coreMutationOf(mutation);
  const host: HostOptions = {
    electionTicks: ELECTION_TICKS,
    heartbeatTicks: r.pick([1, 2, 3]),
    preVote: r.chance(0.5),
    checkQuorum: r.chance(0.5),
    maxMsgBytes: r.pick([1, 200, 1 << 20]),
    maxInflightMsgs: r.pick([1, 4, 256]),
    snapshotChunkBytes: r.pick([64, 512, 1 << 20]),
    mutation: coreMutation,
    ackBeforePersist: mutation === 'ackBeforePersist',
    earlyElectionTraffic: mutation === 'voteRespBeforePersist' ? 'voteResp' : mutation === 'voteBeforePersist' ? 'vote' : null,
    localReads: mutation === 'staleReads' ? 'anyNode' : mutation === 'leaderLocalReads' ? 'leaderOnly' : 'off',
    stepWhileBusy: r.chance(0.5),
    earlySend: false, // drawn below with the other late knobs
    snapshotEvery: snapshots ? r.range(5, 40) : 1_000_000,
    snapshotKeep: snapshots ? r.range(0, 5) : 10,
  };
  const keyCount = r.range(3, 5);
  const client: ClientOptions = {
    clients: r.range(3, 8),
    keys: Array.from({ length: keyCount }, (_, i) => `k${i}`),
    attemptTimeout: r.range(2, 5) * ELECTION_TICKS,
    maxAttempts: r.range(6, 10),
    readViaLogRate: r.pick([0, 0.2, 0.5]),
    thinkMax: r.range(0, 8),
  };
  const chaosTicks = o.chaosTicks ?? r.range(1000, 3000);
  // Drawn from a child stream after everything else, so adding a knob here leaves the draws
  // above (and every other stream of the run) unchanged.
  const l = r.fork('limits');
  const limits = {
    // A node process always sends what may leave early (cell/node/node.ts): most seeds do too.
    earlySend: l.chance(0.75),
    maxUncommittedBytes: l.pick([4096, 64 << 20]),
    maxCommittedBytesPerReady: l.pick([150, 8 << 20]),
    maxInflightBytes: l.pick([400, 32 << 20]),
  };
  return { config: { seed, nodes, faults, mutation, chaosTicks, host: { ...host, ...limits }, client }, rng };
}

export function describeConfig(c: SimConfig): string {
  const h = c.host;
  return (
    `seed ${c.seed}: ${c.nodes} nodes, faults [${c.faults.join(',')}], mutation ${c.mutation}, chaos ${c.chaosTicks} ticks; ` +
    `heartbeat ${h.heartbeatTicks}, preVote ${h.preVote}, checkQuorum ${h.checkQuorum}, maxMsgBytes ${h.maxMsgBytes}, ` +
    `inflight ${h.maxInflightMsgs}/${h.maxInflightBytes}B, uncommitted ${h.maxUncommittedBytes}B, ` +
    `committed/ready ${h.maxCommittedBytesPerReady}B, chunk ${h.snapshotChunkBytes}, stepWhileBusy ${h.stepWhileBusy}, earlySend ${h.earlySend}, ` +
    `snapshot every ${h.snapshotEvery} keep ${h.snapshotKeep}; ${c.client.clients} clients on ${c.client.keys.length} keys`
  );
}
