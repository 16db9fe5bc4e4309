// Where the time goes: summarizes the V8 CPU profiles (.cpuprofile) that `--cpu-prof` makes
// every cellkv process write (gateway, nodes) into self time per function and per code area
// (project folder, npm package, node internals, GC/idle), for the report and the JSON.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}

interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly hitCount?: number;
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly startTime: number;
  readonly endTime: number;
  readonly samples?: readonly number[];
  readonly timeDeltas?: readonly number[];
}

export interface ProfileSummary {
  readonly process: string;
  readonly file: string;
  /** Sampled time, ms (idle included). */
  readonly totalMs: number;
  /** Time not idle, ms. */
  readonly busyMs: number;
  readonly topFunctions: readonly { readonly fn: string; readonly where: string; readonly selfMs: number; readonly pctOfBusy: number }[];
  readonly byArea: readonly { readonly area: string; readonly selfMs: number; readonly pctOfBusy: number }[];
}

/** A code area for a script URL: project folder, npm package, node internals, or V8 pseudo-frames. */
export function areaOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm ${nm[1]}`;
  const proj = /\/(cell|gateway|shared|scripts|cli)\/([^/]+)/.exec(url);
  if (proj) return `${proj[1]}/${proj[1] === 'cell' ? proj[2] : ''}`.replace(/\/$/, '');
  return 'other';
}

export function summarize(p: CpuProfile, processName: string, file: string, top = 15): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  if (p.samples && p.timeDeltas) {
    // Each sample's time is the delta to the next one.
    for (let i = 0; i < p.samples.length; i++) {
      const dt = p.timeDeltas[i + 1] ?? 0;
      selfUs.set(p.samples[i]!, (selfUs.get(p.samples[i]!) ?? 0) + Math.max(0, dt));
    }
  } else {
    const interval = (p.endTime - p.startTime) / Math.max(1, p.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0));
    for (const n of p.nodes) selfUs.set(n.id, (n.hitCount ?? 0) * interval);
  }
  const fns = new Map<string, { fn: string; where: string; us: number }>();
  const areas = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    total += us;
    const cf = n.callFrame;
    if (cf.functionName === '(idle)') idle += us;
    const where = cf.url ? `${cf.url.replace(/^file:\/\/.*?\/(node_modules|cell|gateway|shared|scripts|cli)\//, '$1/')}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName || '(anonymous)'} ${where}`;
    const e = fns.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += us;
    fns.set(key, e);
    const area = areaOf(cf.url, cf.functionName);
    areas.set(area, (areas.get(area) ?? 0) + us);
  }
  const busy = Math.max(1, total - idle);
  const pct = (us: number) => Math.round((us / busy) * 1000) / 10;
  return {
    process: processName,
    file,
    totalMs: Math.round(total / 1000),
    busyMs: Math.round(busy / 1000),
    topFunctions: [...fns.values()]
      .filter((f) => f.fn !== '(idle)')
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((f) => ({ fn: f.fn, where: f.where, selfMs: Math.round(f.us / 1000), pctOfBusy: pct(f.us) })),
    byArea: [...areas.entries()]
      .filter(([a]) => a !== '(idle)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([area, us]) => ({ area, selfMs: Math.round(us / 1000), pctOfBusy: pct(us) })),
  };
}

/** Reads every profile in `dir`; file names carry the pid (cellkv-<pid>.cpuprofile, from cpu-profiler.mjs). */
export async function summarizeDir(dir: string, names: ReadonlyMap<number, string>): Promise<ProfileSummary[]> {
  const files = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.cpuprofile'));
  const out: ProfileSummary[] = [];
  for (const f of files) {
    const pid = Number(/(\d+)\.cpuprofile$/.exec(f)?.[1]);
    const name = names.get(pid);
    if (!name) continue; // scripts/start.ts itself and helper processes
    try {
      out.push(summarize(JSON.parse(await readFile(join(dir, f), 'utf8')) as CpuProfile, name, join(dir, f)));
    } catch {
      // a truncated profile (process killed) is skipped
    }
  }
  return out.sort((a, b) => b.busyMs - a.busyMs);
}

export function formatProfiles(ps: readonly ProfileSummary[], topN = 12): string {
  const out: string[] = [];
  for (const p of ps) {
    out.push(`${p.process}: ${p.busyMs} ms busy of ${p.totalMs} ms sampled (${p.file})`);
    out.push(`  by area: ${p.byArea.slice(0, 8).map((a) => `${a.area} ${a.pctOfBusy}%`).join(', ')}`);
    for (const f of p.topFunctions.slice(0, topN)) out.push(`  ${String(f.pctOfBusy).padStart(5)}%  ${f.fn}  ${f.where}`);
  }
  return out.join('\n');
}
