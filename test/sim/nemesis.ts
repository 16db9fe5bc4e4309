// Seeded fault schedules. A run enables a set of fault types (chosen by the seed or named with
// --faults) and the nemesis injects them at random times during the chaos phase; heal() then
// undoes every fault so liveness can be checked.

import { assert } from '../../shared/assert.js';
import type { NodeId } from '../../cell/raft/types.js';
import type { Cluster } from './cluster.js';
import type { MembershipDriver } from './membership.js';
import { CALM, type NetConditions } from './network.js';
import type { Rng } from './rng.js';

export const FAULT_TYPES = [
  'drop',
  'delay',
  'reorder',
  'dup',
  'partition',
  'asym',
  'bridge',
  'crash',
  'transfer',
  'membership',
  'snapshot',
  'slowdisk',
  'replay',
] as const;

export type FaultType = (typeof FAULT_TYPES)[number];

export function isFaultType(s: string): s is FaultType {
  return (FAULT_TYPES as readonly string[]).includes(s);
}

/** The seed's own mix: every fault type with even odds, at least two of them. */
export function chooseFaults(rng: Rng): FaultType[] {
  for (let tries = 0; tries < 100; tries++) {
    const picked = FAULT_TYPES.filter(() => rng.chance(0.5));
    if (picked.length >= 2) return picked;
  }
  return [...FAULT_TYPES];
}

interface Timer {
  next: number;
}

export class Nemesis {
  private readonly faults: Set<FaultType>;
  private readonly partitionTimer: Timer = { next: 0 };
  private readonly crashTimer: Timer = { next: 0 };
  private readonly transferTimer: Timer = { next: 0 };
  private readonly membershipTimer: Timer = { next: 0 };
  private readonly netTimer: Timer = { next: 0 };
  private readonly replayTimer: Timer = { next: 0 };
  private readonly islandTimer: Timer = { next: 0 };
  /** Tick each down node comes back (crashes are followed by restarts). */
  private readonly restartAt = new Map<NodeId, number>();
  private active = true;
  /** Chance that a freshly elected leader is killed within a few ticks (Figure 8 schedules). */
  private readonly leaderKillRate: number;
  private lastLeaderTerm = 0;
  private killAt: { id: NodeId; at: number } | null = null;
  /** Per-tick chance to cut off a leader that has not yet committed an entry of its term. */
  private readonly leaderIsolateRate: number;
  private isolateAt: { id: NodeId; at: number } | null = null;
  private isolateCooldownUntil = 0;
  stats = { partitions: 0, crashes: 0, restarts: 0, transfers: 0, membershipRounds: 0 };

  constructor(
    private readonly rng: Rng,
    private readonly cluster: Cluster,
    private readonly membership: MembershipDriver,
    faults: readonly FaultType[],
    private readonly electionTicks: number,
  ) {
    this.faults = new Set(faults);
    this.partitionTimer.next = rng.range(20, 100);
    this.crashTimer.next = rng.range(20, 80);
    this.transferTimer.next = rng.range(50, 150);
    this.membershipTimer.next = rng.range(60, 200);
    if (this.has('crash') || this.has('slowdisk')) {
      // A crash only loses something if persisting takes time; slowdisk makes it take longer.
      this.cluster.disk = this.has('slowdisk')
        ? { slowRate: 0.2 + rng.next() * 0.5, maxDelay: rng.range(1, 4) }
        : { slowRate: 0.2 + rng.next() * 0.2, maxDelay: 2 };
    }
    this.cluster.net.setConditions(this.drawConditions());
    this.leaderKillRate = this.has('crash') ? rng.pick([0, 0.2, 0.5]) : 0;
    this.leaderIsolateRate = this.has('partition') ? rng.pick([0, 0.1, 0.3]) : 0;
    // Crashes right around the persistence of votes and vote requests: before the Ready is
    // durable (after what may leave early has left) or after it, before the rest is sent.
    this.cluster.electionCrashRate = this.has('crash') ? rng.pick([0.05, 0.15, 0.3]) : 0;
    this.cluster.onSelfCrash = (id) => {
      this.stats.crashes++;
      this.restartAt.set(id, this.cluster.now + this.rng.range(1, 3 * this.electionTicks));
    };
  }

  private has(f: FaultType): boolean {
    return this.faults.has(f);
  }

  private drawConditions(): NetConditions {
    const r = this.rng;
    const e = this.electionTicks;
    return {
      dropRate: this.has('drop') ? r.pick([0.01, 0.05, 0.1, 0.2]) : 0,
      dupRate: this.has('dup') ? r.pick([0.01, 0.05, 0.15]) : 0,
      minDelay: 1,
      maxDelay: this.has('delay') ? r.range(2, Math.max(3, Math.floor(e / 2))) : 2,
      spikeRate: this.has('delay') ? r.pick([0.01, 0.03, 0.1]) : 0,
      spikeDelay: this.has('delay') ? r.range(e, 4 * e) : 0,
      reorder: this.has('reorder'),
      replayRate: this.has('replay') ? r.pick([0.01, 0.05, 0.15]) : 0,
    };
  }

  step(now: number): void {
    if (!this.active) return;
    if (now >= this.netTimer.next) {
      this.netTimer.next = now + this.rng.range(50, 250);
      this.cluster.net.setConditions(this.drawConditions());
    }
    if ((this.has('partition') || this.has('asym') || this.has('bridge')) && now >= this.partitionTimer.next) {
      this.partitionTimer.next = now + this.rng.range(10, 6 * this.electionTicks);
      this.togglePartition(now);
    }
    for (const [id, at] of this.restartAt) {
      if (now < at) continue;
      this.restartAt.delete(id);
      if (this.cluster.host(id).retired) continue;
      this.cluster.restart(id);
      this.stats.restarts++;
    }
    this.watchNewLeader(now);
    if (this.has('crash') && now >= this.crashTimer.next) {
      this.crashTimer.next = now + this.rng.range(this.electionTicks, 10 * this.electionTicks);
      this.crashOne(now);
    }
    if (this.has('transfer') && now >= this.transferTimer.next) {
      this.transferTimer.next = now + this.rng.range(20, 15 * this.electionTicks);
      this.transfer(now);
    }
    if (this.has('partition') && now >= this.islandTimer.next) {
      if (this.islandTimer.next > 0) this.leaderIsland(now);
      this.islandTimer.next = now + this.rng.range(150, 400);
    }
    if (this.has('replay') && now >= this.replayTimer.next) {
      this.replayTimer.next = now + this.rng.range(1, 2 * this.electionTicks);
      this.replayStale(now);
    }
    if (this.has('membership') && now >= this.membershipTimer.next) {
      this.membershipTimer.next = now + this.rng.range(100, 400);
      if (this.membership.begin(now)) this.stats.membershipRounds++;
    }
  }

  private togglePartition(now: number): void {
    const net = this.cluster.net;
    if (net.hasPartition() && this.rng.chance(0.6)) {
      net.heal();
      this.cluster.trace.event(now, () => 'nemesis: heal partition');
      return;
    }
    net.heal();
    const kinds = (['partition', 'asym', 'bridge'] as const).filter((k) => this.has(k));
    const kind = this.rng.pick(kinds);
    const members = this.rng.shuffle(this.cluster.memberIds());
    const leader = this.cluster.leader();
    if (leader !== null && this.rng.chance(0.5)) {
      // Often cut off the leader: that is where elections and stale leaders happen.
      members.splice(members.indexOf(leader.id), 1);
      members.unshift(leader.id);
    }
    if (members.length < 2) return;
    this.stats.partitions++;
    if (kind === 'bridge' && members.length >= 3) {
      const bridge = members[members.length - 1]!;
      const rest = members.slice(0, -1);
      const cut = this.rng.range(1, rest.length - 1);
      const a = rest.slice(0, cut);
      const b = rest.slice(cut);
      net.bridge(a, b, bridge);
      this.cluster.trace.event(now, () => `nemesis: bridge ${a.join(',')} | ${bridge} | ${b.join(',')}`);
      return;
    }
    const cut = this.rng.range(1, members.length - 1);
    const a = members.slice(0, cut);
    const b = members.slice(cut);
    if (kind === 'asym') {
      net.oneWay(a, b);
      this.cluster.trace.event(now, () => `nemesis: one-way cut ${a.join(',')} -/-> ${b.join(',')}`);
    } else {
      net.partition(a, b);
      this.cluster.trace.event(now, () => `nemesis: partition ${a.join(',')} | ${b.join(',')}`);
    }
  }

  /**
   * A leader that dies right after its election leaves its no-op (and older-term entries it
   * was re-replicating) on only some nodes: divergent tails across terms, as in Figure 8 of
   * the Raft paper, which is what catches a leader committing older-term entries by counting.
   */
  private watchNewLeader(now: number): void {
    const leader = this.cluster.leader();
    if (leader !== null && leader.status.term > this.lastLeaderTerm) {
      this.lastLeaderTerm = leader.status.term;
      if (this.killAt === null && this.rng.chance(this.leaderKillRate)) {
        this.killAt = { id: leader.id, at: now + this.rng.range(0, 8) };
      }
    }
    // A leader that has not yet committed an entry of its own term is still bringing the
    // others up to date with older terms' entries: the most fragile moment to lose it.
    // A cool-down between such cuts lets some leaders commit, or nothing would ever commit.
    if (
      leader !== null &&
      now >= this.isolateCooldownUntil &&
      this.rng.chance(this.leaderIsolateRate) &&
      !this.cluster.host(leader.id).committedOwnTerm()
    ) {
      this.isolateAt = { id: leader.id, at: now };
      this.isolateCooldownUntil = now + this.rng.range(2 * this.electionTicks, 10 * this.electionTicks);
    }
    const iso = this.isolateAt;
    if (iso !== null && now >= iso.at) {
      this.isolateAt = null;
      const host = this.cluster.host(iso.id);
      if (host.alive && !host.retired) {
        this.cluster.net.heal();
        this.cluster.net.isolate(iso.id, this.cluster.memberIds());
        this.partitionTimer.next = now + this.rng.range(5, 4 * this.electionTicks);
        this.stats.partitions++;
        this.cluster.trace.event(now, () => `nemesis: isolate new leader ${iso.id}`);
      }
    }
    const k = this.killAt;
    if (k === null || now < k.at) return;
    this.killAt = null;
    const host = this.cluster.host(k.id);
    if (!host.alive || host.retired || this.downCount() >= this.maxDown()) return;
    this.cluster.trace.event(now, () => `nemesis: kill new leader ${k.id}`);
    this.cluster.crash(k.id);
    this.stats.crashes++;
    this.restartAt.set(k.id, now + this.rng.range(1, 3 * this.electionTicks));
  }

  private downCount(): number {
    return this.cluster.memberIds().length - this.cluster.liveIds().length;
  }

  /** Usually a minority may be down (the cluster stays available); now and then a majority. */
  private maxDown(): number {
    const total = this.cluster.memberIds().length;
    return this.rng.chance(0.2) ? Math.ceil(total / 2) : Math.floor((total - 1) / 2);
  }

  private crashOne(now: number): void {
    const live = this.cluster.liveIds();
    if (live.length === 0 || this.downCount() >= this.maxDown()) return;
    const leader = this.cluster.leader();
    const unpersisted = live.filter((id) => this.cluster.host(id).hasUnpersistedEntries());
    const r = this.rng.next();
    let victim: NodeId;
    if (leader !== null && r < 0.4) victim = leader.id;
    else if (unpersisted.length > 0 && r < 0.75) victim = this.rng.pick(unpersisted);
    else victim = this.rng.pick(live);
    this.cluster.crash(victim);
    this.stats.crashes++;
    this.restartAt.set(victim, now + this.rng.range(1, 6 * this.electionTicks));
  }

  /**
   * Cuts the leader off from the other nodes for a few election timeouts while clients keep
   * writing to it: it grows an uncommitted suffix while the majority elects a new leader and
   * writes at the same indexes. Repeated over terms, several nodes carry divergent suffixes of
   * different terms (Figure 7 of the Raft paper) that the next leaders must find and overwrite.
   */
  private leaderIsland(now: number): void {
    const leader = this.cluster.leader();
    if (leader === null) return;
    this.cluster.net.heal();
    this.cluster.net.isolate(leader.id, this.cluster.memberIds());
    this.partitionTimer.next = now + this.rng.range(2 * this.electionTicks, 5 * this.electionTicks);
    this.stats.partitions++;
    this.cluster.trace.event(now, () => `nemesis: leader island ${leader.id} (term ${leader.status.term})`);
  }

  /** Hands the leader an answer it got (or a message it sent) in an earlier term. */
  private replayStale(now: number): void {
    const leader = this.cluster.leader();
    if (leader === null) return;
    const id = leader.id;
    const term = leader.status.term;
    const m = this.cluster.net.replayOld((x) => x.to === id && x.term < term && x.term > 0, now);
    if (m !== null) this.cluster.trace.event(now, () => `nemesis: replay to leader ${id} (term ${term}) a ${m.type} of term ${m.term} from ${m.from}`);
  }

  private transfer(now: number): void {
    const leader = this.cluster.leader();
    if (leader === null) return;
    const voters = leader.status.confState.voters.filter((v) => v !== leader.id);
    if (voters.length === 0) return;
    const to = this.rng.pick(voters);
    this.stats.transfers++;
    this.cluster.trace.event(now, () => `nemesis: transfer leadership ${leader.id} -> ${to}`);
    this.cluster.host(leader.id).act((r) => r.transferLeadership(to));
  }

  /** Ends every fault: network calm and whole, every node up, disks fast. */
  heal(now: number): void {
    this.active = false;
    this.cluster.net.heal();
    this.cluster.net.setConditions(CALM);
    this.cluster.disk = { slowRate: 0, maxDelay: 0 };
    this.cluster.electionCrashRate = 0;
    for (const id of this.cluster.downIds()) {
      this.cluster.restart(id);
      this.stats.restarts++;
    }
    this.restartAt.clear();
    assert(this.cluster.downIds().length === 0, 'a node is still down after heal');
    this.cluster.trace.event(now, () => 'nemesis: HEAL (network whole and calm, all nodes up, disks fast)');
  }
}
