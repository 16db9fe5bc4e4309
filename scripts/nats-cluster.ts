// Local NATS for `npm start`: finds (or on Debian as root, installs) nats-server, picks ports,
// and writes one config per AZ so three servers form a cluster over loopback routes.
// NATS itself keeps no state here (no JetStream); its configs and logs live under <dir>/nats/.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export class SetupError extends Error {
  constructor(
    readonly code: 'NATS_SERVER_MISSING' | 'PORT_IN_USE' | 'INVALID_ARGUMENT' | 'START_FAILED',
    message: string,
  ) {
    super(message);
    this.name = 'SetupError';
  }
}

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server'];

function versionOf(bin: string): string | null {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return null;
  }
}

/** The nats-server binary: $NATS_SERVER, the usual Debian/local paths, then $PATH. */
export function findNatsServer(): { bin: string; version: string } | null {
  const onPath = (process.env['PATH'] ?? '').split(delimiter).filter(Boolean).map((d) => join(d, 'nats-server'));
  for (const bin of [process.env['NATS_SERVER'], ...CANDIDATES, ...onPath]) {
    if (!bin || !existsSync(bin)) continue;
    const version = versionOf(bin);
    if (version) return { bin, version };
  }
  return null;
}

/** The nats-server binary for tests and harnesses, or an error saying how to get one. */
export function natsServerBinary(): string {
  const found = findNatsServer();
  if (!found) throw new Error('nats-server not found: install it (apt-get install -y nats-server) or set NATS_SERVER');
  return found.bin;
}

const HOW_TO_INSTALL = [
  'nats-server is not installed. Install it, then run `npm start` again:',
  '  Debian/Ubuntu:  sudo apt-get update && sudo apt-get install -y nats-server',
  '  macOS:          brew install nats-server',
  '  elsewhere:      https://github.com/nats-io/nats-server/releases (put it on PATH)',
  'or point NATS_SERVER at an existing binary.',
].join('\n');

/**
 * Finds nats-server; installs it with apt-get when running as root on Debian (the contract's
 * "fresh Debian machine"), streaming apt's output through `log`. Anything else gets instructions.
 */
export async function ensureNatsServer(log: (line: string) => void, allowInstall: boolean): Promise<{ bin: string; version: string; installed: boolean }> {
  const found = findNatsServer();
  if (found) return { ...found, installed: false };
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (!allowInstall || !isRoot || !existsSync('/etc/debian_version') || !existsSync('/usr/bin/apt-get')) {
    throw new SetupError('NATS_SERVER_MISSING', HOW_TO_INSTALL);
  }
  log('nats-server not found: installing it with apt-get (Debian, running as root)');
  const run = (args: string[]) =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('apt-get', args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
      const relay = (d: Buffer) => {
        for (const line of d.toString().split('\n')) if (line.trim()) log(`  apt-get: ${line.trim()}`);
      };
      p.stdout.on('data', relay);
      p.stderr.on('data', relay);
      p.once('error', reject);
      p.once('exit', (code) => (code === 0 ? resolve() : reject(new SetupError('NATS_SERVER_MISSING', `apt-get ${args.join(' ')} failed (exit ${code})\n${HOW_TO_INSTALL}`))));
    });
  await run(['update']);
  await run(['install', '-y', 'nats-server']);
  const after = findNatsServer();
  if (!after) throw new SetupError('NATS_SERVER_MISSING', `apt-get installed nats-server but it cannot be run\n${HOW_TO_INSTALL}`);
  return { ...after, installed: true };
}

/** Whether 127.0.0.1:port can be bound right now. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

export function anyFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Parses "a,b,c" into three distinct ports. */
export function parsePortList(s: string, what: string): number[] {
  const ports = s.split(',').map((p) => Number(p.trim()));
  if (ports.length !== 3 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535) || new Set(ports).size !== 3) {
    throw new SetupError('INVALID_ARGUMENT', `${what} must be three distinct ports, e.g. 4222,4223,4224 (got "${s}")`);
  }
  return ports;
}

/**
 * Three ports: the explicit ones must be free (the user asked for them); the defaults fall back
 * to any free port when taken, and `notes` says which moved.
 */
export async function choosePorts(explicit: number[] | null, defaults: number[], what: string): Promise<{ ports: number[]; notes: string[] }> {
  const notes: string[] = [];
  const ports: number[] = [];
  for (let i = 0; i < 3; i++) {
    const want = explicit?.[i] ?? defaults[i]!;
    if (await portFree(want)) {
      ports.push(want);
      continue;
    }
    if (explicit) throw new SetupError('PORT_IN_USE', `${what} port ${want} is in use; pick others with the flag or stop what holds it`);
    let alt = await anyFreePort();
    while (ports.includes(alt) || defaults.includes(alt)) alt = await anyFreePort();
    notes.push(`${want} in use, using ${alt}`);
    ports.push(alt);
  }
  return { ports, notes };
}

export interface NatsServerSpec {
  readonly az: string;
  readonly clientPort: number;
  readonly clusterPort: number;
  readonly dir: string;
  readonly confFile: string;
  readonly url: string;
}

/** Writes <dir>/nats/<az>/nats.conf for each AZ: a full mesh of routes between the three. */
export async function writeClusterConfigs(baseDir: string, azs: readonly string[], clientPorts: readonly number[], clusterPorts: readonly number[]): Promise<NatsServerSpec[]> {
  const specs: NatsServerSpec[] = [];
  for (let i = 0; i < azs.length; i++) {
    const az = azs[i]!;
    const dir = join(baseDir, 'nats', az);
    await mkdir(dir, { recursive: true });
    const routes = clusterPorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`);
    const conf = [
      '# Written by scripts/start.ts on every start; edits are overwritten.',
      `server_name: "cellkv-${az}"`,
      `listen: "127.0.0.1:${clientPorts[i]}"`,
      // Large enough for a 1 MiB value plus a batch of them; the gateway reads it from INFO.
      'max_payload: 8MB',
      'cluster {',
      '  name: "cellkv-dev"',
      `  listen: "127.0.0.1:${clusterPorts[i]}"`,
      `  routes: [${routes.join(', ')}]`,
      '}',
      '',
    ].join('\n');
    const confFile = join(dir, 'nats.conf');
    await writeFile(confFile, conf);
    specs.push({ az, clientPort: clientPorts[i]!, clusterPort: clusterPorts[i]!, dir, confFile, url: `nats://127.0.0.1:${clientPorts[i]}` });
  }
  return specs;
}
