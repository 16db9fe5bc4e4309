// One seeded run of the whole-node simulation: three production CellNodes (meta cell and
// data cell each) over simulated disks and network, under crashes (kill -9 and power loss),
// partitions, message loss and duplication, slow and failing fsyncs; then heal, liveness,
// convergence and per-key linearizability of the clients' history. Safety is checked after
// every event: one leader per term and cell, committed entries never change, and (at each
// restart) the disk backs every vote and acknowledgement the node sent.

import { InvariantError } from '../../../shared/assert.js';
import { checkCellkvHistory, formatDetails, type HistoryRecord } from '../../../shared/lincheck/index.js';
import { FIRST_DATA_CELL_ID, META_CELL_ID, hexOf } from '../../../shared/directory.js';
import { compareBytes, inKeyRange, namespacedKey } from '../../../shared/keys.js';
import type { NodeMutation } from '../../../cell/node/mutations.js';
import { Rng, hashString } from '../rng.js';
import { SimFailure, fail, type FailureKind } from '../invariants.js';
import { Tracer, type TraceMode } from '../trace.js';
import { SimScheduler } from './scheduler.js';
import { SimBus, CALM_BUS, type BusFaults } from './sim-bus.js';
import { CALM_DISK, SimulatedDiskError, type DiskFaults } from './sim-disk.js';
import { SimNode, simNodeConfig, type SimNodeSpec } from './sim-node.js';
import { NodeSafety } from './node-safety.js';
import { Convergence } from './node-convergence.js';
import { NodeClients, SIM_TENANT } from './node-clients.js';

export interface NodeRunOptions {
  readonly mutations?: readonly NodeMutation[];
  readonly trace?: TraceMode;
  readonly traceSink?: (line: string) => void;
  /** Virtual milliseconds of chaos (default: seeded, 4-8 s). */
  readonly chaosMs?: number;
  readonly lincheckMaxSteps?: number;
}

export interface NodeRunStats {
  virtualMs: number;
  events: number;
  ops: { ok: number; fail: number; unknown: number; attempts: number };
  crashes: number;
  /** Splits asked for by the nemesis, and those applied. */
  splitsAsked: number;
  splitsDone: number;
  /** Merges asked for by the nemesis, and those committed. */
  mergesAsked: number;
  mergesDone: number;
  powerLosses: number;
  partitions: number;
  fatalRestarts: number;
  failedSyncs: number;
  lostAtCrash: number;
  snapshotChunks: number;
  commits: number;
}

export interface NodeRunResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly failure?: { readonly kind: FailureKind; readonly message: string; readonly atMs: number };
  readonly stats: NodeRunStats;
  readonly history: HistoryRecord[];
  readonly fingerprint: string;
  readonly faults: string;
}

const NODES: readonly SimNodeSpec[] = [
  { id: 'n1', az: 'az1' },
  { id: 'n2', az: 'az2' },
  { id: 'n3', az: 'az3' },
];
const HEAL_LEADER_BOUND_MS = 6000;
const POST_HEAL_LOAD_MS = 2500;
const SETTLE_BOUND_MS = 8000;

class NodeSim {
  readonly sched = new SimScheduler();
  readonly bus: SimBus;
  readonly nodes: SimNode[];
  readonly clients: NodeClients;
  readonly trace: Tracer;
  private readonly rngNemesis: Rng;
  private pendingFailure: SimFailure | null = null;
  private readonly safety = new NodeSafety();
  private busFaults: BusFaults = CALM_BUS;
  /** Keys the clients use (k0..k{keys-1}), and whether this seed splits cells between them. */
  private readonly keys: number;
  private readonly splits: boolean;
  private diskFaults: DiskFaults = CALM_DISK;
  readonly stats: NodeRunStats = {
    virtualMs: 0,
    events: 0,
    ops: { ok: 0, fail: 0, unknown: 0, attempts: 0 },
    crashes: 0,
    splitsAsked: 0,
    splitsDone: 0,
    mergesAsked: 0,
    mergesDone: 0,
    powerLosses: 0,
    partitions: 0,
    fatalRestarts: 0,
    failedSyncs: 0,
    lostAtCrash: 0,
    snapshotChunks: 0,
    commits: 0,
  };

  constructor(
    readonly seed: number,
    private readonly opts: NodeRunOptions,
  ) {
    const rng = new Rng(seed);
    this.trace = new Tracer(opts.trace ?? 'off', opts.traceSink);
    this.bus = new SimBus(this.sched, rng.fork('bus'));
    this.rngNemesis = rng.fork('nemesis');
    const mutations = new Set(opts.mutations ?? []);
    this.nodes = NODES.map((spec) => {
      const n = new SimNode(spec, simNodeConfig(spec.id, spec.az, NODES), this.sched, this.bus, rng.fork(`node-${spec.id}`), mutations);
      n.onFatal = (id) => this.onNodeFatal(id);
      n.onUnexpected = (e) => this.record(e);
      return n;
    });
    this.bus.onRaftSent = (from, _to, data) => this.nodeById(from).observeSent(data);
    const crng = rng.fork('clients');
    this.keys = crng.range(2, 4);
    this.clients = new NodeClients(this.sched, this.bus, crng, this.trace, NODES.map((n) => n.id), {
      clients: crng.range(3, 5),
      keys: this.keys,
      thinkMs: crng.range(5, 60),
    });
    this.splits = rng.fork('splits').chance(0.5);
    this.chooseFaults(rng.fork('faults'));
  }

  private chooseFaults(rng: Rng): void {
    this.busFaults = {
      dropRate: rng.pick([0, 0.01, 0.05, 0.1]),
      dupRate: rng.pick([0, 0.02, 0.05]),
      minDelayMs: 0,
      maxDelayMs: rng.pick([1, 3, 8]),
      spikeRate: rng.pick([0, 0.01, 0.05]),
      spikeMs: rng.pick([50, 300]),
    };
    this.diskFaults = {
      slowRate: rng.pick([0, 0.05, 0.2]),
      slowMs: rng.pick([5, 40, 150]),
      fsyncFailRate: rng.pick([0, 0, 0.002, 0.01]),
    };
  }

  describeFaults(): string {
    const b = this.busFaults;
    const d = this.diskFaults;
    return `splits=${this.splits} drop=${b.dropRate} dup=${b.dupRate} delay<=${b.maxDelayMs}ms spike=${b.spikeRate}/${b.spikeMs}ms slowDisk=${d.slowRate}/${d.slowMs}ms fsyncFail=${d.fsyncFailRate}`;
  }

  nodeById(id: string): SimNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  private setFaults(on: boolean): void {
    this.bus.faults = on ? this.busFaults : CALM_BUS;
    for (const n of this.nodes) n.disk.faults = on ? this.diskFaults : CALM_DISK;
  }

  private start(n: SimNode): void {
    n.start().catch((e: unknown) => (e instanceof SimulatedDiskError ? this.onNodeFatal(n.id) : this.record(e)));
  }

  record(e: unknown): void {
    if (this.pendingFailure !== null) return;
    if (e instanceof SimFailure) this.pendingFailure = e;
    else if (e instanceof InvariantError) this.pendingFailure = new SimFailure('exception', `node assertion: ${e.message}`);
    else this.pendingFailure = new SimFailure('exception', `node threw: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }

  /** The Raft loop gave up (a simulated fsync failure is expected; anything else is a bug). */
  private onNodeFatal(id: string): void {
    const n = this.nodeById(id);
    this.stats.fatalRestarts++;
    this.trace.event(this.sched.elapsed, () => `${id} fatal (fsync failed): restarts from disk`);
    n.crash(false);
    this.sched.at(this.rngNemesis.range(50, 400), 'nemesis', () => this.start(n));
  }

  async run(untilMs: number, stop?: () => boolean): Promise<void> {
    await this.sched.runUntil(
      untilMs,
      () => {
        if (this.pendingFailure !== null) throw this.pendingFailure;
        this.safety.afterEvent(this.nodes);
      },
      stop,
    );
  }

  at(ms: number): number {
    return this.sched.now + ms;
  }

  private dataLeader(): SimNode | null {
    for (const n of this.nodes) {
      const r = n.node?.replicas.get(FIRST_DATA_CELL_ID);
      if (r?.isLeader) return n;
    }
    return null;
  }

  private everyCellLed(): boolean {
    const conv = new Convergence(this);
    return conv.cellIds().every((id) => conv.hostsOf(id).some((n) => n.node!.replicas.get(id)!.isLeader));
  }

  /** The nemesis: one fault at a time, each undone after a while. */
  private scheduleNemesis(endMs: number): void {
    const rng = this.rngNemesis;
    const next = () => {
      if (this.sched.now >= endMs) return;
      const down = this.nodes.filter((n) => !n.up);
      const roll = rng.next();
      if (this.splits && rng.chance(0.2) && this.stats.splitsAsked < 3) {
        this.askSplit(rng);
      } else if (this.splits && this.stats.splitsDone > 0 && rng.chance(0.15) && this.stats.mergesAsked < 2) {
        this.askMerge(rng);
      } else if (roll < 0.15 && down.length === 0) {
        // A crash point: power lost right after the node issued a synced write, so the
        // write and everything the node did meanwhile (sends, applies) race the fsync.
        const n = rng.pick(this.nodes);
        n.armSyncCrash(() => {
          this.stats.crashes++;
          this.stats.powerLosses++;
          this.trace.event(this.sched.elapsed, () => `nemesis: power loss at a sync of ${n.id}`);
          this.sched.at(rng.range(50, 1000), 'nemesis', () => {
            this.trace.event(this.sched.elapsed, () => `nemesis: restart ${n.id}`);
            this.start(n);
          });
        });
      } else if (roll < 0.45 && down.length === 0) {
        const n = rng.chance(0.5) && this.dataLeader() !== null ? this.dataLeader()! : rng.pick(this.nodes);
        const power = rng.chance(0.5);
        this.stats.crashes++;
        if (power) this.stats.powerLosses++;
        this.trace.event(this.sched.elapsed, () => `nemesis: ${power ? 'power loss' : 'kill -9'} ${n.id}`);
        n.crash(power);
        this.sched.at(rng.range(50, 1500), 'nemesis', () => {
          this.trace.event(this.sched.elapsed, () => `nemesis: restart ${n.id}`);
          this.start(n);
        });
      } else if (roll < 0.75 && !this.bus.hasPartition()) {
        const victim = rng.chance(0.5) && this.dataLeader() !== null ? this.dataLeader()! : rng.pick(this.nodes);
        const others = this.nodes.filter((n) => n !== victim).map((n) => n.id);
        this.stats.partitions++;
        this.trace.event(this.sched.elapsed, () => `nemesis: isolate ${victim.id}`);
        this.bus.partition([victim.id], others);
        this.sched.at(rng.range(100, 2000), 'nemesis', () => {
          this.trace.event(this.sched.elapsed, () => 'nemesis: heal partition');
          this.bus.heal();
        });
      }
      this.sched.at(rng.range(150, 700), 'nemesis', next);
    };
    this.sched.at(rng.range(300, 800), 'nemesis', next);
  }

  /** An operator's split of the cell holding `k{i}` at that key, sent to the cell's leader. */
  private askSplit(rng: Rng): void {
    const key = namespacedKey(SIM_TENANT, new TextEncoder().encode(`k${rng.range(1, this.keys - 1)}`));
    for (const n of this.nodes) {
      for (const r of n.node?.replicas.values() ?? []) {
        if (r.cellId === META_CELL_ID || !r.isLeader || !inKeyRange(key, r.range.start, r.range.end)) continue;
        if (compareBytes(key, r.range.start) === 0) return; // already a boundary
        this.stats.splitsAsked++;
        const req = { op: 'split', cell: r.cellId, splitKey: hexOf(key) };
        this.trace.event(this.sched.elapsed, () => `nemesis: split ${r.cellId} at ${hexOf(key)} (asked ${n.id})`);
        void this.bus.clientAdmin('operator', n.id, new TextEncoder().encode(JSON.stringify(req)), 3000).then(
          (reply) => {
            const body = JSON.parse(new TextDecoder().decode(reply)) as { ok: boolean; right?: string };
            if (body.ok) this.stats.splitsDone++;
            this.trace.event(this.sched.elapsed, () => `nemesis: split of ${r.cellId} -> ${JSON.stringify(body).slice(0, 120)}`);
          },
          () => undefined,
        );
        return;
      }
    }
  }

  /** An operator's merge of two neighbouring data cells, sent to a node hosting both. */
  private askMerge(rng: Rng): void {
    const hosts = this.nodes.filter((n) => n.node !== null);
    if (hosts.length === 0) return;
    const n = rng.pick(hosts);
    const cells = [...n.node!.replicas.values()].filter((r) => r.cellId !== META_CELL_ID && !r.frozen).sort((a, b) => compareBytes(a.range.start, b.range.start));
    const pairs = cells.slice(1).map((r, i) => [cells[i]!, r] as const).filter(([l, r]) => l.range.end !== null && compareBytes(l.range.end, r.range.start) === 0);
    if (pairs.length === 0) return;
    const [left, right] = rng.pick(pairs);
    this.stats.mergesAsked++;
    const req = { op: 'merge', left: left.cellId, right: right.cellId };
    this.trace.event(this.sched.elapsed, () => `nemesis: merge ${right.cellId} into ${left.cellId} (asked ${n.id})`);
    void this.bus.clientAdmin('operator', n.id, new TextEncoder().encode(JSON.stringify(req)), 20_000).then(
      (reply) => {
        const body = JSON.parse(new TextDecoder().decode(reply)) as { ok: boolean };
        if (body.ok) this.stats.mergesDone++;
        this.trace.event(this.sched.elapsed, () => `nemesis: merge of ${right.cellId} -> ${JSON.stringify(body).slice(0, 160)}`);
      },
      () => undefined,
    );
  }

  async execute(): Promise<void> {
    for (const n of this.nodes) this.start(n);
    this.setFaults(true);
    this.clients.start();
    const chaosMs = this.opts.chaosMs ?? this.rngNemesis.range(4000, 8000);
    const chaosEnd = this.at(chaosMs);
    this.scheduleNemesis(chaosEnd);
    await this.run(chaosEnd);

    // Heal: calm network and disks, everyone up.
    this.trace.event(this.sched.elapsed, () => 'heal');
    this.sched.kill('nemesis');
    for (const n of this.nodes) n.disarmSyncCrash();
    this.bus.heal();
    this.setFaults(false);
    for (const n of this.nodes) if (!n.up) this.start(n);
    const leaderBy = this.at(HEAL_LEADER_BOUND_MS);
    await this.run(leaderBy, () => this.everyCellLed() && this.nodes.every((n) => n.up));
    if (!this.everyCellLed()) fail('liveness', `a cell without a leader ${HEAL_LEADER_BOUND_MS} ms after the heal`);
    this.clients.requireSuccessFrom(this.sched.elapsed + 200);
    await this.run(this.at(POST_HEAL_LOAD_MS));
    this.clients.stopIssuing();
    await this.run(this.at(SETTLE_BOUND_MS), () => this.clients.idle());
    if (!this.clients.idle()) fail('liveness', 'client ops still in flight long after the heal');
    if (this.clients.livenessFailure !== null) fail('liveness', this.clients.livenessFailure);
    await new Convergence(this).check();
  }

  collectStats(): void {
    this.stats.commits = this.safety.commits;
    this.stats.virtualMs = this.sched.elapsed;
    this.stats.events = this.sched.eventsRun;
    this.stats.ops = { ...this.clients.stats };
    for (const n of this.nodes) {
      this.stats.failedSyncs += n.disk.stats.failedSyncs;
      this.stats.lostAtCrash += n.disk.stats.lostAtCrash;
      this.stats.snapshotChunks += n.snapshotChunksSent;
    }
  }
}

export async function runNodeSeed(seed: number, opts: NodeRunOptions = {}): Promise<NodeRunResult> {
  const sim = new NodeSim(seed, opts);
  let failure: NodeRunResult['failure'];
  const onUnhandled = (e: unknown) => {
    failure ??= { kind: 'exception', message: `unhandled rejection in node code: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`, atMs: sim.sched.elapsed };
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    await sim.execute();
  } catch (e) {
    const f = e instanceof SimFailure ? e : new SimFailure('exception', e instanceof Error ? (e.stack ?? e.message) : String(e));
    failure ??= { kind: f.kind, message: f.message, atMs: sim.sched.elapsed };
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  const history = sim.clients.history();
  if (failure === undefined) {
    const res = checkCellkvHistory(history, { maxSteps: opts.lincheckMaxSteps ?? 50_000_000, timeoutMs: 600_000 });
    if (res.result === 'not-linearizable') failure = { kind: 'linearizability', message: formatDetails(res, { maxLines: 30 }).join('\n'), atMs: sim.sched.elapsed };
    else if (res.result === 'unknown') failure = { kind: 'lincheck-unknown', message: res.reason, atMs: sim.sched.elapsed };
  }
  sim.collectStats();
  for (const n of sim.nodes) if (n.up) n.crash(false); // abandon the nodes: nothing keeps running
  sim.trace.event(sim.sched.elapsed, () => `end ${failure ? failure.kind : 'ok'}`);
  return {
    seed,
    ok: failure === undefined,
    ...(failure !== undefined ? { failure } : {}),
    stats: sim.stats,
    history,
    fingerprint: `${sim.trace.fingerprint()}-${hashString(JSON.stringify(history)).toString(16)}`,
    faults: sim.describeFaults(),
  };
}
