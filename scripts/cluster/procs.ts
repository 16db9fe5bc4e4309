// Child processes of a local cluster (nats-servers, cell nodes, gateways, benchmark peers):
// spawning with output to a log file and/or a memory tail, waiting for a "ready" line,
// signals, and a process-wide registry so that every exit path (normal end, error, SIGINT,
// even process.exit) kills what was started and removes registered temporary directories.

import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';

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

export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

export interface ChildSpec {
  /** For error messages: "node n1", "nats-server az1", "gateway gw-a". */
  readonly label: string;
  readonly cmd: string;
  readonly args: readonly string[];
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** stderr is appended to this file; without one, stderr goes to the memory tail with stdout. */
  readonly logFile?: string;
  /** Also append stdout to the log file, after a header line naming the command (npm start's logs). */
  readonly logStdout?: boolean;
  /** A stdout match that means ready; null = ready once spawned. */
  readonly ready: RegExp | null;
  /** 'output': matched against the recent output as a whole (may span lines); 'line': line by line. */
  readonly readyMatch?: 'output' | 'line';
  readonly readyTimeoutMs: number;
  /** Own process group, so a terminal's Ctrl-C reaches only the parent (npm start stops children in order). */
  readonly detached?: boolean;
  /** Characters of recent output kept in memory (default 8000). */
  readonly tailChars?: number;
  /** Called right after the spawn, before the ready wait (a supervisor records the pid at once). */
  readonly onSpawn?: (proc: ChildProcess, exited: Promise<ExitStatus>) => void;
}

export interface Child {
  readonly spec: ChildSpec;
  readonly proc: ChildProcess;
  /** The ready pattern's match (null when there was no pattern). */
  readonly ready: RegExpExecArray | null;
  /** Resolves when the process exits (or could not be spawned at all: both null). */
  readonly exited: Promise<ExitStatus>;
  /** Recent output kept in memory: stdout, and stderr when there is no log file. */
  output(): string;
}

/** A child that was spawned but did not become ready; `child` is still there to be stopped. */
export class NotReadyError extends Error {
  constructor(
    message: string,
    readonly child: Omit<Child, 'ready'>,
  ) {
    super(message);
    this.name = 'NotReadyError';
  }
}

/** Starts a child and waits for its ready output; kills it if that does not come in time. */
export async function spawnChild(o: ChildSpec): Promise<Child> {
  hookExit();
  const fd = o.logFile ? openSync(o.logFile, 'a') : null;
  let proc: ChildProcess;
  try {
    if (fd !== null && o.logStdout) writeSync(fd, `\n--- ${new Date().toISOString()} ${o.cmd} ${o.args.join(' ')}\n`);
    proc = spawn(o.cmd, [...o.args], { cwd: o.cwd, env: o.env ?? process.env, stdio: ['ignore', 'pipe', fd ?? 'pipe'], detached: o.detached ?? false });
  } finally {
    // The child holds its own copy; stdout copies are written through a fresh descriptor.
    if (fd !== null && !o.logStdout) closeSync(fd);
  }
  live.add(proc);
  const exited = new Promise<ExitStatus>((resolve) => {
    let ended = false;
    const done = (s: ExitStatus) => {
      // 'error' and 'exit' may both fire: the descriptor must be closed once only.
      if (ended) return;
      ended = true;
      live.delete(proc);
      if (fd !== null && o.logStdout) closeQuietly(fd);
      resolve(s);
    };
    proc.once('exit', (code, signal) => done({ code, signal }));
    proc.once('error', () => done({ code: null, signal: null }));
  });
  o.onSpawn?.(proc, exited);
  const max = o.tailChars ?? 8000;
  let tail = '';
  let lineBuf = '';
  let onLine: ((line: string) => void) | null = null;
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-max));
  proc.stderr?.on('data', keep);
  proc.stdout?.on('data', (d: Buffer) => {
    keep(d);
    if (fd !== null && o.logStdout) {
      try {
        writeSync(fd, d);
      } catch {
        // the log is best effort
      }
    }
    if (!onLine) return;
    lineBuf += d.toString();
    let nl: number;
    while ((nl = lineBuf.indexOf('\n')) >= 0) {
      const line = lineBuf.slice(0, nl);
      lineBuf = lineBuf.slice(nl + 1);
      onLine?.(line);
    }
  });
  const base = { spec: o, proc, exited, output: () => tail };
  const where = () => (o.logFile ? ` (log: ${o.logFile})` : `:\n${tail}`);
  const ready = await new Promise<RegExpExecArray | null>((resolve, reject) => {
    if (!o.ready) return resolve(null);
    const pattern = o.ready;
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      onLine = null;
      f();
    };
    const timer = setTimeout(() => {
      settle(() => reject(new NotReadyError(`${o.label} did not report ready within ${o.readyTimeoutMs} ms${where()}`, base)));
      proc.kill('SIGKILL');
    }, o.readyTimeoutMs);
    if (o.readyMatch === 'line') {
      onLine = (line) => {
        const m = pattern.exec(line);
        if (m) settle(() => resolve(m));
      };
    } else {
      proc.stdout?.on('data', () => {
        const m = pattern.exec(tail);
        if (m) settle(() => resolve(m));
      });
    }
    void exited.then(({ code, signal }) => settle(() => reject(new NotReadyError(`${o.label} exited (${signal ?? `code ${code}`}) before it was ready${where()}`, base))));
  });
  // Keep reading stdout so the child never blocks on a full pipe.
  proc.stdout?.resume();
  return { ...base, ready };
}

export function isRunning(p: ChildProcess | null | undefined): p is ChildProcess {
  return p != null && p.exitCode === null && p.signalCode === null;
}

/** SIGKILL and wait for the exit (a crash: nothing is flushed). */
export async function killHard(c: Pick<Child, 'proc' | 'exited'>): Promise<void> {
  if (!isRunning(c.proc)) return;
  c.proc.kill('SIGCONT');
  c.proc.kill('SIGKILL');
  await c.exited;
}

/** SIGTERM, SIGKILL after `graceMs`; resolves with the exit code (a graceful stop). */
export async function terminate(c: Pick<Child, 'proc' | 'exited'>, graceMs: number): Promise<number | null> {
  const code = c.proc.exitCode;
  if (!isRunning(c.proc)) return code;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), graceMs);
  const status = await c.exited;
  clearTimeout(t);
  return status.code;
}

/** Sends a signal if the process still runs; never throws. */
export function signal(p: ChildProcess, sig: NodeJS.Signals): void {
  try {
    if (isRunning(p)) p.kill(sig);
  } catch {
    // already gone
  }
}

/** Signals the child's whole process group (a detached child leads one), else the child. */
export function signalGroup(p: ChildProcess, sig: NodeJS.Signals): void {
  if (p.pid === undefined) return;
  try {
    process.kill(-p.pid, sig);
  } catch {
    signal(p, sig);
  }
}

/** SIGCONT then SIGKILL to bare pids (children of a child, known from its records). */
export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

export function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
