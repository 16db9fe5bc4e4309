// Child process supervision for `npm start`: spawns children in their own process groups (so a
// terminal Ctrl-C reaches only us and we stop them in order: gateway, nodes, then NATS), waits
// for each one's ready line, logs their output to <dir>/logs/, records pids in
// <dir>/run/state.json, and kills whatever is left on every exit path.

import type { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProcessRole, Runner } from './cluster/launcher.js';
import { signal, signalGroup, spawnChild, type Child, type ChildSpec } from './cluster/procs.js';

export interface SupervisedSpec extends Omit<ChildSpec, 'label' | 'logFile' | 'logStdout' | 'readyMatch' | 'detached' | 'onSpawn'> {
  readonly name: string;
  /** Stop group: lower groups stop later (NATS = 0, nodes = 1, gateway = 2). */
  readonly group: number;
  /** Grace after SIGTERM before SIGKILL. */
  readonly stopGraceMs: number;
}

interface Running {
  readonly spec: SupervisedSpec;
  readonly proc: ChildProcess;
  readonly logFile: string;
  exited: boolean;
  expectedExit: boolean;
  /** Printed its ready line: an exit after that is news; one before it fails start(). */
  ready: boolean;
}

/** Stop group and grace of each kind of launcher process (the canary is group 3). */
const ROLES: Record<ProcessRole, { group: number; stopGraceMs: number }> = {
  nats: { group: 0, stopGraceMs: 5000 },
  node: { group: 1, stopGraceMs: 15_000 },
  gateway: { group: 2, stopGraceMs: 10_000 },
};

export interface RunState {
  readonly supervisorPid: number;
  readonly startedAt: string;
  readonly children: { name: string; pid: number }[];
}

const STATE_FILE = 'state.json';

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The process's command line (Linux /proc), or null when it cannot be read. */
export function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return null;
  }
}

export class Supervisor {
  private readonly children: Running[] = [];
  private stopping = false;
  private exitHookInstalled = false;
  /** Set once we write state.json: a supervisor that refused to start must not delete another's. */
  private ownsState = false;

  constructor(
    private readonly runDir: string,
    private readonly logDir: string,
    private readonly onUnexpectedExit: (name: string, code: number | null, signal: string | null, logFile: string) => void,
  ) {}

  get isStopping(): boolean {
    return this.stopping;
  }

  async init(): Promise<void> {
    await mkdir(this.runDir, { recursive: true });
    await mkdir(this.logDir, { recursive: true });
    this.installExitHook();
  }

  /**
   * Leftovers of a previous run whose supervisor was killed (SIGKILL leaves children behind):
   * refuses when that supervisor is still alive, else stops children that still run from
   * `dataDir` (checked by command line, so a recycled pid is never touched). Returns how many.
   */
  async reapStale(dataDir: string): Promise<number> {
    let state: RunState;
    try {
      state = JSON.parse(await readFile(join(this.runDir, STATE_FILE), 'utf8')) as RunState;
    } catch {
      return 0;
    }
    if (state.supervisorPid !== process.pid && pidAlive(state.supervisorPid) && /start\.ts/.test(cmdlineOf(state.supervisorPid) ?? 'start.ts')) {
      throw new Error(`another \`npm start\` (pid ${state.supervisorPid}) is already using ${dataDir}; stop it first (Ctrl-C in its terminal, or kill ${state.supervisorPid})`);
    }
    const stale = state.children.filter((c) => pidAlive(c.pid) && (cmdlineOf(c.pid) ?? '').includes(dataDir));
    for (const c of stale) process.kill(c.pid, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (stale.some((c) => pidAlive(c.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    for (const c of stale) if (pidAlive(c.pid)) process.kill(c.pid, 'SIGKILL');
    await rm(join(this.runDir, STATE_FILE), { force: true });
    return stale.length;
  }

  /** Spawns a child (logs in <logDir>/<name>.log) and resolves once it printed its ready line. */
  async start(spec: SupervisedSpec): Promise<Child> {
    if (this.stopping) throw new Error('stopping');
    const logFile = join(this.logDir, `${spec.name}.log`);
    let child: Running | null = null;
    try {
      const c = await spawnChild({
        ...spec,
        label: spec.name,
        // stderr goes straight to the log (pino/nats logs); stdout too, and is read for the ready line.
        logFile,
        logStdout: true,
        readyMatch: 'line',
        detached: true,
        onSpawn: (proc, exited) => {
          const r: Running = { spec, proc, logFile, exited: false, expectedExit: false, ready: spec.ready === null };
          child = r;
          this.children.push(r);
          this.writeState();
          void exited.then(({ code, signal: sig }) => {
            r.exited = true;
            this.writeState();
            if (r.ready && !r.expectedExit && !this.stopping) this.onUnexpectedExit(spec.name, code, sig, logFile);
          });
        },
      });
      if (child) (child as Running).ready = true;
      return c;
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${this.tail(logFile)}`);
    }
  }

  /** The launcher's processes under this supervisor, each kind in its stop group. */
  runner(): Runner {
    return { start: (role, name, spec) => this.start({ ...spec, name, ...ROLES[role] }) };
  }

  /** The last lines of a log file, indented, for error messages. */
  tail(file: string, lines = 15): string {
    try {
      const text = readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines);
      return [`last lines of ${file}:`, ...text.map((l) => `  ${l.slice(0, 400)}`)].join('\n');
    } catch {
      return `(no log at ${file})`;
    }
  }

  pids(): { name: string; pid: number }[] {
    return this.children.filter((c) => c.proc.pid !== undefined).map((c) => ({ name: c.spec.name, pid: c.proc.pid! }));
  }

  /** Stops every child, highest group first; each group in parallel, SIGKILL after its grace. */
  async stopAll(report: (line: string) => void): Promise<void> {
    this.stopping = true;
    const groups = [...new Set(this.children.map((c) => c.spec.group))].sort((a, b) => b - a);
    for (const g of groups) {
      const members = this.children.filter((c) => c.spec.group === g && !c.exited);
      if (members.length === 0) continue;
      await Promise.all(members.map((c) => this.stopOne(c, report)));
      report(`stopped ${members.map((c) => c.spec.name).join(', ')}`);
    }
    if (this.ownsState) await rm(join(this.runDir, STATE_FILE), { force: true });
  }

  private async stopOne(c: Running, report: (line: string) => void): Promise<void> {
    c.expectedExit = true;
    const done = new Promise<void>((resolve) => {
      if (c.exited) return resolve();
      c.proc.once('exit', () => resolve());
    });
    signal(c.proc, 'SIGTERM');
    const timer = setTimeout(() => {
      report(`${c.spec.name} did not stop within ${c.spec.stopGraceMs / 1000}s: killing it`);
      signalGroup(c.proc, 'SIGKILL');
    }, c.spec.stopGraceMs);
    await done;
    clearTimeout(timer);
    // Anything the child left in its process group goes with it.
    signalGroup(c.proc, 'SIGKILL');
  }

  /** Last resort on any exit path (uncaught error, process.exit): no child outlives us. */
  killAllNow(): void {
    for (const c of this.children) {
      if (!c.exited) signalGroup(c.proc, 'SIGKILL');
    }
  }

  private installExitHook(): void {
    if (this.exitHookInstalled) return;
    this.exitHookInstalled = true;
    process.on('exit', () => this.killAllNow());
  }

  private writeState(): void {
    const state: RunState = { supervisorPid: process.pid, startedAt: new Date().toISOString(), children: this.children.filter((c) => !c.exited).map((c) => ({ name: c.spec.name, pid: c.proc.pid ?? 0 })) };
    try {
      if (existsSync(this.runDir)) writeFileSync(join(this.runDir, STATE_FILE), JSON.stringify(state, null, 2));
      this.ownsState = true;
    } catch {
      // state is advisory (used to reap leftovers after a hard kill)
    }
  }
}
