// One benchmark run: for each system in turn (cellkv, then the --compare peers; never two at
// once, they would share the machine's cores), start it, preload the key space, run every
// workload through every front door with the same generator code and settings, take CPU,
// RSS and disk figures, and stop it — also when anything fails or the run is interrupted.
// A failure is recorded in the rows ("failed" with the reason) and the run goes on.

import { Generators, type PhaseResult } from './generators.js';
import { attachCellkv, startCellkv, type ExistingCellkv, type Front } from './peers/cellkv.js';
import { createDriver } from './peers/drivers.js';
import { startEtcd } from './peers/etcd.js';
import { startJetStream } from './peers/jetstream.js';
import type { RunningPeer } from './peers/types.js';
import { preload, type LoadStats } from './preload.js';
import { cpuShares, cpuSnapshot, resources, type CpuShares, type Resources } from './procstats.js';
import { formatCount, type ProgressSink } from './progress.js';
import { resultRow, unavailableRow, type PeerInfo, type Row, type RowContext } from './report.js';
import { opsOf, type Distribution, type WorkloadDef } from './workloads.js';

export type PeerName = 'cellkv' | 'etcd' | 'jetstream';

export interface BenchOptions {
  readonly workloads: readonly WorkloadDef[];
  readonly concurrency: number;
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly distribution: Distribution;
  readonly peers: readonly PeerName[];
  readonly fronts: readonly Front[];
  readonly rate: number | null;
  readonly threads: number;
  readonly opTimeoutMs: number;
  readonly existing: ExistingCellkv | null;
  readonly allowInstall: boolean;
  readonly cpuProfDir: string | null;
  readonly seed: number;
  /** Seconds of server CPU sampled with no load after the preload (0 = skip). */
  readonly idleSampleSeconds: number;
}

export class BenchRun {
  readonly rows: Row[] = [];
  readonly peers: PeerInfo[] = [];
  /** pid → process name of every system process started (for CPU profile file names). */
  readonly processNames = new Map<number, string>();
  private current: RunningPeer | null = null;
  private gens: Generators | null = null;
  private aborted = false;

  constructor(
    private readonly o: BenchOptions,
    private readonly ui: ProgressSink,
  ) {}

  get interrupted(): boolean {
    return this.aborted;
  }

  /** Ctrl-C: stops the generators and the running system; run() then returns. */
  async abort(): Promise<void> {
    this.aborted = true;
    // The workers end after their current op; run() then stops the system in its finally.
    // If that does not happen soon (a stuck op), stop the system from here.
    this.gens?.stop();
    await new Promise((r) => setTimeout(r, this.o.opTimeoutMs + 5000).unref());
    await this.gens?.terminate().catch(() => undefined);
    await this.current?.stop().catch(() => undefined);
  }

  private ctx(peer: string, front: string, w: WorkloadDef): RowContext {
    const o = this.o;
    return {
      peer,
      front,
      workload: w.name,
      distribution: w.readChooser === 'latest' ? 'latest' : o.distribution,
      mode: o.rate === null ? 'closed-loop' : 'open-loop',
      targetRate: o.rate,
      concurrency: o.concurrency,
      generatorThreads: Math.min(o.threads, o.concurrency),
      valueBytes: o.valueBytes,
      keys: o.keys,
    };
  }

  private start(name: PeerName): Promise<RunningPeer> {
    const base = { log: (l: string) => this.ui.line(l), allowInstall: this.o.allowInstall, valueBytes: this.o.valueBytes, keys: this.o.keys };
    if (name === 'etcd') return startEtcd(base);
    if (name === 'jetstream') return startJetStream(base);
    if (this.o.existing) return Promise.resolve(attachCellkv(this.o.existing, this.o.fronts));
    return startCellkv({ ...base, fronts: this.o.fronts, cpuProfDir: this.o.cpuProfDir });
  }

  async run(): Promise<void> {
    for (const name of this.o.peers) {
      if (this.aborted) return;
      let peer: RunningPeer;
      try {
        peer = await this.start(name);
      } catch (e) {
        const reason = `could not start ${name}: ${(e as Error).message}`;
        this.ui.line(`${reason} — its rows are marked failed, the run goes on`);
        this.peers.push({ peer: name, version: '', notes: [], status: 'failed', reason, load: null, resourcesAfterLoad: null, idleCpu: null, resourcesAtEnd: null });
        const fronts = name === 'cellkv' ? this.o.fronts : [name === 'etcd' ? 'http-json' : 'nats'];
        for (const f of fronts) for (const w of this.o.workloads) this.rows.push(unavailableRow(this.ctx(name, f, w), 'failed', reason));
        continue;
      }
      this.current = peer;
      for (const p of peer.processes()) this.processNames.set(p.pid, `${name}:${p.name}`);
      try {
        await this.runPeer(peer);
      } finally {
        await peer.stop().catch((e: unknown) => this.ui.line(`stopping ${name} failed: ${(e as Error).message}`));
        this.current = null;
      }
    }
  }

  private async runPeer(peer: RunningPeer): Promise<void> {
    const o = this.o;
    let load: LoadStats | null = null;
    let afterLoad: Resources | null = null;
    let idle: CpuShares | null = null;
    const info = (status: 'ok' | 'failed', reason: string | null, atEnd: Resources | null): PeerInfo => ({ peer: peer.peer, version: peer.version, notes: peer.notes, status, reason, load, resourcesAfterLoad: afterLoad, idleCpu: idle, resourcesAtEnd: atEnd });
    try {
      const driver = await createDriver(peer.targets[0]!.spec, { connections: peer.preload.inFlight, opTimeoutMs: Math.max(o.opTimeoutMs, 30_000) });
      try {
        load = await preload(driver, peer, { from: 0, to: o.keys }, o.valueBytes, o.seed, this.ui, () => this.aborted);
      } finally {
        await driver.close();
      }
      afterLoad = await resources(peer.processes(), peer.dataDirs());
      // CPU the system burns with no load (timers, heartbeats, compaction after the load):
      // the per-op CPU of a row is only meaningful next to this.
      if (o.idleSampleSeconds > 0 && peer.processes().length > 0) {
        const idle0 = cpuSnapshot(peer.processes());
        await new Promise((r) => setTimeout(r, o.idleSampleSeconds * 1000));
        idle = cpuShares(idle0, cpuSnapshot(peer.processes()));
        this.ui.line(`${peer.peer}: idle for ${o.idleSampleSeconds}s: ${idle.serverPct}% of the machine (% of a core: ${Object.entries(idle.byProcessCorePct).map(([k, v]) => `${k} ${v}`).join(', ')})`);
      }
      peer.startProfiling?.();
    } catch (e) {
      const reason = `preload failed: ${(e as Error).message}`;
      this.ui.line(`${peer.peer}: ${reason}`);
      this.peers.push(info('failed', reason, null));
      for (const t of peer.targets) for (const w of o.workloads) this.rows.push(unavailableRow(this.ctx(peer.peer, t.front, w), 'failed', reason));
      return;
    }
    // Inserts (D, E) add keys; later phases (and the other front door) see them.
    let keysNow = o.keys;
    for (const t of peer.targets) {
      if (this.aborted) break;
      let gens: Generators | null = null;
      try {
        for (const [i, w] of o.workloads.entries()) {
          if (this.aborted) break;
          const ctx = this.ctx(peer.peer, t.front, w);
          const missing = [...opsOf(w)].find((op) => peer.unsupported.has(op));
          if (missing) {
            this.rows.push(unavailableRow(ctx, 'n/a', peer.unsupported.get(missing)!));
            this.ui.line(`${peer.peer}/${t.front} ${w.name}: n/a (${peer.unsupported.get(missing)})`);
            continue;
          }
          try {
            gens ??= this.gens = await Generators.open(t.spec, o.threads, o.concurrency, o.opTimeoutMs);
            const r = await this.phase(peer, t.front, w, gens, keysNow, o.seed + 1000 * (i + 1));
            keysNow += r.insertIdsAllocated;
            if (this.aborted) {
              // Cut short and with the system stopping under it: its figures mean nothing.
              this.rows.push(unavailableRow(ctx, 'failed', 'interrupted (Ctrl-C) during this workload'));
              break;
            }
            const scale = w.name === 'scale' && load && afterLoad ? { load, resources: afterLoad } : null;
            this.rows.push(resultRow(ctx, r, r.cpu, scale));
            r.histogram.destroy();
            for (const p of r.perOp.values()) p.histogram.destroy();
          } catch (e) {
            if (this.aborted) {
              this.rows.push(unavailableRow(ctx, 'failed', 'interrupted (Ctrl-C) during this workload'));
              break;
            }
            const reason = (e as Error).message;
            this.ui.line(`${peer.peer}/${t.front} ${w.name}: FAILED: ${reason}`);
            this.rows.push(unavailableRow(ctx, 'failed', reason));
            // A thread may be stuck in a hung request: start the next workload on fresh ones.
            await gens?.terminate().catch(() => undefined);
            gens = this.gens = null;
          }
        }
      } finally {
        await gens?.close().catch(() => undefined);
        this.gens = null;
      }
    }
    this.peers.push(info('ok', null, await resources(peer.processes(), peer.dataDirs())));
  }

  private async phase(peer: RunningPeer, front: string, w: WorkloadDef, gens: Generators, baseKeys: number, seed: number): Promise<PhaseResult & { cpu: ReturnType<typeof cpuShares> }> {
    const o = this.o;
    const total = o.warmupSeconds + o.seconds;
    const label = `${peer.peer}/${front} ${w.name}`;
    const bar = this.ui.phase(label, total, 's');
    const procs = peer.processes();
    const cpu0 = cpuSnapshot(procs);
    const t0 = performance.now();
    const { probe, result } = gens.run({ workload: w.name, distribution: o.distribution, warmupSeconds: o.warmupSeconds, seconds: o.seconds, concurrency: o.concurrency, rate: o.rate, baseKeys, valueBytes: o.valueBytes, seed });
    let last = { ops: 0, errors: 0, at: t0 };
    const tick = setInterval(() => {
      const now = performance.now();
      const cur = probe();
      const rate = ((cur.ops - last.ops) * 1000) / Math.max(1, now - last.at);
      last = { ...cur, at: now };
      const s = (now - t0) / 1000;
      bar.update(Math.min(total, Math.floor(s)), `${formatCount(rate)} ops/s, ${formatCount(cur.errors)} errors${s < o.warmupSeconds ? ' (warm-up, not recorded)' : ''}`);
    }, 1000);
    // Drivers bound each op by opTimeoutMs; past this a generator is stuck and the phase fails.
    const limitMs = total * 1000 + 2 * o.opTimeoutMs + 30_000;
    let timer: NodeJS.Timeout | undefined;
    try {
      const r = await Promise.race([result, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`phase did not finish within ${limitMs / 1000}s`)), limitMs)))]);
      const cpu = cpuShares(cpu0, cpuSnapshot(procs));
      bar.done(`${formatCount(r.ops / r.elapsedSeconds)} ops/s, ${formatCount(r.errors)} errors, load generator ${cpu.loadGenPct}% of the machine`);
      return { ...r, cpu };
    } finally {
      clearInterval(tick);
      clearTimeout(timer);
    }
  }
}
