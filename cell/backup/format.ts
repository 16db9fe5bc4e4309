// The on-disk format of a backup directory:
//
//   manifest.json          written last (temp file + rename): its presence marks a complete backup
//   <cell>.snapshot        a cell's state-machine snapshot: exactly buildSnapshotData's bytes
//                          (varuint count, then count × (bytes key, bytes value)) at `index`
//   <cell>.log             committed Raft log entries (fromIndex..toIndex] of an incremental:
//                          a sequence of (varuint length, log record), each record CRC-sealed
//                          as in the node's log store (shared/codec encodeLogRecord)
//
// Every cell of a backup has exactly one item: a snapshot (full backups, and incrementals that
// fell back because the log after the base was compacted) or a log segment continuing the
// base's item of the same cell.

import { z } from 'zod';
import { decodeLogRecord, encodeLogRecord } from '../raft/codec.js';
import { BinaryReader, BinaryWriter } from '../../shared/codec/index.js';
import type { Entry } from '../raft/types.js';
import { appliedKey, decodeAppliedState, decodeCellEntryPayload } from '../storage/records.js';
import { BackupError } from './errors.js';

export const FORMAT = 'cellkv-backup';
export const FORMAT_VERSION = 1;
export const MANIFEST_FILE = 'manifest.json';
/** Bounds on what a manifest may describe (a hostile or damaged file must not blow up memory). */
export const MAX_CELLS = 10_000;

const Hex = z.string().regex(/^([0-9a-f]{2})*$/);
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/);
const Index = z.number().int().min(0);
const FileName = z.string().regex(/^[A-Za-z0-9._-]{1,200}$/).refine((s) => !s.startsWith('.'), 'no hidden file names');

const FileRef = z.object({ file: FileName, bytes: z.number().int().min(0), sha256: Sha256 });

export const SnapshotItemSchema = FileRef.extend({
  type: z.literal('snapshot'),
  index: Index,
  term: Index,
  /** State-machine pairs in the file. */
  pairs: z.number().int().min(0),
  /** When the replica's state was pinned (its clock): every entry in it was proposed before. */
  capturedAtMs: z.number().int().min(0),
  /** The replica that served it. */
  node: z.string(),
  /** Set on an incremental that could not continue from the log: why it took a snapshot. */
  fallback: z.string().optional(),
});

export const LogItemSchema = FileRef.extend({
  type: z.literal('log'),
  /** Entries fromIndex..toIndex (inclusive); toIndex = fromIndex - 1 when nothing was new. */
  fromIndex: Index,
  toIndex: Index,
  /** Term of the entry at toIndex (of the base item's end when empty). */
  term: Index,
  entries: z.number().int().min(0),
  /** Leader proposal times (ms) of the first and last timestamped entries; null: none. */
  firstTimeMs: z.number().int().nullable(),
  lastTimeMs: z.number().int().nullable(),
  node: z.string(),
});

export const CellItemSchema = z.discriminatedUnion('type', [SnapshotItemSchema, LogItemSchema]);

export const CellBackupSchema = z.object({
  cell: z.string().min(1).max(255),
  /** Namespaced key range, hex (end null = unbounded; the meta cell's is '' / ''). */
  start: Hex,
  end: Hex.nullable(),
  epoch: z.number().int().min(0),
  item: CellItemSchema,
});

export const ManifestSchema = z.object({
  format: z.literal(FORMAT),
  version: z.literal(FORMAT_VERSION),
  backupId: z.string().regex(/^[0-9a-f-]{36}$/),
  clusterId: z.string().min(1).max(128),
  kind: z.enum(['full', 'incremental']),
  createdAt: z.iso.datetime(),
  startedAtMs: z.number().int(),
  finishedAtMs: z.number().int(),
  /** The backup this one builds on: path relative to this directory, id, manifest digest. */
  base: z.object({ path: z.string().min(1), backupId: z.string(), manifestSha256: Sha256 }).nullable(),
  /** The source cluster's nodes (informational; a restore names its own). */
  nodes: z.array(z.object({ id: z.string(), az: z.string() })),
  cells: z.array(CellBackupSchema).min(1).max(MAX_CELLS),
  totalBytes: z.number().int().min(0),
});

export type Manifest = z.infer<typeof ManifestSchema>;
export type CellBackup = z.infer<typeof CellBackupSchema>;
export type CellItem = z.infer<typeof CellItemSchema>;
export type SnapshotItem = z.infer<typeof SnapshotItemSchema>;
export type LogItem = z.infer<typeof LogItemSchema>;

/** Index and term a cell's item ends at (what an incremental continues from). */
export function itemEnd(item: CellItem): { index: number; term: number } {
  return item.type === 'snapshot' ? { index: item.index, term: item.term } : { index: item.toIndex, term: item.term };
}

export function parseManifest(text: string, where: string): Manifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new BackupError('BACKUP_CORRUPT', `${where}: not JSON (${(e as Error).message})`);
  }
  const parsed = ManifestSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BackupError('BACKUP_CORRUPT', `${where}: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid manifest'}`);
  }
  const names = new Set<string>();
  for (const c of parsed.data.cells) {
    if (names.has(c.cell)) throw new BackupError('BACKUP_CORRUPT', `${where}: cell ${c.cell} listed twice`);
    names.add(c.cell);
  }
  return parsed.data;
}

/** Safe file names for a cell's items (cell ids are [a-z0-9-] in practice; others are hex-escaped). */
export function cellFileName(cell: string, type: CellItem['type']): string {
  const safe = /^[a-z0-9-]{1,64}$/.test(cell) ? cell : `x${Buffer.from(cell).toString('hex').slice(0, 120)}`;
  return `${safe}.${type}`;
}

// ------------------------------------------------------------------ snapshot files

export interface SnapshotSummary {
  readonly pairs: number;
  /** The applied index recorded inside the snapshot (its applied-state pair). */
  readonly appliedIndex: number;
}

/** Decodes a snapshot file fully (every pair) and reads its applied index; throws BACKUP_CORRUPT. */
export function decodeSnapshotFile(cellId: string, data: Uint8Array, where: string): SnapshotSummary {
  const applied = appliedKey(cellId);
  let appliedIndex: number | null = null;
  try {
    const rd = new BinaryReader(data);
    const n = rd.varuint();
    for (let i = 0; i < n; i++) {
      const k = rd.bytes();
      const v = rd.bytes();
      if (k.length === applied.length && Buffer.compare(k, applied) === 0) appliedIndex = decodeAppliedState(v).index;
    }
    rd.expectEnd();
    if (appliedIndex === null) throw new Error('no applied-state record');
    return { pairs: n, appliedIndex };
  } catch (e) {
    throw new BackupError('BACKUP_CORRUPT', `${where}: snapshot does not decode: ${(e as Error).message}`);
  }
}

// ------------------------------------------------------------------ log segment files

/** Frames log entries as a segment (appendable: segments concatenate). */
export function encodeLogFrames(entries: readonly Entry[]): Uint8Array {
  const w = new BinaryWriter();
  for (const e of entries) w.bytes(encodeLogRecord(e));
  return w.finish();
}

/** Decodes a log segment; every record's CRC is checked. Throws BACKUP_CORRUPT. */
export function decodeLogFrames(data: Uint8Array, where: string): Entry[] {
  const out: Entry[] = [];
  try {
    const rd = new BinaryReader(data);
    while (rd.remaining() > 0) out.push(decodeLogRecord(rd.bytes().slice()));
  } catch (e) {
    throw new BackupError('BACKUP_CORRUPT', `${where}: log record ${out.length + 1} does not decode: ${(e as Error).message}`);
  }
  return out;
}

/** Checks a decoded segment against its manifest item: contiguous indexes, terms, count. */
export function checkLogSegment(entries: readonly Entry[], item: LogItem, where: string): void {
  const fail = (m: string) => {
    throw new BackupError('BACKUP_CORRUPT', `${where}: ${m}`);
  };
  if (entries.length !== item.entries) fail(`holds ${entries.length} entries, the manifest says ${item.entries}`);
  if (item.toIndex - item.fromIndex + 1 !== item.entries) fail(`range ${item.fromIndex}..${item.toIndex} does not match ${item.entries} entries`);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    if (e.index !== item.fromIndex + i) fail(`entry ${i + 1} has index ${e.index}, expected ${item.fromIndex + i}`);
    if (i > 0 && e.term < entries[i - 1]!.term) fail(`entry ${e.index} has a term below its predecessor`);
  }
  const last = entries[entries.length - 1];
  if (last && last.term !== item.term) fail(`last entry has term ${last.term}, the manifest says ${item.term}`);
}

/**
 * The leader's proposal time of an entry: the latest `nowMs` of its write and expire commands
 * (stamped by the leader when it accepted them, replicated inside the entry). Null for entries
 * without one (no-ops, membership changes, meta documents).
 */
export function entryTimeMs(e: Entry): number | null {
  if (e.kind !== 'normal' || e.data.length === 0) return null;
  let t: number | null = null;
  for (const cmd of decodeCellEntryPayload(e.data).commands) {
    if (cmd.kind === 'write' || cmd.kind === 'expire') t = t === null ? cmd.nowMs : Math.max(t, cmd.nowMs);
    else if (cmd.kind === 'meta') {
      // Liveness heartbeats carry their sender's clock: a usable time for the meta cell.
      const m = /^\{"op":"heartbeat".*"atMs":(\d+)/.exec(cmd.json);
      if (m) t = t === null ? Number(m[1]) : Math.max(t, Number(m[1]));
    }
  }
  return t;
}
