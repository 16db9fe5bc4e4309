// Local NATS: finds (or on Debian as root, installs) nats-server, picks `npm start`'s ports, and
// writes every local nats-server config (single servers, the per-AZ clusters, JetStream peers).

import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { freePort, portFree } from './cluster/ports.js';

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
    let alt = await freePort();
    while (ports.includes(alt) || defaults.includes(alt)) alt = await freePort();
    notes.push(`${want} in use, using ${alt}`);
    ports.push(alt);
  }
  return { ports, notes };
}

export interface NatsConfigOptions {
  /** A comment on top of the file. */
  readonly header?: string;
  readonly serverName?: string;
  /** host:port for clients; port -1 = the server picks one (and logs it). */
  readonly listen: string;
  /** Lines after the client settings (ping settings, a jetstream block, authorization). */
  readonly extra?: readonly string[];
  readonly cluster?: {
    readonly name: string;
    readonly listen: string;
    /** nats-route:// URLs this server dials. */
    readonly routes: readonly string[];
    /** Route address told to peers (chaos: a black hole, so peers dial only through the proxies). */
    readonly advertise?: string;
    /** Keeps clients on their configured URL instead of learning the other servers. */
    readonly noAdvertise?: boolean;
  };
}

/** The one nats-server config writer of the local clusters (tests, chaos, npm start, benches). */
export function natsConfig(o: NatsConfigOptions): string {
  const c = o.cluster;
  return [
    ...(o.header !== undefined ? [`# ${o.header}`] : []),
    ...(o.serverName !== undefined ? [`server_name: "${o.serverName}"`] : []),
    `listen: "${o.listen}"`,
    // Large enough for a 1 MiB value plus a batch of them; the gateway reads it from INFO.
    'max_payload: 8MB',
    ...(o.extra ?? []),
    ...(c
      ? [
          'cluster {',
          `  name: "${c.name}"`,
          `  listen: "${c.listen}"`,
          ...(c.advertise !== undefined ? [`  advertise: "${c.advertise}"`] : []),
          ...(c.noAdvertise ? ['  no_advertise: true'] : []),
          `  routes: [${c.routes.map((r) => `"${r}"`).join(', ')}]`,
          '}',
        ]
      : []),
    '',
  ].join('\n');
}
