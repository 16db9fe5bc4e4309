// Child processes of a chaos run (nats-servers, cell nodes, gateways): spawning with logs to
// files, waiting for a "ready" line, signals, and a process-wide registry so that every exit
// path (normal end, error, SIGINT, even process.exit) kills what was started and removes the
// temporary directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';

const live = new Set<ChildProcess>();
const tempDirs = new Set<string>();
let hooked = false;

/** Kills every child still running (SIGCONT first: a stopped process ignores SIGKILL's exit). */
export function killAllSync(): void {
  for (const p of live) {
    try {
      p.kill('SIGCONT');
      p.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

export function cleanupSync(): void {
  killAllSync();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
}

/** Registers a temp dir for removal at exit, and the exit hook itself. */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
  hookExit();
}

export function untrackTempDir(dir: string): void {
  tempDirs.delete(dir);
}

function hookExit(): void {
  if (hooked) return;
  hooked = true;
  // Synchronous, so it also runs on process.exit() from anywhere.
  process.on('exit', () => cleanupSync());
}

export { natsServerBinary } from '../scripts/nats-cluster.js';

export interface Spawned {
  readonly proc: ChildProcess;
  /** The first match of the ready pattern on stdout (null when there was no pattern). */
  readonly ready: RegExpExecArray | null;
  /** Resolves with (code, signal) when the process exits. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface SpawnOptions {
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** stderr (and stdout after the ready line) are appended here. */
  readonly logFile: string;
  /** A line on stdout that means ready; null = ready once spawned. */
  readonly readyPattern: RegExp | null;
  readonly readyTimeoutMs: number;
  readonly label: string;
}

/** Starts a child and waits for its ready line; kills it if it does not come in time. */
export async function spawnReady(o: SpawnOptions): Promise<Spawned> {
  hookExit();
  const fd = openSync(o.logFile, 'a');
  let proc: ChildProcess;
  try {
    proc = spawn(o.cmd, [...o.args], { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', fd] });
  } finally {
    closeSync(fd); // the child holds its own copy
  }
  live.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  let out = '';
  const ready = await new Promise<RegExpExecArray | null>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${o.label} did not report ready within ${o.readyTimeoutMs} ms (log: ${o.logFile})`));
    }, o.readyTimeoutMs);
    const onData = (d: Buffer) => {
      out = (out + d.toString()).slice(-8000);
      const m = o.readyPattern ? o.readyPattern.exec(out) : null;
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    proc.stdout?.on('data', onData);
    if (!o.readyPattern) {
      clearTimeout(timer);
      resolve(null);
    }
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`${o.label} exited (${signal ?? code}) before it was ready (log: ${o.logFile})`));
    });
  });
  // Keep reading stdout so the child never blocks on a full pipe.
  proc.stdout?.resume();
  return { proc, ready, exited };
}

export function isRunning(p: ChildProcess | null): p is ChildProcess {
  return p !== null && p.exitCode === null && p.signalCode === null;
}

/** SIGKILL and wait for the exit (a crash: nothing is flushed). */
export async function killHard(s: Spawned): Promise<void> {
  if (!isRunning(s.proc)) return;
  s.proc.kill('SIGCONT');
  s.proc.kill('SIGKILL');
  await s.exited;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
