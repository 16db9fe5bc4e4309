// nats-servers of local clusters: one server started from a written config and waited for
// (on its fixed client port, or on the ports it logs when it picked its own), a standalone
// single server for tests, and the check that clustered servers reach each other.

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import { natsConfig, natsServerBinary, type NatsConfigOptions } from '../nats-cluster.js';
import { freePort, waitForTcp } from './ports.js';
import { isRunning, killHard, sleep, spawnChild, type Child, type ChildSpec } from './procs.js';

export interface NatsProc {
  readonly name: string;
  readonly confFile: string;
  readonly logFile: string | null;
  readonly child: Child;
  clientPort: number;
  /** 0 without a cluster block. */
  routePort: number;
  readonly url: string;
}

export interface NatsLaunch {
  readonly name: string;
  readonly confFile: string;
  readonly config: NatsConfigOptions;
  /** The client port in `config.listen`, or 0 when the server picks (read from its log file). */
  readonly clientPort: number;
  readonly logFile?: string;
  readonly cwd?: string;
  readonly readyTimeoutMs?: number;
}

/** Writes the config, spawns nats-server (through `spawn`) and waits until it listens. */
export async function launchNats(l: NatsLaunch, spawn: (spec: ChildSpec) => Promise<Child> = spawnChild): Promise<NatsProc> {
  await writeFile(l.confFile, natsConfig(l.config));
  const timeoutMs = l.readyTimeoutMs ?? 10_000;
  const child = await spawn({
    label: `nats-server ${l.name}`,
    cmd: natsServerBinary(),
    args: ['-c', l.confFile],
    ...(l.cwd !== undefined ? { cwd: l.cwd } : {}),
    ...(l.logFile !== undefined ? { logFile: l.logFile } : {}),
    ready: null,
    readyTimeoutMs: timeoutMs,
    tailChars: 4000,
  });
  const n: NatsProc = { name: l.name, confFile: l.confFile, logFile: l.logFile ?? null, child, clientPort: l.clientPort, routePort: 0, url: '' };
  const fail = async (why: string): Promise<never> => {
    await killHard(child);
    throw new Error(`nats-server ${l.name} ${why}${l.logFile ? ` (log: ${l.logFile})` : `\n${child.output()}`}`);
  };
  if (l.clientPort > 0) {
    if (!(await waitForTcp(l.clientPort, timeoutMs))) await fail(`did not listen on ${l.clientPort} within ${timeoutMs}ms`);
  } else {
    if (!l.logFile) throw new Error(`nats-server ${l.name}: a server that picks its own port needs a log file to report it`);
    const wantRoute = l.config.cluster !== undefined;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const text = await readFile(l.logFile, 'utf8').catch(() => '');
      n.clientPort = Number(/Listening for client connections on [\d.]+:(\d+)/.exec(text)?.[1] ?? 0);
      n.routePort = Number(/Listening for route connections on [\d.]+:(\d+)/.exec(text)?.[1] ?? 0);
      if (n.clientPort > 0 && (!wantRoute || n.routePort > 0)) break;
      if (Date.now() > deadline || !isRunning(child.proc)) await fail('did not start listening');
      await sleep(50);
    }
  }
  if (n.routePort === 0 && l.config.cluster) n.routePort = Number(/:(\d+)$/.exec(l.config.cluster.listen)?.[1] ?? 0);
  return Object.assign(n, { url: `nats://127.0.0.1:${n.clientPort}` });
}

/** Waits until every server reaches every other: a request through each server to a subscriber on each answers. */
export async function waitForMesh(conns: readonly NatsConnection[], names: readonly string[], timeoutMs: number): Promise<void> {
  const subject = (j: number) => `cellkv.launcher.ping.${process.pid}.${j}`;
  const subs = conns.map((nc, j) => nc.subscribe(subject(j), { callback: (_e, m) => void m.respond(new Uint8Array(0)) }));
  try {
    await Promise.all(conns.map((nc) => nc.flush()));
    const deadline = Date.now() + timeoutMs;
    for (let i = 0; i < conns.length; i++) {
      for (let j = 0; j < conns.length; j++) {
        for (;;) {
          const ok = await conns[i]!.request(subject(j), new Uint8Array(0), { timeout: 300 }).then(() => true, () => false);
          if (ok) break;
          if (Date.now() > deadline) throw new Error(`NATS route ${names[i]} -> ${names[j]} did not come up within ${timeoutMs} ms`);
          await sleep(100);
        }
      }
    }
  } finally {
    for (const s of subs) s.unsubscribe();
  }
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly proc: Child['proc'];
  stop(): Promise<void>;
}

/** One nats-server on a free port, its config in a temp dir; stop() (SIGTERM) also removes that. */
export async function startNatsServer(opts: { extraConfig?: string } = {}): Promise<NatsServer> {
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-nats-'));
  let n: NatsProc;
  try {
    n = await launchNats({ name: `:${port}`, confFile: join(dir, 'nats.conf'), clientPort: port, config: { listen: `127.0.0.1:${port}`, extra: opts.extraConfig ? [opts.extraConfig] : [] } });
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const proc = n.child.proc;
  return {
    url: n.url,
    port,
    proc,
    stop: async () => {
      if (isRunning(proc)) {
        proc.kill('SIGTERM');
        const t = setTimeout(() => proc.kill('SIGKILL'), 3000);
        await n.child.exited;
        clearTimeout(t);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
