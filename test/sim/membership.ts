// Membership changes in flight: one "replica move" at a time, as the design does it: add a
// new node as a learner, let it catch up (it learns the configuration from a snapshot), promote
// it to voter, then remove an old voter (possibly the leader) and shut that one down.
// Half the rounds swap instead: promote the learner and remove the old voter in one joint
// change, so the incoming and outgoing majorities differ (a commit or an election that counts
// only one half is then unsafe), and the leader is often the one removed mid-joint.
// Now and then a three-voter cell shrinks to one voter in one joint change (incoming half of a
// single voter: a shortcut that skipped the outgoing half would show there), and the following
// rounds grow it back, promoting without removing while it is below its size.
// Every stage re-proposes until the change shows up applied, within a bounded number of tries.

import type { ConfChange, ConfState, NodeId } from '../../cell/raft/types.js';
import type { Cluster } from './cluster.js';
import type { Rng } from './rng.js';

type Stage = 'idle' | 'learner' | 'catchup' | 'promote' | 'remove' | 'retire' | 'shrink';

/** Ticks between re-proposals of a stage's change. */
const REPROPOSE_EVERY = 25;
/** A whole round is abandoned after this many ticks (the cluster stays valid at any stage). */
const ROUND_DEADLINE = 1500;
const CATCHUP_SLACK = 3;
/** Ticks between the removal being applied and the removed node being shut down. */
const RETIRE_AFTER = 30;

function inConf(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id) || cs.learners.includes(id) || cs.learnersNext.includes(id);
}

function joint(cs: ConfState): boolean {
  return cs.votersOutgoing.length > 0;
}

export class MembershipDriver {
  private stage: Stage = 'idle';
  private newNode: NodeId | null = null;
  private victim: NodeId | null = null;
  private roundEnds = 0;
  private swap = false;
  /**
   * A learner that joins with some round and stays for the rest of the run: with it the
   * configuration has learners next to an even number of voters (while a promoted node and
   * its victim are both voters), where a quorum that counted learners would be too small.
   */
  private observer: NodeId | null = null;
  /** Shrink rounds: the voters removed together. */
  private shrinkVictims: NodeId[] = [];
  /** The voter count the cell is grown back to after a shrink. */
  private readonly size: number;
  private nextProposeAt = 0;
  private stageSince = 0;
  rounds = 0;
  completed = 0;
  abandoned = 0;

  constructor(
    private readonly cluster: Cluster,
    private readonly rng: Rng,
  ) {
    this.size = cluster.memberIds().length;
  }

  busy(): boolean {
    return this.stage !== 'idle';
  }

  /** Starts a round; returns false when one is running or the cluster cannot grow. */
  begin(now: number): boolean {
    if (this.stage !== 'idle' || this.cluster.leader() === null) return false;
    if (this.cluster.allHosts().length >= 10) return false; // MAX_NODES headroom for the next round
    const voters = this.cluster.latestConf()?.voters ?? [];
    const leader = this.cluster.leader();
    if (this.size === 3 && voters.length === 3 && leader !== null && this.cluster.allHosts().length <= 7 && this.rng.chance(0.15)) {
      // The leader stays (the design moves leadership away before removing a replica): a lone
      // remaining voter that has not yet learned the change is committed could otherwise need
      // the votes of the removed nodes, whose logs may be longer.
      this.shrinkVictims = this.rng.shuffle(voters.filter((v) => v !== leader.id)).slice(0, 2);
      this.rounds++;
      this.roundEnds = now + ROUND_DEADLINE;
      this.enter('shrink', now);
      return true;
    }
    this.newNode = this.cluster.addNode();
    this.victim = null;
    this.swap = voters.length >= this.size && this.rng.chance(0.5);
    if (this.observer === null && this.rng.chance(0.5) && this.cluster.allHosts().length < 9) this.observer = this.cluster.addNode();
    this.rounds++;
    this.roundEnds = now + ROUND_DEADLINE;
    this.enter('learner', now);
    return true;
  }

  private enter(stage: Stage, now: number): void {
    this.stage = stage;
    this.stageSince = now;
    this.nextProposeAt = now;
    const nn = this.newNode;
    const v = this.victim;
    this.cluster.trace.event(now, () => `membership: stage ${stage} (new ${nn ?? '-'}, victim ${v ?? '-'})`);
  }

  private propose(now: number, cc: ConfChange): void {
    if (now < this.nextProposeAt) return;
    this.nextProposeAt = now + REPROPOSE_EVERY;
    const leader = this.cluster.leader();
    if (leader === null) return;
    const trace = this.cluster.trace;
    this.cluster.host(leader.id).act((r) => {
      const res = r.proposeConfChange(cc);
      trace.event(now, () => `membership: ${leader.id} propose ${JSON.stringify(cc.changes)} -> ${res.ok ? `index ${res.index}` : res.error}`);
    });
  }

  /** Two of three voters leave in one joint change (the incoming half is a single voter). */
  private stepShrink(now: number, conf: ConfState): void {
    const victims = this.shrinkVictims;
    if (this.stage === 'shrink') {
      const leader = this.cluster.leader();
      const keeper = conf.voters.find((v) => !victims.includes(v));
      if (victims.every((v) => !inConf(conf, v)) && !joint(conf)) this.enter('retire', now);
      else if (leader !== null && victims.includes(leader.id) && keeper !== undefined) {
        // Leadership moved to a victim meanwhile: move it back to the keeper first.
        if (now >= this.nextProposeAt) {
          this.nextProposeAt = now + REPROPOSE_EVERY;
          this.cluster.host(leader.id).act((r) => r.transferLeadership(keeper));
        }
      } else if (!joint(conf) && victims.every((v) => conf.voters.includes(v))) {
        this.propose(now, { changes: victims.map((node) => ({ type: 'removeNode' as const, node })) });
      }
      return;
    }
    // The remaining voter must have applied the change first, and know durably that it is
    // committed (a commit index written without an fsync is lost in a crash): once the others
    // are gone, nobody else could tell it that it is alone.
    const settled = conf.voters.every((v) => {
      const h = this.cluster.host(v);
      const cs = h.confState();
      const same = cs.voters.length === conf.voters.length && cs.voters.every((x) => conf.voters.includes(x));
      return h.alive && same && !joint(cs) && victims.every((x) => !inConf(cs, x)) && h.lastConfIndex() > 0 && h.durableCommit() >= h.lastConfIndex();
    });
    if (!settled && now >= this.nextProposeAt) {
      // A commit index rides to disk with the next entries: give it some.
      this.nextProposeAt = now + REPROPOSE_EVERY;
      const leader = this.cluster.leader();
      if (leader !== null) this.cluster.host(leader.id).act((r) => void r.propose(new Uint8Array(0)));
    }
    if (settled && now - this.stageSince >= RETIRE_AFTER) {
      for (const v of victims) this.cluster.retire(v);
      this.shrinkVictims = [];
      this.completed++;
      this.stage = 'idle';
    }
  }

  /** One joint change: the learner becomes a voter and an old voter (often the leader) leaves. */
  private stepSwap(now: number, conf: ConfState, nn: NodeId): void {
    if (this.victim === null) {
      const old = conf.voters.filter((v) => v !== nn);
      if (old.length === 0 || joint(conf)) return;
      const leader = this.cluster.leader();
      this.victim = leader !== null && old.includes(leader.id) && this.rng.chance(0.5) ? leader.id : this.rng.pick(old);
    }
    const victim = this.victim;
    if (!inConf(conf, victim) && !conf.voters.includes(nn)) {
      // Picked from a view that still had it (an older configuration): pick again.
      this.victim = null;
      return;
    }
    if (conf.voters.includes(nn) && !inConf(conf, victim) && !joint(conf)) this.enter('retire', now);
    else if (!joint(conf) && inConf(conf, victim)) {
      this.propose(now, { changes: [{ type: 'addVoter', node: nn }, { type: 'removeNode', node: victim }] });
    }
  }

  step(now: number): void {
    if (this.stage === 'idle') return;
    // Once a removal may be in the log the round must finish: a removed node left running
    // would campaign forever and disrupt the cluster (Raft dissertation §4.2.3).
    const removing = this.stage === 'remove' || this.stage === 'shrink' || (this.stage === 'promote' && this.swap && this.victim !== null);
    if (now >= this.roundEnds && this.stage !== 'retire' && !removing) {
      this.abandoned++;
      this.cluster.trace.event(now, () => `membership: round abandoned at stage ${this.stage}`);
      this.stage = 'idle';
      return;
    }
    const conf = this.cluster.latestConf();
    if (conf === null) return;
    if (this.stage === 'shrink' || (this.stage === 'retire' && this.shrinkVictims.length > 0)) return this.stepShrink(now, conf);
    const nn = this.newNode!;
    switch (this.stage) {
      case 'learner': {
        const obs = this.observer;
        const observerIn = obs === null || inConf(conf, obs);
        if (inConf(conf, nn) && observerIn && !joint(conf)) this.enter('catchup', now);
        else if (!joint(conf)) {
          const changes: ConfChange['changes'][number][] = [];
          if (!inConf(conf, nn)) changes.push({ type: 'addLearner', node: nn });
          if (!observerIn) changes.push({ type: 'addLearner', node: obs! });
          this.propose(now, { changes });
        }
        return;
      }
      case 'catchup': {
        const leader = this.cluster.leader();
        const host = this.cluster.host(nn);
        const caughtUp = leader !== null && host.alive && host.applied() + CATCHUP_SLACK >= leader.status.commit;
        // Growing back a small cell, a lagging new voter would be needed for every commit:
        // promote it only once it has caught up (or give the round up at its deadline).
        const growing = conf.voters.length < this.size;
        if (caughtUp || (!growing && now - this.stageSince > 300)) this.enter('promote', now);
        return;
      }
      case 'promote':
        if (this.swap) {
          this.stepSwap(now, conf, nn);
          return;
        }
        if (conf.voters.includes(nn) && !joint(conf)) {
          const old = conf.voters.filter((v) => v !== nn);
          if (conf.voters.length <= this.size) {
            // Growing back after a shrink: this round only adds.
            this.completed++;
            this.stage = 'idle';
            return;
          }
          if (old.length === 0) {
            this.stage = 'idle';
            return;
          }
          this.victim = this.rng.pick(old);
          this.enter('remove', now);
        } else if (!joint(conf)) {
          this.propose(now, { changes: [{ type: 'addVoter', node: nn }] });
        }
        return;
      case 'remove': {
        const victim = this.victim!;
        if (!inConf(conf, victim) && !joint(conf)) this.enter('retire', now);
        else if (!joint(conf)) this.propose(now, { changes: [{ type: 'removeNode', node: victim }] });
        return;
      }
      case 'retire':
        // Also where a swap ends; a swap whose joint entry may be in the log must finish too.
        if (now - this.stageSince >= RETIRE_AFTER) {
          this.cluster.retire(this.victim!);
          this.completed++;
          this.stage = 'idle';
        }
        return;
    }
  }
}
