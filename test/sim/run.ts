// One seeded run: chaos phase (faults + client load, safety checked after every step), heal,
// liveness checks (a leader within a bound, every op and proposal resolved, replicas
// converge), then per-key linearizability of the whole client history.
// Deterministic: the same seed and options give the same trace, bit for bit.

import { InvariantError } from '../../shared/assert.js';
import { checkCellkvHistory, formatDetails, type HistoryRecord } from '../../shared/lincheck/index.js';
import { BACKOFF_STEPS, Clients } from './clients.js';
import { Cluster } from './cluster.js';
import { deriveConfig, describeConfig, ELECTION_TICKS, type RunOverrides, type SimConfig } from './config.js';
import { SimFailure, type FailureKind } from './invariants.js';
import { MembershipDriver } from './membership.js';
import { Nemesis } from './nemesis.js';
import type { Rng } from './rng.js';
import { Tracer, type TraceMode } from './trace.js';

export interface RunOptions extends RunOverrides {
  readonly trace?: TraceMode;
  /** Check linearizability at the end (default true). */
  readonly lincheck?: boolean;
  /** Search-step budget of the checker: deterministic, unlike a wall-clock limit. */
  readonly lincheckMaxSteps?: number;
  readonly traceSink?: (line: string) => void;
  /** Check that a node's durable vote never changes within a term (default true). */
  readonly voteCheck?: boolean;
  /** Check at restart that what a node acknowledged is still in its stable storage (default true). */
  readonly ackCheck?: boolean;
  /** Test hook: break the cluster right after the heal, so the liveness checks must fire. */
  readonly sabotage?: 'crash-majority' | 'isolate-all';
}

export interface RunStats {
  ticks: number;
  ops: { ok: number; fail: number; unknown: number; attempts: number };
  messages: { sent: number; delivered: number; dropped: number; partitioned: number; duplicated: number; replayed: number; overflowed: number };
  crashes: number;
  partitions: number;
  transfers: number;
  membershipRounds: number;
  membershipCompleted: number;
  leaderTerms: number;
  committed: number;
  checks: number;
  oldTermCommits: number;
  /** Entries of divergent log suffixes overwritten on stable storage, and the longest one. */
  truncatedEntries: number;
  longestTruncation: number;
}

export interface RunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure?: { readonly kind: FailureKind; readonly message: string; readonly tick: number };
  readonly stats: RunStats;
  readonly history: HistoryRecord[];
  /** Trace fingerprint (only meaningful with trace 'hash' or 'print'). */
  readonly fingerprint: string;
  /** Fingerprint of the end state (cheap; always computed). */
  readonly outcome: string;
  readonly config: SimConfig;
}

/** Checker budget in search steps (deterministic, unlike wall time); hard histories need ~10M. */
export const LINCHECK_MAX_STEPS = 100_000_000;
/** After heal: ticks allowed for a leader to emerge. */
export const LEADER_BOUND = 40 * ELECTION_TICKS;
/** After heal: ticks of client load that must all succeed. */
const POST_HEAL_LOAD = 150;
/** Ticks without any replica applying more before "not resolved / not converged" is a failure. */
const SETTLE_BOUND = 30 * ELECTION_TICKS;
/** Hard cap on the settle phases, however slowly they progress. */
const SETTLE_CAP = 20_000;
const MEMBERSHIP_DRAIN_BOUND = 2000;
/** Ticks a leader must hold (longer than the largest randomized election timeout). */
const STABLE_TICKS = 3 * ELECTION_TICKS;

class Sim {
  readonly cluster: Cluster;
  readonly clients: Clients;
  readonly membership: MembershipDriver;
  readonly nemesis: Nemesis;

  constructor(
    readonly config: SimConfig,
    rng: Rng,
    readonly tracer: Tracer,
  ) {
    this.cluster = new Cluster(rng.fork('cluster'), tracer, config.host, config.nodes);
    this.membership = new MembershipDriver(this.cluster, rng.fork('membership'));
    this.nemesis = new Nemesis(rng.fork('nemesis'), this.cluster, this.membership, config.faults, ELECTION_TICKS);
    this.clients = new Clients(rng.fork('clients'), this.cluster, tracer, config.client);
  }

  tick(): number {
    const now = this.cluster.beginTick();
    this.nemesis.step(now);
    this.membership.step(now);
    this.clients.step(now);
    this.cluster.runTick();
    for (const r of this.cluster.takeReplies()) this.clients.onReply(r, now);
    return now;
  }

  /** Ticks until `done` holds; a liveness failure if it does not within `bound` ticks. */
  runUntil(done: () => boolean, bound: number, what: string): void {
    const start = this.cluster.now;
    for (let i = 0; i < bound; i++) {
      if (done()) return;
      this.tick();
    }
    if (done()) return;
    throw new SimFailure('liveness', `${what} within ${bound} ticks after tick ${start}`);
  }

  private stableSince: { id: string; term: number; tick: number } | null = null;

  /** stableLeader() has held with the same leader for `ticks` ticks in a row. */
  stableFor(ticks: number): boolean {
    const l = this.stableLeader() ? this.cluster.leader() : null;
    if (l === null) {
      this.stableSince = null;
      return false;
    }
    const s = this.stableSince;
    if (s === null || s.id !== l.id || s.term !== l.status.term) {
      this.stableSince = { id: l.id, term: l.status.term, tick: this.cluster.now };
      return ticks === 0;
    }
    return this.cluster.now - s.tick >= ticks;
  }

  /**
   * Ticks until `done` holds, as long as `progress()` keeps growing: a slow but moving cluster
   * (one entry per message, a long log to replay) gets the time it needs; a stuck one fails
   * after `stall` ticks without progress, and nothing runs past `cap` ticks.
   */
  runWhileProgressing(done: () => boolean, progress: () => number, stall: number, cap: number, what: string): void {
    const start = this.cluster.now;
    let best = progress();
    let lastGain = start;
    while (!done()) {
      if (this.cluster.now - lastGain >= stall || this.cluster.now - start >= cap) {
        throw new SimFailure('liveness', `${what}: no progress for ${this.cluster.now - lastGain} ticks (${this.cluster.now - start} ticks after tick ${start})`);
      }
      this.tick();
      const p = progress();
      if (p > best) {
        best = p;
        lastGain = this.cluster.now;
      }
    }
  }

  /** Sum of applied indices of live nodes: grows while replicas catch up. */
  appliedSum(): number {
    return this.cluster.allHosts().reduce((n, h) => n + (h.alive ? h.applied() : 0), 0);
  }

  /**
   * A leader no live node out-terms, known as leader by a majority of its voters; with
   * `committed`, one that has also committed an entry of its own term (until then it can
   * neither serve reads nor confirm writes).
   */
  stableLeader(committed = true): boolean {
    const l = this.cluster.leader();
    if (l === null || (committed && !this.cluster.host(l.id).committedOwnTerm())) return false;
    let maxTerm = 0;
    for (const id of this.cluster.liveIds()) maxTerm = Math.max(maxTerm, this.cluster.host(id).status()!.term);
    if (l.status.term < maxTerm) return false;
    const voters = l.status.confState.voters;
    const know = voters.filter((v) => {
      const st = this.cluster.host(v).status();
      return st !== null && st.leader === l.id && st.term === l.status.term;
    });
    return know.length * 2 > voters.length;
  }

  /** Every member of the leader's configuration has applied everything committed, with equal state. */
  converged(): boolean {
    const l = this.cluster.leader();
    if (l === null) return false;
    const cs = l.status.confState;
    const members = [...cs.voters, ...cs.learners];
    const leaderHost = this.cluster.host(l.id);
    const target = l.status.commit;
    if (leaderHost.applied() !== target) return false;
    for (const id of members) {
      const h = this.cluster.host(id);
      if (!h.alive || h.applied() !== target || h.digest() !== leaderHost.digest()) return false;
    }
    return true;
  }

  noPendingProposals(): boolean {
    return this.cluster.allHosts().every((h) => !h.alive || h.pendingProposals() === 0);
  }
}

export function runSeed(seed: number, options: RunOptions = {}): RunResult {
  const { config, rng } = deriveConfig(seed, options);
  const tracer = new Tracer(options.trace ?? 'off', options.traceSink);
  tracer.event(0, () => describeConfig(config));
  let sim: Sim | null = null;
  let failure: RunResult['failure'];
  try {
    sim = new Sim(config, rng, tracer);
    sim.cluster.checker.voteCheck = options.voteCheck !== false;
    sim.cluster.checker.ackCheck = options.ackCheck !== false;
    drive(sim, config, options.sabotage);
    const lf = sim.clients.livenessFailure;
    if (lf !== null) throw new SimFailure('liveness', lf);
    if (options.lincheck !== false) {
      const res = checkCellkvHistory(sim.clients.history(), {
        maxSteps: options.lincheckMaxSteps ?? LINCHECK_MAX_STEPS,
        timeoutMs: 600_000,
      });
      if (res.result === 'not-linearizable') throw new SimFailure('linearizability', formatDetails(res, { maxLines: 30 }).join('\n'));
      if (res.result === 'unknown') throw new SimFailure('lincheck-unknown', res.reason);
    }
  } catch (e) {
    failure = toFailure(e, sim?.cluster.now ?? 0);
    tracer.event(sim?.cluster.now ?? 0, () => `FAILURE ${failure!.kind}: ${failure!.message}`);
  }
  const stats = collectStats(sim);
  const history = sim?.clients.history() ?? [];
  const base = { seed, ok: failure === undefined, stats, history, fingerprint: tracer.fingerprint(), config };
  const outcome = JSON.stringify([stats, failure?.kind ?? null, history.length, sim?.cluster.allHosts().map((h) => h.digest())]);
  return failure === undefined ? { ...base, outcome } : { ...base, failure, outcome };
}

function drive(sim: Sim, config: SimConfig, sabotage: RunOptions['sabotage']): void {
  for (let i = 0; i < config.chaosTicks; i++) sim.tick();
  sim.nemesis.heal(sim.cluster.now);
  if (sabotage !== undefined) breakCluster(sim, sabotage);
  sim.runUntil(() => sim.stableLeader(false), LEADER_BOUND, 'no leader');
  // Committing in its term may need slow followers to catch up first (e.g. a joint
  // configuration with a lagging new voter, one entry per message): fine while they progress.
  const progress = (): number => sim.appliedSum();
  sim.runWhileProgressing(() => sim.stableLeader(), progress, SETTLE_BOUND, SETTLE_CAP, 'the leader cannot commit in its term');
  // A membership round in flight finishes (or is abandoned) on its own deadline.
  sim.runUntil(() => !sim.membership.busy(), MEMBERSHIP_DRAIN_BOUND, 'membership change did not finish');
  // Nodes cut off until the heal may still time out and disrupt once: wait until the leader has
  // held for longer than any election timeout. Ops invoked from then on must succeed.
  sim.runWhileProgressing(() => sim.stableFor(STABLE_TICKS), progress, LEADER_BOUND, SETTLE_CAP, 'no leader that stays');
  sim.clients.requireSuccessFrom(sim.cluster.now + 1);
  for (let i = 0; i < POST_HEAL_LOAD; i++) sim.tick();
  sim.clients.stopIssuing();
  const opBound = (config.client.maxAttempts + 1) * (config.client.attemptTimeout * BACKOFF_STEPS + 10);
  sim.runUntil(() => sim.clients.idle(), opBound, 'client ops still pending');
  sim.runWhileProgressing(() => sim.noPendingProposals(), () => sim.appliedSum(), SETTLE_BOUND, SETTLE_CAP, 'proposals still pending');
  sim.runWhileProgressing(() => sim.converged(), () => sim.appliedSum(), SETTLE_BOUND, SETTLE_CAP, 'replicas did not converge');
}

function breakCluster(sim: Sim, how: NonNullable<RunOptions['sabotage']>): void {
  const live = sim.cluster.liveIds();
  if (how === 'isolate-all') {
    for (const id of live) sim.cluster.net.isolate(id, live);
  } else {
    for (const id of live.slice(0, Math.ceil(live.length / 2))) sim.cluster.crash(id);
  }
  sim.tracer.event(sim.cluster.now, () => `sabotage: ${how}`);
}

function toFailure(e: unknown, tick: number): NonNullable<RunResult['failure']> {
  if (e instanceof SimFailure) return { kind: e.kind, message: e.message, tick };
  if (e instanceof InvariantError) return { kind: 'exception', message: `invariant: ${e.message}\n${stackTop(e)}`, tick };
  if (e instanceof Error) return { kind: 'exception', message: `${e.name}: ${e.message}\n${stackTop(e)}`, tick };
  return { kind: 'exception', message: String(e), tick };
}

function stackTop(e: Error): string {
  return (e.stack ?? '').split('\n').slice(1, 6).join('\n');
}

function collectStats(sim: Sim | null): RunStats {
  const n = sim?.cluster.net.stats;
  const ns = sim?.nemesis.stats;
  return {
    ticks: sim?.cluster.now ?? 0,
    ops: sim ? { ...sim.clients.stats } : { ok: 0, fail: 0, unknown: 0, attempts: 0 },
    messages: {
      sent: n?.sent ?? 0,
      delivered: n?.delivered ?? 0,
      dropped: n?.dropped ?? 0,
      partitioned: n?.partitioned ?? 0,
      duplicated: n?.duplicated ?? 0,
      replayed: n?.replayed ?? 0,
      overflowed: n?.overflowed ?? 0,
    },
    crashes: ns?.crashes ?? 0,
    partitions: ns?.partitions ?? 0,
    transfers: ns?.transfers ?? 0,
    membershipRounds: sim?.membership.rounds ?? 0,
    membershipCompleted: sim?.membership.completed ?? 0,
    leaderTerms: sim?.cluster.checker.leaderTermCount() ?? 0,
    committed: sim?.cluster.checker.highestCommitted() ?? 0,
    checks: sim?.cluster.checker.checks ?? 0,
    oldTermCommits: sim?.cluster.checker.oldTermCommits ?? 0,
    truncatedEntries: sim?.cluster.checker.truncatedEntries ?? 0,
    longestTruncation: sim?.cluster.checker.longestTruncation ?? 0,
  };
}
