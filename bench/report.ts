// Results: one row per (system, front door, workload) with every field always present (null
// where it does not apply: "n/a" and failed rows), printed as a table and written as JSON.
// Latencies are in milliseconds, from histograms recorded in microseconds.

import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname } from 'node:path';
import type { Histogram } from 'hdr-histogram-js';
import type { PhaseResult } from './generators.js';
import type { LoadStats } from './preload.js';
import { CORES, type CpuShares, type Resources } from './procstats.js';

export interface Latency {
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly p999: number;
  readonly max: number;
  readonly mean: number;
}

export type RowStatus = 'ok' | 'n/a' | 'failed';

export interface Row {
  readonly peer: string;
  readonly front: string;
  readonly workload: string;
  readonly distribution: string;
  readonly mode: 'closed-loop' | 'open-loop';
  readonly targetRate: number | null;
  readonly concurrency: number;
  readonly generatorThreads: number;
  readonly valueBytes: number;
  readonly keys: number;
  readonly status: RowStatus;
  /** Why a row is n/a or failed; null when ok. */
  readonly reason: string | null;
  readonly seconds: number | null;
  /** Successful operations (each recorded in the latency histogram). */
  readonly ops: number | null;
  /** Count in the merged histogram: equals ops (the smoke test checks it). */
  readonly histogramCount: number | null;
  readonly opsPerSec: number | null;
  readonly latencyMs: Latency | null;
  readonly errors: number | null;
  readonly errorLabels: Record<string, number> | null;
  readonly notFound: number | null;
  readonly conflicts: number | null;
  readonly scannedKeys: number | null;
  readonly inserts: number | null;
  /** Open loop: ops that started more than 1 ms after their due time. */
  readonly late: number | null;
  readonly perOp: Record<string, { readonly ops: number; readonly opsPerSec: number; readonly latencyMs: Latency }> | null;
  readonly loadGenCpuPct: number | null;
  readonly serverCpuPct: number | null;
  readonly serverCpuCorePctByProcess: Record<string, number> | null;
  /** `scale` rows: the load and the resources after it. */
  readonly scale: { readonly load: LoadStats; readonly resources: Resources } | null;
}

export type RowContext = Pick<Row, 'peer' | 'front' | 'workload' | 'distribution' | 'mode' | 'targetRate' | 'concurrency' | 'generatorThreads' | 'valueBytes' | 'keys'>;

const ms = (us: number) => Math.round(us) / 1000;

export function latencyOf(h: Histogram): Latency {
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: Math.round(h.mean) / 1000,
  };
}

const EMPTY: Omit<Row, keyof RowContext | 'status' | 'reason'> = {
  seconds: null,
  ops: null,
  histogramCount: null,
  opsPerSec: null,
  latencyMs: null,
  errors: null,
  errorLabels: null,
  notFound: null,
  conflicts: null,
  scannedKeys: null,
  inserts: null,
  late: null,
  perOp: null,
  loadGenCpuPct: null,
  serverCpuPct: null,
  serverCpuCorePctByProcess: null,
  scale: null,
};

export function unavailableRow(ctx: RowContext, status: 'n/a' | 'failed', reason: string): Row {
  return { ...ctx, status, reason, ...EMPTY };
}

export function resultRow(ctx: RowContext, r: PhaseResult, cpu: CpuShares, scale: Row['scale']): Row {
  const perOp: NonNullable<Row['perOp']> = {};
  for (const [op, p] of r.perOp) perOp[op] = { ops: p.ops, opsPerSec: Math.round(p.ops / r.elapsedSeconds), latencyMs: latencyOf(p.histogram) };
  return {
    ...ctx,
    status: 'ok',
    reason: null,
    seconds: Math.round(r.elapsedSeconds * 1000) / 1000,
    ops: r.ops,
    histogramCount: r.histogramCount,
    opsPerSec: Math.round(r.ops / r.elapsedSeconds),
    latencyMs: r.ops > 0 ? latencyOf(r.histogram) : null,
    errors: r.errors,
    errorLabels: r.errorLabels,
    notFound: r.notFound,
    conflicts: r.conflicts,
    scannedKeys: r.scannedKeys,
    inserts: r.inserts,
    late: ctx.mode === 'open-loop' ? r.late : null,
    perOp,
    loadGenCpuPct: cpu.loadGenPct,
    serverCpuPct: cpu.serverPct,
    serverCpuCorePctByProcess: cpu.byProcessCorePct,
    scale,
  };
}

// ------------------------------------------------------------------ table

const num = (x: number | null | undefined, digits = 2) => (x === null || x === undefined ? '-' : x.toFixed(digits));

export function formatTable(rows: readonly Row[]): string {
  const head = ['system', 'workload', 'ops/s', 'p50', 'p90', 'p99', 'p99.9', 'max', 'errors', 'lg-cpu', 'srv-cpu'];
  const body = rows.map((r) => {
    const sys = `${r.peer}/${r.front}`;
    const wl = r.distribution === 'zipfian' ? `${r.workload} (zipf)` : r.workload;
    if (r.status !== 'ok') return [sys, wl, r.status === 'n/a' ? 'n/a' : 'FAILED', '', '', '', '', '', '', '', ''];
    const l = r.latencyMs;
    return [sys, wl, String(r.opsPerSec), num(l?.p50), num(l?.p90), num(l?.p99), num(l?.p999), num(l?.max, 1), String(r.errors), `${num(r.loadGenCpuPct, 0)}%`, r.serverCpuPct === null ? '-' : `${num(r.serverCpuPct, 0)}%`];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmtRow = (cells: string[]) => cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const lines = [fmtRow(head), fmtRow(widths.map((w) => '-'.repeat(w)))];
  for (const b of body) lines.push(fmtRow(b));
  lines.push('latencies in ms; lg-cpu = load generator CPU / wall / all cores; srv-cpu = the system\'s processes, same scale (both over warm-up + measured time).');
  return lines.join('\n');
}

/** Reasons of n/a and failed rows, errors by label, and scale figures, under the table. */
export function formatDetails(rows: readonly Row[]): string {
  const out: string[] = [];
  const mib = (b: number | null) => (b === null ? '?' : `${(b / 1024 ** 2).toFixed(0)} MiB`);
  for (const r of rows) {
    const sys = `${r.peer}/${r.front} ${r.workload}`;
    if (r.status !== 'ok') {
      // Start failures carry a log tail: the first lines say enough here; the JSON has it all.
      const lines = (r.reason ?? '').split('\n').map((l) => l.trim()).filter(Boolean);
      out.push(`${sys}: ${r.status}: ${lines.slice(0, 8).join('\n    ')}${lines.length > 8 ? '\n    ...' : ''}`);
    }
    else {
      if (r.errors && r.errorLabels) out.push(`${sys}: errors ${Object.entries(r.errorLabels).map(([k, v]) => `${k} ×${v}`).join(', ')}`);
      if (r.conflicts) out.push(`${sys}: ${r.conflicts} CAS conflicts (counted as completed ops)`);
      if (r.late) out.push(`${sys}: ${r.late} ops started >1 ms after their due time (load generator or server behind the rate)`);
    }
    if (r.scale) {
      const s = r.scale;
      out.push(`${sys}: loaded ${s.load.keys.toLocaleString('en-US')} keys in ${s.load.seconds}s (${s.load.keysPerSec.toLocaleString('en-US')} keys/s, ${s.load.failed} failed)`);
      out.push(`  RSS: ${s.resources.processes.map((p) => `${p.name} ${mib(p.rssBytes)}`).join(', ')}`);
      out.push(`  disk: ${s.resources.disk.map((d) => `${d.name} ${mib(d.bytes)}`).join(', ')}`);
    }
  }
  return out.join('\n');
}

/** Each system's CPU with no load (background work), to read the srv-cpu column against. */
export function formatIdle(peers: readonly PeerInfo[]): string {
  return peers
    .filter((p) => p.idleCpu?.serverPct != null)
    .map((p) => `${p.peer} idle: srv-cpu ${p.idleCpu!.serverPct}% (% of a core: ${Object.entries(p.idleCpu!.byProcessCorePct).map(([k, v]) => `${k} ${v}`).join(', ')})`)
    .join('\n');
}

// ------------------------------------------------------------------ JSON

export interface PeerInfo {
  readonly peer: string;
  readonly version: string;
  readonly notes: readonly string[];
  readonly status: 'ok' | 'failed';
  readonly reason: string | null;
  readonly load: LoadStats | null;
  readonly resourcesAfterLoad: Resources | null;
  /** CPU with no load for a few seconds after the preload (background work). */
  readonly idleCpu: CpuShares | null;
  readonly resourcesAtEnd: Resources | null;
}

export interface BenchReport {
  readonly bench: 'cellkv';
  readonly version: 1;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly interrupted: boolean;
  readonly machine: { readonly cores: number; readonly cpu: string; readonly memBytes: number; readonly node: string; readonly loadavgStart: number[]; readonly loadavgEnd: number[] };
  readonly config: Record<string, unknown>;
  readonly notes: readonly string[];
  readonly peers: readonly PeerInfo[];
  readonly rows: readonly Row[];
  readonly profiles: readonly unknown[];
}

export function machineInfo(loadavgStart: number[]): BenchReport['machine'] {
  return { cores: CORES, cpu: cpus()[0]?.model ?? 'unknown', memBytes: totalmem(), node: process.version, loadavgStart, loadavgEnd: loadavg() };
}

export async function writeJson(file: string, report: BenchReport): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(report, null, 2)}\n`);
}
