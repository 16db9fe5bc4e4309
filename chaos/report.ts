// Figures and files of a chaos run: availability (leader kill to the next successful write,
// ops/s during and outside faults), the summary line, and on failure the history file with
// the seed and the exact command that reproduces the run, plus the process logs.

import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HISTORY_FORMAT, formatHistory, type HistoryRecord } from '../shared/lincheck/index.js';
import type { FaultRecord } from './nemesis.js';

export interface Availability {
  /** Milliseconds from each leader kill to the first write acknowledged after it. */
  readonly leaderKillToWriteMs: number[];
  readonly opsPerSecDuringFaults: number;
  readonly opsPerSecOutsideFaults: number;
  readonly faultSeconds: number;
  readonly quietSeconds: number;
}

function isWrite(r: HistoryRecord): boolean {
  return r.op !== 'get';
}

export function availability(records: readonly HistoryRecord[], faults: readonly FaultRecord[], leaderKillsMs: readonly number[], spanMs: readonly [number, number]): Availability {
  const okWrites = records.filter((r) => r.outcome === 'ok' && isWrite(r)).map((r) => ({ invoke: r.invoke / 1000, complete: r.complete! / 1000 }));
  okWrites.sort((a, b) => a.complete - b.complete);
  const gaps: number[] = [];
  for (const k of leaderKillsMs) {
    const next = okWrites.find((w) => w.invoke >= k);
    if (next) gaps.push(Math.round(next.complete - k));
  }
  const windows = faults.map((f) => [f.startMs, f.endMs || spanMs[1]] as const);
  const inFault = (t: number) => windows.some(([a, b]) => t >= a && t <= b);
  let during = 0;
  let outside = 0;
  for (const r of records) {
    if (r.outcome !== 'ok' || r.complete === null) continue;
    const t = r.complete / 1000;
    if (t < spanMs[0] || t > spanMs[1]) continue;
    if (inFault(t)) during++;
    else outside++;
  }
  const faultMs = windows.reduce((s, [a, b]) => s + Math.max(0, Math.min(b, spanMs[1]) - Math.max(a, spanMs[0])), 0);
  const quietMs = Math.max(0, spanMs[1] - spanMs[0] - faultMs);
  return {
    leaderKillToWriteMs: gaps,
    opsPerSecDuringFaults: faultMs > 0 ? during / (faultMs / 1000) : 0,
    opsPerSecOutsideFaults: quietMs > 0 ? outside / (quietMs / 1000) : 0,
    faultSeconds: faultMs / 1000,
    quietSeconds: quietMs / 1000,
  };
}

function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

export function availabilityLines(a: Availability): string[] {
  const k = a.leaderKillToWriteMs;
  return [
    k.length > 0
      ? `availability: leader kill -> next acknowledged write: p50 ${percentile(k, 50)} ms, max ${Math.max(...k)} ms (${k.length} leader kills)`
      : 'availability: no leader was killed',
    `availability: ${a.opsPerSecDuringFaults.toFixed(1)} ok ops/s during faults (${a.faultSeconds.toFixed(1)} s), ${a.opsPerSecOutsideFaults.toFixed(1)} ok ops/s outside faults (${a.quietSeconds.toFixed(1)} s)`,
  ];
}

export function summaryLine(ops: number, unknown: number, faults: number, linearizable: boolean): string {
  return `chaos: ${ops} ops, ${unknown} unknown, ${faults} faults, linearizable: ${linearizable ? 'yes' : 'no'}`;
}

export interface FailureFile {
  readonly outDir: string;
  readonly seed: number;
  readonly command: string;
  readonly records: readonly HistoryRecord[];
  readonly failed: readonly { name: string; details: readonly string[] }[];
  readonly faults: readonly FaultRecord[];
  /** Directory with the run's process logs (copied next to the history). */
  readonly logsFrom: string | null;
}

/** Writes `<outDir>/seed-N.jsonl` (header + history) and `<outDir>/seed-N-logs/`; returns the path. */
export async function writeFailure(f: FailureFile): Promise<string> {
  await mkdir(f.outDir, { recursive: true });
  const path = join(f.outDir, `seed-${f.seed}.jsonl`);
  const header = {
    format: HISTORY_FORMAT,
    seed: f.seed,
    command: f.command,
    failed: f.failed.map((c) => ({ check: c.name, details: c.details.slice(0, 80) })),
    faults: f.faults.map((x) => ({ n: x.n, kind: x.kind, plan: x.plan, notes: x.notes, startMs: Math.round(x.startMs), endMs: Math.round(x.endMs) })),
    times: 'invoke/complete in microseconds since the harness clock zero; fault times in milliseconds on the same clock',
  } as const;
  await writeFile(path, formatHistory(header, f.records));
  if (f.logsFrom) {
    const logs = join(f.outDir, `seed-${f.seed}-logs`);
    await mkdir(logs, { recursive: true });
    for (const name of await readdir(f.logsFrom)) {
      if (name.endsWith('.log') || name.endsWith('.conf')) await copyFile(join(f.logsFrom, name), join(logs, name)).catch(() => undefined);
    }
  }
  return path;
}
