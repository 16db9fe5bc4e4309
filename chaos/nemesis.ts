// Runs a fault schedule against the live cluster, one fault at a time: resolve the targets
// (leader / follower among the nodes that host the data cell now), inject, hold, heal (network whole, nothing paused, every node up
// without failpoints), then a quiet gap. Records when each fault was active, and when a
// leader was killed, for the availability figures.

import { FIRST_DATA_CELL_ID, hexOf } from '../shared/directory.js';
import { namespacedKey } from '../shared/keys.js';
import { cellView, cellViewWithLeader } from './cell-view.js';
import { AZS, sleep, type ChaosCluster } from './cluster.js';
import { injectMove, type MoveRecord } from './move-fault.js';
import { describeSpec, type FaultKind, type FaultSpec, type ScheduledFault, type TargetSpec } from './schedule.js';

export interface FaultRecord {
  readonly n: number;
  readonly kind: FaultKind;
  /** The planned fault, then what it resolved to and what happened. */
  readonly plan: string;
  readonly notes: string[];
  /** Milliseconds since the run's clock zero. */
  readonly startMs: number;
  endMs: number;
}

export interface NemesisOptions {
  readonly cluster: ChaosCluster;
  readonly schedule: readonly ScheduledFault[];
  /** Milliseconds since clock zero (the history's time base). */
  readonly now: () => number;
  /** No fault starts after this time (one in progress runs to its end). */
  readonly deadlineMs: number;
  /** Keep going past the deadline until every kind in the schedule ran once. */
  readonly everyKind: boolean;
  readonly snapshotEvery: number;
  /** The workload's tenant and keys (a split cuts at one of them). */
  readonly tenant: string;
  readonly keys: readonly string[];
  readonly logRetain: number;
  readonly progress: (line: string) => void;
  /** Set to stop early (SIGINT). */
  readonly aborted: () => boolean;
}

const CELL = FIRST_DATA_CELL_ID;

export class Nemesis {
  readonly faults: FaultRecord[] = [];
  /** Times (ms since zero) at which the harness killed the data cell's leader. */
  readonly leaderKills: number[] = [];
  /** Every move the harness asked for, and how it ended. */
  readonly moves: MoveRecord[] = [];

  constructor(private readonly o: NemesisOptions) {}

  private get c(): ChaosCluster {
    return this.o.cluster;
  }

  /** Sleeps `ms`, cut short by an abort. */
  private async hold(ms: number): Promise<void> {
    const until = this.o.now() + ms;
    while (this.o.now() < until && !this.o.aborted()) await sleep(Math.min(100, until - this.o.now()));
  }

  private timeLeft(): boolean {
    return !this.o.aborted();
  }

  private mayStart(kind: FaultKind): boolean {
    if (this.o.aborted()) return false;
    if (this.o.now() < this.o.deadlineMs) return true;
    return this.o.everyKind && !this.faults.some((f) => f.kind === kind);
  }

  async run(): Promise<void> {
    for (const f of this.o.schedule) {
      if (!this.mayStart(f.spec.kind)) {
        if (this.o.aborted() || !this.o.everyKind) break;
        continue;
      }
      await this.hold(f.gapMs);
      if (this.o.aborted()) break;
      const rec: FaultRecord = { n: f.n, kind: f.spec.kind, plan: describeSpec(f.spec), notes: [], startMs: this.o.now(), endMs: 0 };
      this.faults.push(rec);
      this.o.progress(`[chaos] fault ${f.n}: ${rec.plan}`);
      try {
        await this.inject(f.spec, rec);
      } catch (e) {
        rec.notes.push(`error: ${(e as Error).message}`);
      }
      // A node that cannot be brought back is a finding for the checks, not a harness crash.
      await this.c.healAll().catch((e: Error) => rec.notes.push(`heal failed: ${e.message}`));
      rec.endMs = this.o.now();
      this.o.progress(`[chaos] fault ${f.n} healed after ${((rec.endMs - rec.startMs) / 1000).toFixed(1)} s${rec.notes.length ? `: ${rec.notes.join('; ')}` : ''}`);
    }
  }

  /**
   * The data cell's leader and voters (the nodes hosting it now), waiting a little for a
   * leader; without one, the first running voter stands in for it.
   */
  private async members(): Promise<{ leader: string; voters: readonly string[] }> {
    const v = await cellViewWithLeader(this.c, CELL, 3000);
    const voters = v && v.voters.length > 0 ? v.voters : this.c.nodeIds.slice(0, 3);
    return { leader: v?.leader ?? voters.find((id) => this.c.isUp(id)) ?? voters[0]!, voters };
  }

  private async leader(): Promise<string> {
    return (await this.members()).leader;
  }

  private async resolve(t: TargetSpec, rec: FaultRecord): Promise<{ id: string; wasLeader: boolean }> {
    const { leader, voters } = await this.members();
    if (t.role === 'leader') {
      rec.notes.push(`leader=${leader}`);
      return { id: leader, wasLeader: true };
    }
    const followers = voters.filter((id) => id !== leader);
    const id = followers[t.pick % followers.length] ?? leader;
    rec.notes.push(`follower=${id} (leader ${leader}, voters ${voters.join(',')})`);
    return { id, wasLeader: id === leader };
  }

  private async kill(id: string, wasLeader: boolean): Promise<void> {
    if (wasLeader) this.leaderKills.push(this.o.now());
    await this.c.killNode(id);
  }

  /** The live data cells in key order, as the running nodes report them (frozen ones left out). */
  private async dataCells(): Promise<{ cell: string; start: string; end: string | null }[]> {
    const byId = new Map<string, { cell: string; start: string; end: string | null; epoch: number }>();
    for (const id of this.c.nodeIds) {
      if (!this.c.isUp(id)) continue;
      for (const c of (await this.c.status(id, 1500)) ?? []) {
        const x = c as typeof c & { frozen?: boolean; epoch?: number };
        if (x.cell === 'meta' || x.frozen === true || x.start === undefined) continue;
        const seen = byId.get(x.cell);
        if (!seen || (x.epoch ?? 0) > seen.epoch) byId.set(x.cell, { cell: x.cell, start: x.start, end: x.end ?? null, epoch: x.epoch ?? 0 });
      }
    }
    const sorted = [...byId.values()].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
    // Only pairs that meet: a lagging report could show an overlap or a gap.
    return sorted.filter((c, i) => i === 0 || sorted[i - 1]!.end === c.start || (i + 1 < sorted.length && c.end === sorted[i + 1]!.start));
  }

  private async cellStatus(id: string) {
    return (await this.c.status(id))?.find((x) => x.cell === CELL) ?? null;
  }

  /**
   * After `id` went down at `lastIndex`: waits (bounded) until the leader applied far enough
   * past it that the log was compacted beyond it, so the node will need a snapshot.
   */
  private async waitUntilBehind(lastIndex: number, rec: FaultRecord): Promise<void> {
    const target = lastIndex + this.o.snapshotEvery + this.o.logRetain + 20;
    const until = this.o.now() + 12_000;
    while (this.o.now() < until && !this.o.aborted()) {
      const l = await this.c.leaderOf(CELL);
      const st = l ? await this.cellStatus(l) : null;
      if (st && st.applied >= target) {
        rec.notes.push(`log moved ${st.applied - lastIndex} entries past it`);
        return;
      }
      await sleep(200);
    }
    rec.notes.push(`log did not move ${target - lastIndex} entries within 12 s (no snapshot forced)`);
  }

  private async makeLeader(id: string, rec: FaultRecord): Promise<void> {
    for (let i = 0; i < 3 && this.timeLeft(); i++) {
      const l = await this.leader();
      if (l === id) {
        rec.notes.push(`${id} leads`);
        return;
      }
      await this.c.adminRequest(l, { op: 'transfer', cell: CELL, to: id }).catch(() => undefined);
      await sleep(700);
    }
    rec.notes.push(`${id} did not take the leadership`);
  }

  private async snapshotInstalls(id: string): Promise<number> {
    return this.c.metric(id, 'cellkv_snapshots_installed_total');
  }

  private async waitCaughtUp(id: string, rec: FaultRecord, timeoutMs = 15_000): Promise<boolean> {
    const until = this.o.now() + timeoutMs;
    while (this.o.now() < until && !this.o.aborted()) {
      const l = await this.c.leaderOf(CELL);
      const ls = l ? await this.cellStatus(l) : null;
      const ns = await this.cellStatus(id);
      if (ls && ns && ns.applied >= ls.commit) return true;
      await sleep(200);
    }
    rec.notes.push(`${id} did not catch up within ${timeoutMs} ms`);
    return false;
  }

  private async move(cell: string, s: Extract<FaultSpec, { kind: 'move' }>, rec: FaultRecord): Promise<void> {
    const m = await injectMove({ cluster: this.c, cell, now: this.o.now, hold: (ms) => this.hold(ms), kill: (id, wasLeader) => this.kill(id, wasLeader), notes: rec.notes }, s);
    if (m) this.moves.push(m);
  }

  /**
   * The nodes hosting both cells of a merge. Cells on different nodes (a move took one's az1
   * replica to the other az1 node) cannot merge: the right cell's az1 replica moves first.
   */
  private async colocate(left: string, right: string, rec: FaultRecord): Promise<readonly string[]> {
    const [lv, rv] = await Promise.all([cellView(this.c, left, 1500), cellView(this.c, right, 1500)]);
    if (!lv || !rv) return lv?.voters ?? this.c.nodeIds;
    if (lv.voters.join() !== rv.voters.join() && this.c.nodesInAz(0).length > 1) {
      rec.notes.push(`${left} on ${lv.voters.join(',')} but ${right} on ${rv.voters.join(',')}: moving ${right}'s az1 replica first`);
      await this.move(right, { kind: 'move', via: { role: 'leader', pick: 0 }, during: null }, rec);
    }
    const after = (await cellView(this.c, right, 1500))?.voters ?? rv.voters;
    const both = lv.voters.filter((id) => after.includes(id));
    return both.length > 0 ? both : lv.voters;
  }

  private async inject(s: FaultSpec, rec: FaultRecord): Promise<void> {
    switch (s.kind) {
      case 'kill': {
        const t = await this.resolve(s.target, rec);
        await this.kill(t.id, t.wasLeader);
        await this.hold(s.downMs);
        await this.c.startNode(t.id);
        return;
      }
      case 'pause': {
        const t = await this.resolve(s.target, rec);
        this.c.pause(t.id);
        await this.hold(s.pauseMs);
        this.c.resume(t.id);
        return;
      }
      case 'partition': {
        const t = await this.resolve(s.target, rec);
        const az = this.c.azIndex(t.id);
        const others = [0, 1, 2].filter((i) => i !== az);
        const other = others[s.otherPick % 2]!;
        switch (s.shape) {
          case 'isolate-node':
            this.c.isolateNode(t.id);
            break;
          case 'isolate-az':
            this.c.isolateAz(az);
            break;
          case 'cut-route':
            this.c.cutRoute(az, other);
            rec.notes.push(`route ${AZS[az]}-${AZS[other]} cut`);
            break;
          case 'one-way-node':
            this.c.holdNode(t.id, s.direction);
            break;
          case 'one-way-route':
            if (s.direction === 'out') this.c.holdRoute(az, other);
            else this.c.holdRoute(other, az);
            rec.notes.push(s.direction === 'out' ? `${AZS[az]}->${AZS[other]} held` : `${AZS[other]}->${AZS[az]} held`);
            break;
        }
        await this.hold(s.holdMs);
        this.c.healNetwork();
        return;
      }
      case 'delay': {
        const faults = { delayMs: s.delayMs, jitterMs: s.jitterMs, spikeProb: s.spikeProb, spikeMs: s.spikeMs, resetProb: s.resetProb };
        if (s.scope === 'all') {
          for (const p of this.c.allProxies) p.set(faults);
        } else {
          const t = await this.resolve(s.target, rec);
          const az = this.c.azIndex(t.id);
          const links = [this.c.link(t.id), ...[0, 1, 2].filter((i) => i !== az).map((i) => this.c.route(az, i))];
          for (const p of links) p.set(faults);
        }
        await this.hold(s.holdMs);
        const resets = this.c.allProxies.reduce((n, p) => n + p.stats.resets, 0);
        rec.notes.push(`resets so far ${resets}`);
        this.c.healNetwork();
        return;
      }
      case 'failpoint': {
        const t = await this.resolve(s.target, rec);
        const last = (await this.cellStatus(t.id))?.lastIndex ?? 0;
        await this.kill(t.id, t.wasLeader);
        if (s.needSnapshot) await this.waitUntilBehind(last, rec);
        await this.c.startNode(t.id, s.failpoint);
        if (s.makeLeader && this.c.isUp(t.id)) await this.makeLeader(t.id, rec);
        const until = this.o.now() + s.holdMs;
        while (this.c.isUp(t.id) && this.o.now() < until && this.timeLeft()) await sleep(100);
        if (!this.c.isUp(t.id)) rec.notes.push('failpoint fired');
        else rec.notes.push('failpoint did not fire');
        await this.c.killNode(t.id);
        await this.c.startNode(t.id);
        return;
      }
      case 'transfer': {
        const { leader: from, voters } = await this.members();
        const followers = voters.filter((id) => id !== from);
        const to = followers[s.pick % followers.length] ?? from;
        rec.notes.push(`${from} -> ${to}`);
        await this.makeLeader(to, rec);
        return;
      }
      case 'merge': {
        let cells = await this.dataCells();
        if (cells.length < 2) {
          await this.inject({ kind: 'split', pick: s.pick }, rec);
          cells = await this.dataCells();
        }
        if (cells.length < 2) {
          rec.notes.push('one data cell and the split did not happen; skipped');
          return;
        }
        const i = s.pick % (cells.length - 1);
        const [left, right] = [cells[i]!, cells[i + 1]!];
        if (left.end !== right.start) {
          rec.notes.push(`cells ${left.cell} and ${right.cell} do not meet in the nodes' reports; skipped`);
          return;
        }
        const hosts = await this.colocate(left.cell, right.cell, rec);
        const node = hosts[s.pick % hosts.length]!;
        const t0 = this.o.now();
        type MergeReply = { ok: boolean; freezeIndex?: number; commitIndex?: number; code?: string; message?: string };
        let reply: MergeReply = { ok: false };
        // A node may not host a just-split cell yet (it applies the split a moment later).
        for (let attempt = 0; attempt < 10; attempt++) {
          reply = await this.c.adminRequest<MergeReply>(node, { op: 'merge', left: left.cell, right: right.cell }, 30_000).catch((e: Error) => ({ ok: false, message: e.message }));
          if (reply.ok || reply.code !== 'NOT_FOUND') break;
          await sleep(300);
        }
        rec.notes.push(
          reply.ok
            ? `merged ${right.cell} into ${left.cell} on ${node} in ${Math.round(this.o.now() - t0)} ms (freeze ${reply.freezeIndex}, commit ${reply.commitIndex})`
            : `merge of ${right.cell} into ${left.cell} refused or given up: ${reply.message ?? ''}`,
        );
        return;
      }
      case 'split': {
        const key = this.o.keys[s.pick % this.o.keys.length]!;
        const ns = hexOf(namespacedKey(this.o.tenant, new TextEncoder().encode(key)));
        // The leader of the cell whose range holds the key, as the nodes report it.
        let owner: { node: string; cell: string; start: string } | null = null;
        for (const id of this.c.nodeIds) {
          for (const c of (await this.c.status(id, 1500)) ?? []) {
            if (c.cell === 'meta' || c.role !== 'leader' || c.start === undefined) continue;
            if (ns >= c.start && (c.end === null || c.end === undefined || ns < c.end)) owner = { node: id, cell: c.cell, start: c.start };
          }
        }
        if (owner === null) {
          rec.notes.push(`no leader found for the cell of ${key}; skipped`);
          return;
        }
        if (owner.start === ns) {
          rec.notes.push(`${key} already starts cell ${owner.cell}; skipped`);
          return;
        }
        const reply = await this.c
          .adminRequest<{ ok: boolean; right?: string; index?: number; code?: string; message?: string }>(owner.node, { op: 'split', cell: owner.cell, splitKey: ns }, 10_000)
          .catch((e: Error) => ({ ok: false, message: e.message }) as { ok: boolean; right?: string; index?: number; message?: string });
        rec.notes.push(reply.ok ? `split ${owner.cell} at ${key} on ${owner.node}: new cell ${reply.right} from index ${reply.index}` : `split of ${owner.cell} refused or lost: ${reply.message ?? ''}`);
        return;
      }
      case 'move':
        await this.move(CELL, s, rec);
        return;
      case 'snapshot': {
        const t = await this.resolve({ role: 'follower', pick: s.pick }, rec);
        const last = (await this.cellStatus(t.id))?.lastIndex ?? 0;
        await this.kill(t.id, false);
        await this.waitUntilBehind(last, rec);
        await this.c.startNode(t.id, s.sleepInInstall ? 'duringSnapshotInstall=sleep(1500)' : '');
        await sleep(s.killAfterMs);
        await this.c.killNode(t.id);
        rec.notes.push(`killed ${s.killAfterMs} ms after restart`);
        await this.c.startNode(t.id);
        if (await this.waitCaughtUp(t.id, rec)) {
          const n = await this.snapshotInstalls(t.id);
          rec.notes.push(n > 0 ? `caught up by snapshot (${n} installed)` : 'caught up from the log');
        }
        return;
      }
    }
  }
}
