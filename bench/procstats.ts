// Resource figures of the systems under test, from Linux /proc and the file system: resident
// memory (VmRSS of /proc/<pid>/status), CPU time (utime+stime of /proc/<pid>/stat, all
// threads), and disk usage of data directories (allocated blocks, as `du` counts them).
// The load generator's own share comes from process.cpuUsage (every thread of this process).

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import type { PeerProcess } from './peers/types.js';

export const CORES = availableParallelism();

const CLK_TCK = (() => {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
})();

export function rssBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** CPU seconds a process has used so far (user + system, all its threads). */
export function cpuSeconds(pid: number): number | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // fields[0] is field 3 (state): utime and stime are fields 14 and 15.
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
  } catch {
    return null;
  }
}

/** Bytes allocated on disk under `dir` (0 when it does not exist). */
export async function diskUsage(dir: string): Promise<number> {
  let total = 0;
  const walk = async (p: string): Promise<void> => {
    let st;
    try {
      st = await lstat(p);
    } catch {
      return;
    }
    total += st.blocks * 512;
    if (!st.isDirectory()) return;
    const entries = await readdir(p).catch(() => [] as string[]);
    for (const e of entries) await walk(join(p, e));
  };
  await walk(dir);
  return total;
}

export interface CpuSnapshot {
  readonly wallNs: bigint;
  readonly self: NodeJS.CpuUsage;
  readonly procs: ReadonlyMap<string, number>;
}

export function cpuSnapshot(procs: readonly PeerProcess[]): CpuSnapshot {
  const m = new Map<string, number>();
  for (const p of procs) {
    const s = cpuSeconds(p.pid);
    if (s !== null) m.set(p.name, s);
  }
  return { wallNs: process.hrtime.bigint(), self: process.cpuUsage(), procs: m };
}

export interface CpuShares {
  /** Share of the machine (all cores) the load generator used, percent. */
  readonly loadGenPct: number;
  /** Share of the machine the system's processes used together, percent. */
  readonly serverPct: number | null;
  /** Per process: percent of one core (100 = one core busy). */
  readonly byProcessCorePct: Record<string, number>;
}

export function cpuShares(a: CpuSnapshot, b: CpuSnapshot): CpuShares {
  const wall = Number(b.wallNs - a.wallNs) / 1e9;
  const self = (b.self.user - a.self.user + b.self.system - a.self.system) / 1e6;
  const byProcessCorePct: Record<string, number> = {};
  let server = 0;
  let any = false;
  for (const [name, s1] of b.procs) {
    const s0 = a.procs.get(name);
    if (s0 === undefined) continue;
    any = true;
    server += s1 - s0;
    byProcessCorePct[name] = round1(((s1 - s0) / wall) * 100);
  }
  return { loadGenPct: round1((self / wall / CORES) * 100), serverPct: any ? round1((server / wall / CORES) * 100) : null, byProcessCorePct };
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

export interface ResourceRow {
  readonly name: string;
  readonly pid: number;
  readonly rssBytes: number | null;
}

export interface Resources {
  readonly processes: readonly ResourceRow[];
  readonly disk: readonly { readonly name: string; readonly dir: string; readonly bytes: number }[];
}

export async function resources(procs: readonly PeerProcess[], dirs: readonly { name: string; dir: string }[]): Promise<Resources> {
  return {
    processes: procs.map((p) => ({ name: p.name, pid: p.pid, rssBytes: rssBytes(p.pid) })),
    disk: await Promise.all(dirs.map(async (d) => ({ name: d.name, dir: d.dir, bytes: await diskUsage(d.dir) }))),
  };
}
