// Scheduled backups: `cellkv backup --to ROOT --every 1h [--keep N] [--full-every K]` takes one
// backup per interval into a timestamped directory under ROOT: a full backup, then incrementals
// on the previous one, a new full every K runs; afterwards only the newest N complete backups
// and everything they build on are kept. Directories without a manifest (crashed runs) older
// than the newest complete backup are removed too.

import { mkdir, readdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BackupError } from './errors.js';
import { loadManifest, runBackup, type BackupProgress, type BackupResult, type ClusterLink } from './backup.js';
import type { Manifest } from './format.js';

const NAME_RE = /^\d{8}T\d{6}Z(-\d+)?$/;
export const MIN_INTERVAL_MS = 1000;

export interface ExistingBackup {
  readonly name: string;
  /** null: no manifest (incomplete). */
  readonly manifest: Manifest | null;
}

/** `20261203T120000Z`: sorts by time, safe as a file name. */
export function backupDirName(atMs: number): string {
  return new Date(atMs).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Parses 90s, 30m, 1h, 1d or plain seconds. */
export function parseInterval(s: string): number {
  const m = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(s.trim());
  if (!m) throw new BackupError('INVALID_ARGUMENT', `--every "${s}" must look like 90s, 30m, 1h or 1d`);
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  const ms = Number(m[1]) * mult;
  if (ms < MIN_INTERVAL_MS) throw new BackupError('INVALID_ARGUMENT', `--every must be at least ${MIN_INTERVAL_MS} ms`);
  return ms;
}

/** The names a backup depends on (itself first, then its bases), within ROOT. */
function chainOf(name: string, byName: ReadonlyMap<string, Manifest>, root: string): string[] {
  const out: string[] = [];
  let cur: string | null = name;
  while (cur !== null && out.length < 10_000) {
    out.push(cur);
    const m = byName.get(cur);
    if (!m?.base) break;
    const baseDir = resolve(root, cur, m.base.path);
    cur = resolve(root) === resolve(baseDir, '..') ? baseDir.slice(resolve(root).length + 1) : null;
  }
  return out;
}

/** What the next run takes: a full backup, or an incremental on the newest complete one. */
export function planNext(existing: readonly ExistingBackup[], fullEvery: number, root: string): { kind: 'full' | 'incremental'; base: string | null } {
  const complete = existing.filter((b): b is ExistingBackup & { manifest: Manifest } => b.manifest !== null);
  const latest = complete[complete.length - 1];
  if (!latest || fullEvery <= 1) return { kind: 'full', base: null };
  const byName = new Map(complete.map((b) => [b.name, b.manifest]));
  const chain = chainOf(latest.name, byName, root);
  const last = byName.get(chain[chain.length - 1]!);
  // A chain whose full backup is gone (or outside ROOT) is not extended.
  if (!last || last.kind !== 'full' || chain.length >= fullEvery) return { kind: 'full', base: null };
  return { kind: 'incremental', base: latest.name };
}

/** Names to delete: all but the newest `keep` complete backups and what they build on. */
export function retention(existing: readonly ExistingBackup[], keep: number, root: string): string[] {
  const complete = existing.filter((b): b is ExistingBackup & { manifest: Manifest } => b.manifest !== null);
  const byName = new Map(complete.map((b) => [b.name, b.manifest]));
  const kept = new Set<string>();
  for (const b of complete.slice(-Math.max(1, keep))) for (const n of chainOf(b.name, byName, root)) kept.add(n);
  const newest = complete[complete.length - 1]?.name ?? '';
  return existing.filter((b) => (b.manifest !== null ? !kept.has(b.name) : b.name < newest)).map((b) => b.name);
}

export async function listBackups(root: string): Promise<ExistingBackup[]> {
  const names = (await readdir(root).catch(() => [] as string[])).filter((n) => NAME_RE.test(n)).sort();
  const out: ExistingBackup[] = [];
  for (const name of names) out.push({ name, manifest: await loadManifest(join(root, name)).then((m) => m.manifest, () => null) });
  return out;
}

export interface ScheduleOptions {
  /** A fresh connection per run (closed after it), so one broken connection heals. */
  readonly connect: () => Promise<{ readonly link: ClusterLink; close(): Promise<void> }>;
  readonly root: string;
  readonly everyMs: number;
  readonly keep: number;
  readonly fullEvery: number;
  readonly clusterId?: string;
  readonly progress: BackupProgress;
  /** Stops the loop (signals); checked between runs and while waiting. */
  readonly stopped: () => boolean;
  /** Runs at most this many backups (tests; default unbounded). */
  readonly maxRuns?: number;
  /** Called after each successful run. */
  readonly onBackup?: (r: BackupResult) => void;
}

/** One scheduled run: plan, back up, prune. */
export async function runScheduledOnce(o: Omit<ScheduleOptions, 'everyMs' | 'stopped' | 'maxRuns' | 'connect' | 'onBackup'> & { link: ClusterLink }, now = Date.now()): Promise<BackupResult> {
  const root = resolve(o.root);
  await mkdir(root, { recursive: true });
  const existing = await listBackups(root);
  const plan = planNext(existing, o.fullEvery, root);
  let name = backupDirName(now);
  for (let i = 1; existing.some((b) => b.name === name); i++) name = `${backupDirName(now)}-${i}`;
  o.progress.line(`scheduled ${plan.kind} backup ${name}${plan.base ? ` on ${plan.base}` : ''}`);
  const result = await runBackup({ link: o.link, dir: join(root, name), base: plan.base ? join(root, plan.base) : null, progress: o.progress, ...(o.clusterId ? { clusterId: o.clusterId } : {}) });
  for (const old of retention(await listBackups(root), o.keep, root)) {
    await rm(join(root, old), { recursive: true, force: true });
    o.progress.line(`retention: removed ${old}`);
  }
  return result;
}

export async function runSchedule(o: ScheduleOptions): Promise<void> {
  let runs = 0;
  let next = Date.now();
  while (!o.stopped() && runs < (o.maxRuns ?? Number.MAX_SAFE_INTEGER)) {
    const wait = next - Date.now();
    if (wait > 0) {
      await new Promise((r) => setTimeout(r, Math.min(wait, 500)));
      continue;
    }
    next += o.everyMs;
    if (next < Date.now()) next = Date.now() + o.everyMs; // a run longer than the interval: no pile-up
    runs++;
    try {
      const c = await o.connect();
      try {
        // Not `o.onBackup?.(await ...)`: a missing callback would skip evaluating the run.
        const result = await runScheduledOnce({ ...o, link: c.link });
        o.onBackup?.(result);
      } finally {
        await c.close();
      }
    } catch (e) {
      // One failed run must not stop the schedule: the next interval tries again.
      o.progress.line(`scheduled backup failed: ${e instanceof BackupError ? `${e.code}: ${e.detail}` : (e as Error).message}; next try in ${Math.round(o.everyMs / 1000)}s`);
    }
  }
}
