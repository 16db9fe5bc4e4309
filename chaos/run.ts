// One chaos run: a fresh local cluster (3 nats-servers, 3 cell nodes and an empty 4th one in
// az1 when moves are on, 2 gateways), concurrent
// clients, the seed's fault schedule, heal, then the checks. Everything it starts is stopped
// and its temporary directory removed on every path out (see scripts/cluster/procs.ts for signals/exit).

import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { CellClient } from '../shared/cell-client.js';
import { FIRST_DATA_CELL_ID } from '../shared/directory.js';
import { AZS, ChaosCluster, sleep } from './cluster.js';
import { checkLinearizable, checkLiveness, checkNoLostWrites, checkReplicas, checkVersions, finalReads, type CheckOutcome } from './checks.js';
import { CellDriver, GATEWAY_AUDIENCE, GATEWAY_ISSUER, HttpDriver, makeGatewayAuth, type KvDriver } from './drivers.js';
import type { MoveRecord } from './move-fault.js';
import { Nemesis, type FaultRecord } from './nemesis.js';
import { trackTempDir, untrackTempDir } from '../scripts/cluster/procs.js';
import { availability, availabilityLines, summaryLine, writeFailure } from './report.js';
import { Rng } from './rng.js';
import { FAULT_KINDS, generateSchedule, type FaultKind } from './schedule.js';
import { History, Workload } from './workload.js';

export const TENANT = 'chaos';

export interface ChaosOptions {
  readonly seconds: number;
  readonly seed: number;
  readonly kinds: readonly FaultKind[];
  /** Repository root (cell/main.ts, gateway/main.ts). */
  readonly root: string;
  /** Where a failing run writes seed-N.jsonl. */
  readonly outDir: string;
  readonly keys: number;
  /** CellClient clients pinned to each AZ's server, clients spread over all, HTTP clients per gateway. */
  readonly clientsPerAz: number;
  readonly spreadClients: number;
  readonly gatewayClients: number;
  /** Use gateways (HTTP clients) when gateway/main.ts is there. */
  readonly gateways: boolean;
  readonly tickMs: number;
  readonly checkTimeoutMs: number;
  /** Keep injecting past `seconds` until every enabled kind ran once. */
  readonly everyKind: boolean;
  /** Keep the run directory (data, logs) instead of removing it. */
  readonly keep: boolean;
  /** Extra node.js arguments for the cell nodes. */
  readonly nodeArgs?: readonly string[];
  readonly progress: (line: string) => void;
  readonly out: (line: string) => void;
  /** Becomes true on SIGINT: the run winds down early (and does not pass). */
  readonly aborted: () => boolean;
}

export interface ChaosResult {
  readonly passed: boolean;
  readonly ops: number;
  readonly unknown: number;
  readonly faults: readonly FaultRecord[];
  readonly faultsByKind: Readonly<Record<string, number>>;
  readonly linearizable: boolean;
  readonly checks: readonly CheckOutcome[];
  readonly failureFile: string | null;
  readonly gatewayNote: string;
}

export const DEFAULTS = {
  keys: 10,
  clientsPerAz: 2,
  spreadClients: 2,
  gatewayClients: 2,
  tickMs: 25,
  snapshotEvery: 100,
  logRetain: 20,
} as const;

export function reproduceCommand(o: Pick<ChaosOptions, 'seconds' | 'seed' | 'kinds' | 'gateways' | 'everyKind'>): string {
  const kinds = o.kinds.length === FAULT_KINDS.length ? '' : ` --faults ${o.kinds.join(',') || 'none'}`;
  return `npm run chaos -- --seconds ${o.seconds} --seed ${o.seed}${kinds}${o.gateways ? '' : ' --no-gateways'}${o.everyKind ? ' --every-kind' : ''}`;
}

async function startGateways(cluster: ChaosCluster, dir: string): Promise<{ urls: string[]; token: string }> {
  const jwksFile = join(dir, 'jwks.json');
  const { token } = await makeGatewayAuth(jwksFile, TENANT);
  const auth = { jwksFile, issuer: GATEWAY_ISSUER, audience: GATEWAY_AUDIENCE };
  // Gateway A in AZ1, gateway B in AZ2: isolating an AZ strands its gateway too.
  const urls: string[] = [];
  try {
    for (const [i, name] of [[0, 'gw-a'], [1, 'gw-b']] as const) urls.push((await cluster.startGateway(name, i, auth)).url);
  } catch (e) {
    await cluster.killGateways();
    throw e;
  }
  return { urls, token };
}

/** Waits for a leader of the data cell and a directory that clients can route by. */
async function waitServing(cluster: ChaosCluster, nc: NatsConnection, boundMs: number): Promise<void> {
  const start = Date.now();
  const client = new CellClient(nc, { attemptTimeoutMs: 1000, maxAttempts: 3 });
  while (Date.now() - start < boundMs) {
    const leader = await cluster.leaderOf(FIRST_DATA_CELL_ID);
    const dir = await client.directory(true).catch(() => null);
    if (leader && dir && dir.cells.some((c) => c.id === FIRST_DATA_CELL_ID)) {
      const ok = await client.put(TENANT, new TextEncoder().encode('__warmup__'), new TextEncoder().encode('1')).then((r) => r.result.status === 'ok', () => false);
      if (ok) return;
    }
    await sleep(200);
  }
  throw new Error(`the cluster did not start serving within ${boundMs} ms`);
}

/** "moves: 2 ok (1.4 s, 2.0 s), 1 refused (JOINT_CONFIG), ...; leader moved 1" */
function moveLine(moves: readonly MoveRecord[]): string {
  const parts: string[] = [];
  for (const outcome of ['ok', 'refused', 'failed', 'no-answer'] as const) {
    const ms = moves.filter((m) => m.outcome === outcome);
    if (ms.length === 0) continue;
    const what = outcome === 'ok' ? ms.map((m) => `${(m.ms / 1000).toFixed(1)} s${m.disrupted ? '*' : ''}`) : ms.map((m) => m.reason || '?');
    parts.push(`${ms.length} ${outcome} (${what.join(', ')})`);
  }
  const led = moves.filter((m) => m.leaderMoved).length;
  return `moves: ${parts.join(', ')}; the leader was the moved replica ${led}x; * = a node disrupted during the move`;
}

export async function runChaos(o: ChaosOptions): Promise<ChaosResult> {
  const dir = await mkdtemp(join(tmpdir(), `cellkv-chaos-${o.seed}-`));
  trackTempDir(dir);
  const rng = new Rng(o.seed);
  const history = new History(process.hrtime.bigint());
  const conns: NatsConnection[] = [];
  let cluster: ChaosCluster | null = null;
  let gatewayNote = 'gateways not used (--no-gateways)';
  try {
    o.progress(`[chaos] seed ${o.seed}, ${o.seconds} s, faults ${o.kinds.join(',') || 'none'}; run dir ${dir}`);
    cluster = await ChaosCluster.start({ root: o.root, dir, tickMs: o.tickMs, snapshotEvery: DEFAULTS.snapshotEvery, logRetain: DEFAULTS.logRetain, rng: rng.fork('cluster'), progress: o.progress, nodeArgs: o.nodeArgs ?? [], nodes: o.kinds.includes('move') ? 4 : 3 });
    await waitServing(cluster, cluster.admin[0]!, 30_000);
    o.progress(`[chaos] cluster serving after ${(history.nowMs() / 1000).toFixed(1)} s`);

    const drivers: KvDriver[] = [];
    const copts = { attemptTimeoutMs: 1000, maxAttempts: 4 };
    for (let i = 0; i < 3; i++) {
      const nc = await connect({ servers: cluster.natsUrl(i), name: `chaos-clients-${AZS[i]}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      conns.push(nc);
      for (let k = 0; k < o.clientsPerAz; k++) drivers.push(new CellDriver(`${AZS[i]}-${k}`, nc, TENANT, copts));
    }
    if (o.spreadClients > 0) {
      const nc = await connect({ servers: [0, 1, 2].map((i) => cluster!.natsUrl(i)), name: 'chaos-clients-spread', maxReconnectAttempts: -1, reconnectTimeWait: 250 });
      conns.push(nc);
      for (let k = 0; k < o.spreadClients; k++) drivers.push(new CellDriver(`spread-${k}`, nc, TENANT, copts));
    }
    if (o.gateways) {
      if (!existsSync(join(o.root, 'gateway/main.ts'))) {
        gatewayNote = 'gateways not used: gateway/main.ts is missing';
      } else {
        try {
          const gw = await startGateways(cluster, dir);
          gw.urls.forEach((url, g) => {
            for (let k = 0; k < o.gatewayClients; k++) drivers.push(new HttpDriver(`gw-${'ab'[g]}-${k}`, url, gw.token, 9000));
          });
          gatewayNote = `gateways: ${gw.urls.join(', ')} (${o.gatewayClients} HTTP clients each)`;
        } catch (e) {
          gatewayNote = `gateways not used: ${(e as Error).message}`;
        }
      }
    }
    o.progress(`[chaos] ${drivers.length} clients; ${gatewayNote}`);

    const keys = Array.from({ length: o.keys }, (_, i) => `k${i}`);
    const workload = new Workload({ keys, drivers, history, rng: rng.fork('workload'), thinkMs: [0, 4] });
    const schedule = generateSchedule({ seed: o.seed, seconds: o.seconds, kinds: o.kinds });
    const spanStart = history.nowMs();
    const nemesis = new Nemesis({
      cluster,
      schedule,
      now: () => history.nowMs(),
      deadlineMs: spanStart + o.seconds * 1000,
      everyKind: o.everyKind,
      snapshotEvery: DEFAULTS.snapshotEvery,
      logRetain: DEFAULTS.logRetain,
      tenant: TENANT,
      keys,
      progress: o.progress,
      aborted: o.aborted,
    });
    workload.start();
    const ticker = setInterval(() => {
      const s = workload.stats;
      o.progress(`[chaos] t=${((history.nowMs() - spanStart) / 1000).toFixed(0)}s ops ok ${s.ok}, fail ${s.fail}, unknown ${s.unknown}`);
    }, 5000);
    try {
      await nemesis.run();
      await cluster.healAll().catch((e: Error) => o.progress(`[chaos] heal failed: ${e.message}`));
      // Clients keep going on the healed cluster for a moment: recovery is part of the history.
      for (let i = 0; i < 30 && !o.aborted(); i++) await sleep(100);
    } finally {
      clearInterval(ticker);
    }
    const spanEnd = history.nowMs();
    o.progress('[chaos] stopping clients');
    if (!(await workload.stop(20_000))) {
      const n = history.abandonInflight();
      o.progress(`[chaos] ${n} operations never returned: recorded as unknown`);
    }

    // A node that crashed on its own after the heal (a finding, reported below) is restarted
    // so that the replica check still shows whether the cell converges.
    const checks: CheckOutcome[] = [];
    await cluster.healAll().catch((e: Error) => checks.push({ name: 'heal', ok: false, details: [e.message] }));
    o.progress('[chaos] checking');
    const adminNc = cluster.admin[0]!;
    checks.push(await checkLiveness(adminNc, TENANT, 30_000));
    const finals = await finalReads(adminNc, TENANT, keys, history, 20_000);
    if (finals.size < keys.length) checks.push({ name: 'final reads', ok: false, details: [`only ${finals.size} of ${keys.length} keys could be read after the heal`] });
    checks.push(await checkReplicas(cluster, adminNc, TENANT, keys, 30_000));
    const crashes = cluster.events.filter((e) => e.kind === 'unexpected-exit');
    checks.push({ name: 'no unexpected node exits', ok: crashes.length === 0, details: crashes.map((e) => `${e.node} at ${e.atMs} ms: ${e.detail}`) });
    const records = history.records;
    o.progress(`[chaos] checking linearizability of ${records.length} ops`);
    const lin = checkLinearizable(records, o.checkTimeoutMs);
    checks.push(lin.outcome);
    checks.push(checkNoLostWrites(records, finals));
    checks.push(checkVersions(records));
    if (o.aborted()) checks.push({ name: 'not interrupted', ok: false, details: ['SIGINT'] });

    const faultsByKind: Record<string, number> = {};
    for (const f of nemesis.faults) faultsByKind[f.kind] = (faultsByKind[f.kind] ?? 0) + 1;
    const unknown = records.filter((r) => r.outcome === 'unknown').length;
    const passed = checks.every((c) => c.ok);

    for (const f of nemesis.faults) o.out(`fault ${f.n} [${(f.startMs / 1000).toFixed(1)}-${(f.endMs / 1000).toFixed(1)} s] ${f.plan}${f.notes.length ? ` — ${f.notes.join('; ')}` : ''}`);
    o.out(`faults by kind: ${FAULT_KINDS.map((k) => `${k}=${faultsByKind[k] ?? 0}`).join(' ')}`);
    if (nemesis.moves.length > 0) o.out(moveLine(nemesis.moves));
    const failpointEvents = cluster.events.filter((e) => e.kind === 'failpoint-panic').length;
    o.out(`ops: ok ${workload.stats.ok}, fail ${workload.stats.fail}, unknown ${workload.stats.unknown}; failpoint panics ${failpointEvents}; proxy resets ${cluster.allProxies.reduce((n, p) => n + p.stats.resets, 0)}`);
    const reasons = [...workload.reasons].sort((a, b) => b[1] - a[1]).slice(0, 6);
    for (const [r, n] of reasons) o.out(`  ${n}x ${r}`);
    for (const line of availabilityLines(availability(records, nemesis.faults, nemesis.leaderKills, [spanStart, spanEnd]))) o.out(line);
    o.out(gatewayNote);
    for (const c of checks) {
      o.out(`check ${c.name}: ${c.ok ? 'ok' : 'FAILED'}`);
      for (const d of c.details.slice(0, c.ok ? 4 : 70)) o.out(`  ${d}`);
    }
    let failureFile: string | null = null;
    if (!passed) {
      const command = reproduceCommand(o);
      failureFile = await writeFailure({
        outDir: o.outDir,
        seed: o.seed,
        command,
        records,
        failed: checks.filter((c) => !c.ok),
        faults: nemesis.faults,
        logsFrom: dir,
      });
      o.out(`history written to ${failureFile}; reproduce with: ${command}`);
    }
    o.out(summaryLine(records.length, unknown, nemesis.faults.length, lin.result.result === 'linearizable'));
    return { passed, ops: records.length, unknown, faults: nemesis.faults, faultsByKind, linearizable: lin.result.result === 'linearizable', checks, failureFile, gatewayNote };
  } catch (e) {
    // A harness error (e.g. a node that never started): keep the process logs to look at.
    const path = await writeFailure({ outDir: o.outDir, seed: o.seed, command: reproduceCommand(o), records: history.records, failed: [{ name: 'harness', details: [String(e)] }], faults: [], logsFrom: dir }).catch(() => null);
    if (path) o.progress(`[chaos] harness error; history and logs saved next to ${path}`);
    throw e;
  } finally {
    for (const nc of conns) await nc.close().catch(() => undefined);
    await cluster?.stop().catch(() => undefined);
    if (o.keep) {
      untrackTempDir(dir);
      o.progress(`[chaos] kept run directory ${dir}`);
    } else {
      await rm(dir, { recursive: true, force: true });
      untrackTempDir(dir);
    }
  }
}
