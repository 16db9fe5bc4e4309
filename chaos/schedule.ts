// The fault schedule of a chaos run: a pure function of (seed, seconds, kinds), so a seed
// names one schedule. Who a fault hits ("the leader", "follower #pick") is resolved when it
// runs, since that depends on the live cluster; every other choice is made here.
//
// Kinds are dealt from shuffled decks: each round holds every enabled kind once, so a run
// long enough for one round exercises every kind at least once.

import { Rng } from './rng.js';

export const FAULT_KINDS = ['kill', 'pause', 'partition', 'delay', 'failpoint', 'transfer', 'snapshot', 'split', 'merge', 'move'] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Resolved at run time: the data cell's leader, or follower number `pick` (mod the followers). */
export interface TargetSpec {
  readonly role: 'leader' | 'follower';
  readonly pick: number;
}

/** Something done to one node while a move runs: the replica leaving, the one arriving, or the leader. */
export interface MoveDisruption {
  readonly what: 'kill' | 'pause' | 'isolate';
  readonly who: 'from' | 'to' | 'leader';
  /** After the move request went out. */
  readonly afterMs: number;
  /** Down, paused or cut off this long. */
  readonly forMs: number;
}

export type PartitionShape = 'isolate-node' | 'isolate-az' | 'cut-route' | 'one-way-node' | 'one-way-route';

export type FaultSpec =
  | { readonly kind: 'kill'; readonly target: TargetSpec; readonly downMs: number }
  | { readonly kind: 'pause'; readonly target: TargetSpec; readonly pauseMs: number }
  | {
      readonly kind: 'partition';
      readonly shape: PartitionShape;
      readonly target: TargetSpec;
      /** For routes: the other AZ, as an index among the two AZs other than the target's. */
      readonly otherPick: number;
      /** One-way shapes: 'out' cuts what the target side sends, 'in' what it receives. */
      readonly direction: 'in' | 'out';
      readonly holdMs: number;
    }
  | {
      readonly kind: 'delay';
      /** 'all' links, or the target's AZ (its node's link and its server's routes). */
      readonly scope: 'all' | 'az';
      readonly target: TargetSpec;
      readonly delayMs: number;
      readonly jitterMs: number;
      /** Packet loss as TCP sees it: latency spikes and rare resets. */
      readonly spikeProb: number;
      readonly spikeMs: number;
      readonly resetProb: number;
      readonly holdMs: number;
    }
  | {
      readonly kind: 'failpoint';
      readonly target: TargetSpec;
      /** CELLKV_FAILPOINTS value for the restart. */
      readonly failpoint: string;
      /** Hand it the leadership after the restart (leader-side failpoints). */
      readonly makeLeader: boolean;
      /** Keep it down until the log moved past it, so it needs a snapshot. */
      readonly needSnapshot: boolean;
      readonly holdMs: number;
    }
  | { readonly kind: 'transfer'; readonly pick: number }
  /** Splits the cell that owns workload key #pick at that key (through the admin API, on its leader). */
  | { readonly kind: 'split'; readonly pick: number }
  /** Merges neighbouring data cells number `pick` and the next (splitting at key#pick first when there is one cell). */
  | { readonly kind: 'merge'; readonly pick: number }
  /**
   * Moves the data cell's az1 replica to the other az1 node (n1 <-> n4) through the admin
   * `move`, sent to the leader or follower #pick (forwarded to the leader); optionally with a
   * node killed, paused or cut off while the move runs.
   */
  | { readonly kind: 'move'; readonly via: TargetSpec; readonly during: MoveDisruption | null }
  | {
      readonly kind: 'snapshot';
      readonly pick: number;
      /** Arm a sleep inside snapshot install so the kill lands while it is in progress. */
      readonly sleepInInstall: boolean;
      /** How long after the restarted node is ready it is killed again. */
      readonly killAfterMs: number;
    };

export interface ScheduledFault {
  /** 1-based position in the schedule. */
  readonly n: number;
  /** Quiet time before this fault starts. */
  readonly gapMs: number;
  readonly spec: FaultSpec;
}

interface FailpointChoice {
  readonly spec: string;
  readonly makeLeader: boolean;
  readonly needSnapshot: boolean;
}

const FAILPOINTS: readonly FailpointChoice[] = [
  { spec: 'beforeApply=panic@5', makeLeader: false, needSnapshot: false },
  { spec: 'beforeApply=panic@40', makeLeader: false, needSnapshot: false },
  { spec: 'afterLogSync=sleep(200)', makeLeader: true, needSnapshot: false },
  { spec: 'afterLogSync=panic@10', makeLeader: false, needSnapshot: false },
  { spec: 'beforeLogSync=panic@3', makeLeader: false, needSnapshot: false },
  { spec: 'beforeLogSync=sleep(150)', makeLeader: false, needSnapshot: false },
  { spec: 'beforeApply=sleep(60)', makeLeader: true, needSnapshot: false },
  { spec: 'beforeLeaderSend=panic@20', makeLeader: true, needSnapshot: false },
  { spec: 'duringSnapshotSend=panic@1', makeLeader: true, needSnapshot: false },
  { spec: 'duringSnapshotInstall=panic@1', makeLeader: false, needSnapshot: true },
];

/** Rough wall time of a fault (restarts of tsx processes dominate); used to fill the run. */
export function estimateMs(s: FaultSpec): number {
  const restart = 2500;
  switch (s.kind) {
    case 'kill':
      return s.downMs + restart;
    case 'pause':
      return s.pauseMs + 300;
    case 'partition':
    case 'delay':
      return s.holdMs + 300;
    case 'failpoint':
      return restart * 2 + s.holdMs + (s.needSnapshot ? 3000 : 0);
    case 'transfer':
      return 800;
    case 'split':
      return 1500;
    case 'merge':
      return 3000;
    case 'move':
      return 3000 + (s.during ? s.during.forMs + (s.during.what === 'kill' ? restart : 0) : 0);
    case 'snapshot':
      return restart * 2 + 3000 + s.killAfterMs;
  }
}

function target(rng: Rng, leaderChance = 0.5): TargetSpec {
  return { role: rng.chance(leaderChance) ? 'leader' : 'follower', pick: rng.int(2) };
}

function makeSpec(kind: FaultKind, rng: Rng): FaultSpec {
  switch (kind) {
    case 'kill':
      return { kind, target: target(rng, 0.6), downMs: rng.range(600, 2500) };
    case 'pause':
      // Election timeout is 20 ticks (randomized up to 2x): pauses outlast it.
      return { kind, target: target(rng, 0.6), pauseMs: rng.range(1500, 3500) };
    case 'partition': {
      const shape = rng.pick<PartitionShape>(['isolate-node', 'isolate-az', 'cut-route', 'one-way-node', 'one-way-route']);
      return { kind, shape, target: target(rng, 0.6), otherPick: rng.int(2), direction: rng.chance(0.5) ? 'in' : 'out', holdMs: rng.range(2000, 5000) };
    }
    case 'delay': {
      const lossy = rng.chance(0.5);
      return {
        kind,
        scope: rng.chance(0.5) ? 'all' : 'az',
        target: target(rng),
        delayMs: lossy ? rng.range(1, 10) : rng.range(10, 80),
        jitterMs: rng.range(0, 30),
        spikeProb: lossy ? rng.range(10, 60) / 1000 : 0,
        spikeMs: lossy ? rng.range(100, 700) : 0,
        resetProb: lossy ? rng.range(5, 30) / 10_000 : 0,
        holdMs: rng.range(2500, 5000),
      };
    }
    case 'failpoint': {
      const fp = rng.pick(FAILPOINTS);
      return { kind, target: target(rng), failpoint: fp.spec, makeLeader: fp.makeLeader, needSnapshot: fp.needSnapshot, holdMs: rng.range(2500, 4500) };
    }
    case 'transfer':
      return { kind, pick: rng.int(2) };
    case 'split':
    case 'merge':
      return { kind, pick: rng.int(1 << 16) };
    case 'move': {
      // A small cell moves in ~0.2-0.5 s: disruptions land early to hit a running move.
      const disrupt = rng.chance(0.4);
      const during: MoveDisruption | null = disrupt
        ? { what: rng.pick(['kill', 'pause', 'isolate'] as const), who: rng.pick(['from', 'to', 'leader'] as const), afterMs: rng.range(10, 350), forMs: rng.range(1000, 3000) }
        : null;
      return { kind, via: target(rng), during };
    }
    case 'snapshot':
      return { kind, pick: rng.int(2), sleepInInstall: rng.chance(0.6), killAfterMs: rng.range(150, 900) };
  }
}

export interface ScheduleOptions {
  readonly seed: number;
  /** Length of the fault phase; faults are planned to fill it (by estimate), at least one round. */
  readonly seconds: number;
  readonly kinds: readonly FaultKind[];
  /** Quiet time at the start (clients warm up). */
  readonly warmupMs?: number;
}

export function generateSchedule(o: ScheduleOptions): ScheduledFault[] {
  const kinds = FAULT_KINDS.filter((k) => o.kinds.includes(k));
  if (kinds.length === 0) return [];
  const rng = new Rng(o.seed).fork('schedule');
  const budget = o.seconds * 1000;
  const out: ScheduledFault[] = [];
  let t = o.warmupMs ?? 1500;
  let deck: FaultKind[] = [];
  // At least one full round, so every enabled kind is in the schedule.
  while (t < budget || out.length < kinds.length) {
    if (deck.length === 0) deck = rng.shuffle(kinds);
    const kind = deck.shift()!;
    const spec = makeSpec(kind, rng.fork(`fault-${out.length + 1}`));
    const gapMs = out.length === 0 ? (o.warmupMs ?? 1500) : rng.range(600, 1800);
    out.push({ n: out.length + 1, gapMs, spec });
    t += (out.length === 1 ? 0 : gapMs) + estimateMs(spec);
  }
  return out;
}

/** Parses `--faults kill,pause,...` ("all" = every kind). */
export function parseKinds(text: string): FaultKind[] {
  const parts = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (parts.length === 1 && parts[0] === 'all') return [...FAULT_KINDS];
  const out: FaultKind[] = [];
  for (const p of parts) {
    if (p === 'none') continue;
    if (!(FAULT_KINDS as readonly string[]).includes(p)) throw new Error(`unknown fault kind "${p}"; known: ${FAULT_KINDS.join(', ')}, all, none`);
    if (!out.includes(p as FaultKind)) out.push(p as FaultKind);
  }
  return out;
}

function who(t: TargetSpec): string {
  return t.role === 'leader' ? 'leader' : `follower#${t.pick}`;
}

/** One line per planned fault (targets still symbolic). */
export function describeSpec(s: FaultSpec): string {
  switch (s.kind) {
    case 'kill':
      return `kill -9 ${who(s.target)}, restart after ${s.downMs} ms`;
    case 'pause':
      return `SIGSTOP ${who(s.target)} for ${s.pauseMs} ms`;
    case 'partition':
      return `partition ${s.shape}${s.shape.startsWith('one-way') ? ` (${s.direction})` : ''} at ${who(s.target)}${s.shape.endsWith('route') ? ` other#${s.otherPick}` : ''} for ${s.holdMs} ms`;
    case 'delay':
      return `delay ${s.scope === 'all' ? 'all links' : `AZ of ${who(s.target)}`} ${s.delayMs}+${s.jitterMs} ms${s.spikeProb > 0 ? `, spikes ${s.spikeMs} ms p=${s.spikeProb}, resets p=${s.resetProb}` : ''} for ${s.holdMs} ms`;
    case 'failpoint':
      return `restart ${who(s.target)} with ${s.failpoint}${s.makeLeader ? ' and make it leader' : ''}${s.needSnapshot ? ' after it fell behind' : ''}, ${s.holdMs} ms`;
    case 'transfer':
      return `leader transfer to follower#${s.pick}`;
    case 'split':
      return `split the cell of workload key#${s.pick} at that key`;
    case 'merge':
      return `merge neighbouring data cells #${s.pick} and the next (split at key#${s.pick} first if there is one cell)`;
    case 'move': {
      const d = s.during;
      const during = d ? `; ${d.what === 'kill' ? 'kill -9' : d.what === 'pause' ? 'SIGSTOP' : 'isolate'} the ${d.who === 'leader' ? 'leader' : `${d.who} node`} ${d.afterMs} ms into it for ${d.forMs} ms` : '';
      return `move the data cell's az1 replica to the other az1 node, sent to ${who(s.via)}${during}`;
    }
    case 'snapshot':
      return `follower#${s.pick} down until it needs a snapshot, killed ${s.killAfterMs} ms into its restart${s.sleepInInstall ? ' (install slowed by a failpoint)' : ''}`;
  }
}
