// Online backup of every cell (the meta cell included), full or incremental.
//
// Full: each cell's state-machine snapshot at an applied index, asked of its leader (or, when
// that fails, any other replica: every replica's snapshot is consistent at its own applied
// index). Incremental: the committed log entries after the base backup's index for each cell,
// in bounded pages; a cell whose log was compacted past that point gets a snapshot instead
// (recorded as `fallback`, and reported). Files are written atomically, the manifest last.

import { mkdir, open, readFile, stat } from 'node:fs/promises';
import { relative, resolve, join } from 'node:path';
import { createHash, randomUUID } from 'node:crypto';
import { BinaryReader } from '../../shared/codec/index.js';
import type { DirectoryView } from '../../shared/directory.js';
import { META_CELL_ID } from '../../shared/directory.js';
import { BackupError } from './errors.js';
import { z } from 'zod';
import { fetchBlob, parseBlobRef, parseChunkReply, parseReply, type BlobRef, type ChunkReply } from './chunks.js';
import { AtomicFile, writeFileAtomic } from './files.js';
import {
  FORMAT,
  FORMAT_VERSION,
  MANIFEST_FILE,
  cellFileName,
  decodeLogFrames,
  entryTimeMs,
  itemEnd,
  parseManifest,
  type CellBackup,
  type CellItem,
  type LogItem,
  type Manifest,
  type SnapshotItem,
} from './format.js';

/** What the backup needs from the cluster: the directory and admin requests to one node. */
export interface ClusterLink {
  directory(): Promise<DirectoryView>;
  /** The node's JSON answer (ok or not); throws only when nothing answered. */
  adminRequest(node: string, body: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>>;
}

/** Progress of a backup or restore (the CLI draws a bar on stderr). */
export interface BackupProgress {
  line(msg: string): void;
  bytes(done: number, label: string): void;
}

export const silentProgress: BackupProgress = { line: () => undefined, bytes: () => undefined };

export interface BackupOptions {
  readonly link: ClusterLink;
  readonly dir: string;
  /** Directory of the backup to build on (incremental), or null for a full backup. */
  readonly base: string | null;
  readonly clusterId?: string;
  readonly progress?: BackupProgress;
  /** Per admin request; snapshot builds of big cells take a while. */
  readonly timeoutMs?: number;
}

export interface BackupResult {
  readonly manifest: Manifest;
  readonly dir: string;
  /** Cells of an incremental that needed a snapshot, with why. */
  readonly fallbacks: readonly { cell: string; reason: string }[];
}

const SNAPSHOT_TIMEOUT_MS = 120_000;
const PAGE_TIMEOUT_MS = 30_000;
/** Pages per cell at most (20,000 entries each): a bound, far above any real backlog. */
const MAX_LOG_PAGES = 100_000;

export async function loadManifest(dir: string): Promise<{ manifest: Manifest; sha256: string }> {
  let text: string;
  try {
    text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
  } catch {
    throw new BackupError('BACKUP_INCOMPLETE', `${join(dir, MANIFEST_FILE)} is missing: not a complete backup (a crashed backup leaves no manifest); use another one`);
  }
  return { manifest: parseManifest(text, join(dir, MANIFEST_FILE)), sha256: createHash('sha256').update(text).digest('hex') };
}

function fail(r: Record<string, unknown>, what: string): never {
  throw new BackupError('UNAVAILABLE', `${what}: ${String(r['code'] ?? 'ERROR')}: ${String(r['message'] ?? 'failed')}`);
}

const Range = { start: z.string(), end: z.string().nullable(), epoch: z.number().int() };
const SnapshotReply = z.object({ index: z.number().int().min(0), term: z.number().int().min(0), capturedAtMs: z.number().int(), ...Range });
const LogPageReply = z.object({ commit: z.number().int().min(0), entries: z.number().int().min(0), last: z.number().int(), ...Range });

class CellFetcher {
  private done = 0;

  constructor(
    private readonly link: ClusterLink,
    private readonly dir: string,
    private readonly progress: BackupProgress,
    private readonly timeoutMs: number,
  ) {}

  get bytesDone(): number {
    return this.done;
  }

  private chunker(node: string) {
    return async (blob: string, offset: number): Promise<ChunkReply> => {
      const r = await this.link.adminRequest(node, { op: 'backupChunk', blob, offset }, PAGE_TIMEOUT_MS);
      if (r['ok'] !== true) fail(r, `chunk of ${blob} from ${node}`);
      return parseChunkReply(r, `chunk of ${blob} from ${node}`);
    };
  }

  private async fetchInto(node: string, ref: BlobRef, what: string, file: AtomicFile, onBytes?: (b: Uint8Array) => void): Promise<void> {
    try {
      await fetchBlob(ref, what, this.chunker(node), async (b) => {
        onBytes?.(b);
        await file.write(b);
        this.done += b.length;
        this.progress.bytes(this.done, what);
      });
    } finally {
      if (ref.blob !== null) await this.link.adminRequest(node, { op: 'backupEnd', blob: ref.blob }, PAGE_TIMEOUT_MS).catch(() => undefined);
    }
  }

  async snapshot(cell: string, node: string, fallback: string | undefined): Promise<{ item: SnapshotItem; range: Pick<CellBackup, 'start' | 'end' | 'epoch'> }> {
    const raw = await this.link.adminRequest(node, { op: 'backupSnapshot', cell }, this.timeoutMs);
    if (raw['ok'] !== true) fail(raw, `snapshot of cell ${cell} on ${node}`);
    const r = parseReply(SnapshotReply, raw, `snapshot of cell ${cell} on ${node}`);
    const name = cellFileName(cell, 'snapshot');
    const file = await AtomicFile.create(this.dir, name);
    try {
      await this.fetchInto(node, parseBlobRef(raw, `snapshot of cell ${cell} on ${node}`), `${cell} snapshot`, file);
      const { bytes, sha256 } = await file.commit();
      const pairs = await countPairs(join(this.dir, name));
      const item: SnapshotItem = {
        type: 'snapshot',
        file: name,
        bytes,
        sha256,
        index: r.index,
        term: r.term,
        pairs,
        capturedAtMs: r.capturedAtMs,
        node,
        ...(fallback !== undefined ? { fallback } : {}),
      };
      return { item, range: { start: r.start, end: r.end, epoch: r.epoch } };
    } catch (e) {
      await file.abort();
      throw e;
    }
  }

  /** The log after `from - 1` up to the node's commit index; null with a reason when unavailable. */
  async log(cell: string, node: string, from: number, prevTerm: number): Promise<{ item: LogItem; range: Pick<CellBackup, 'start' | 'end' | 'epoch'> } | { reason: string }> {
    const name = cellFileName(cell, 'log');
    const file = await AtomicFile.create(this.dir, name);
    try {
      let next = from;
      let target: number | null = null;
      let entries = 0;
      let term = prevTerm;
      let firstTimeMs: number | null = null;
      let lastTimeMs: number | null = null;
      let range: Pick<CellBackup, 'start' | 'end' | 'epoch'> | null = null;
      for (let page = 0; page < MAX_LOG_PAGES; page++) {
        const r = await this.link.adminRequest(node, { op: 'backupLog', cell, from: next, prevTerm: next === from ? prevTerm : term, ...(target !== null ? { to: target } : {}) }, PAGE_TIMEOUT_MS);
        if (r['ok'] !== true) {
          if (r['code'] === 'LOG_COMPACTED' || r['code'] === 'LOG_MISMATCH') {
            await file.abort();
            return { reason: String(r['message']) };
          }
          fail(r, `log of cell ${cell} on ${node}`);
        }
        const page = parseReply(LogPageReply, r, `log of cell ${cell} on ${node}`);
        // The backup point of this cell: the commit index when the first page was served.
        target ??= page.commit;
        range ??= { start: page.start, end: page.end, epoch: page.epoch };
        if (page.entries === 0) break;
        const chunks: Uint8Array[] = [];
        await this.fetchInto(node, parseBlobRef(r, `log page of ${cell}`), `${cell} log ${next}..${page.last}`, file, (b) => chunks.push(b));
        const decoded = decodeLogFrames(Buffer.concat(chunks), `${cell} log page from ${next}`);
        for (const e of decoded) {
          if (e.index !== next) throw new BackupError('BACKUP_CORRUPT', `${cell}: node ${node} sent entry ${e.index}, expected ${next}`);
          const t = entryTimeMs(e);
          if (t !== null) {
            firstTimeMs ??= t;
            lastTimeMs = Math.max(lastTimeMs ?? t, t);
          }
          term = e.term;
          next++;
          entries++;
        }
        if (next > target) break;
      }
      const { bytes, sha256 } = await file.commit();
      const item: LogItem = { type: 'log', file: name, bytes, sha256, fromIndex: from, toIndex: next - 1, term, entries, firstTimeMs, lastTimeMs, node };
      return { item, range: range! };
    } catch (e) {
      await file.abort();
      throw e;
    }
  }
}

/** Counts the pairs of a snapshot file (its leading varuint). */
async function countPairs(path: string): Promise<number> {
  const fh = await open(path, 'r');
  try {
    const head = new Uint8Array(10);
    const { bytesRead } = await fh.read(head, 0, 10, 0);
    return bytesRead === 0 ? 0 : new BinaryReader(head.subarray(0, bytesRead)).varuint();
  } finally {
    await fh.close();
  }
}

/** Replicas of a cell to ask, its leader first. */
function candidates(dir: DirectoryView, cell: string): string[] {
  const desc = dir.cells.find((c) => c.id === cell);
  const replicas = cell === META_CELL_ID ? dir.nodes.map((n) => n.id) : (desc?.replicas.map((r) => r.node) ?? []);
  const leader = dir.leaders[cell];
  return [...new Set([...(leader ? [leader] : []), ...replicas])];
}

export async function runBackup(opts: BackupOptions): Promise<BackupResult> {
  const progress = opts.progress ?? silentProgress;
  const dir = resolve(opts.dir);
  const startedAtMs = Date.now();
  await mkdir(dir, { recursive: true });
  if (await stat(join(dir, MANIFEST_FILE)).then(() => true, () => false)) {
    throw new BackupError('BACKUP_EXISTS', `${dir} already holds a complete backup; choose a new directory`);
  }
  let base: { manifest: Manifest; sha256: string; dir: string } | null = null;
  if (opts.base !== null) {
    const baseDir = resolve(opts.base);
    if (baseDir === dir) throw new BackupError('INVALID_ARGUMENT', '--base must be another directory than --to');
    base = { ...(await loadManifest(baseDir)), dir: baseDir };
  }
  const clusterId = opts.clusterId ?? base?.manifest.clusterId ?? 'cellkv';
  if (base && base.manifest.clusterId !== clusterId) {
    throw new BackupError('BACKUP_CHAIN_BROKEN', `base backup is of cluster ${base.manifest.clusterId}, not ${clusterId}`);
  }
  let directory: DirectoryView;
  try {
    directory = await opts.link.directory();
  } catch (e) {
    throw new BackupError('UNAVAILABLE', `cannot read the directory: ${(e as Error).message}; is the cluster running?`);
  }
  const cells = [META_CELL_ID, ...directory.cells.map((c) => c.id)];
  const fetcher = new CellFetcher(opts.link, dir, progress, opts.timeoutMs ?? SNAPSHOT_TIMEOUT_MS);
  const out: CellBackup[] = [];
  const fallbacks: { cell: string; reason: string }[] = [];
  progress.line(`${base ? 'incremental' : 'full'} backup of ${cells.length} cells to ${dir}${base ? ` on ${base.dir}` : ''}`);
  for (const cell of cells) {
    const nodes = candidates(directory, cell);
    if (nodes.length === 0) throw new BackupError('UNAVAILABLE', `cell ${cell} has no replicas in the directory`);
    const baseCell = base?.manifest.cells.find((c) => c.cell === cell);
    let fallback: string | undefined = base && !baseCell ? 'cell is not in the base backup' : undefined;
    let done: { item: CellItem; range: Pick<CellBackup, 'start' | 'end' | 'epoch'> } | null = null;
    const errors: string[] = [];
    const failed = (node: string, e: unknown) => {
      errors.push(`${node}: ${(e as Error).message}`);
      progress.line(`cell ${cell}: ${node} did not serve it (${(e as Error).message}); trying the next replica`);
    };
    if (baseCell) {
      const end = itemEnd(baseCell.item);
      for (const node of nodes) {
        try {
          const got = await fetcher.log(cell, node, end.index + 1, end.term);
          if ('reason' in got) {
            fallback = got.reason;
            continue; // another replica may still hold the entries
          }
          done = got;
          break;
        } catch (e) {
          failed(node, e);
        }
      }
      if (!done && fallback === undefined) fallback = `no replica served the log after index ${end.index}: ${errors.join('; ')}`;
      if (!done) progress.line(`cell ${cell}: no log after index ${end.index} (${fallback}); taking a full snapshot instead`);
    }
    if (!done) {
      for (const node of nodes) {
        try {
          done = await fetcher.snapshot(cell, node, fallback);
          break;
        } catch (e) {
          failed(node, e);
        }
      }
    }
    if (!done) throw new BackupError('UNAVAILABLE', `no replica of cell ${cell} served a backup: ${errors.join('; ')}`);
    if (fallback !== undefined && done.item.type === 'snapshot') fallbacks.push({ cell, reason: fallback });
    out.push({ cell, ...done.range, item: done.item });
    const end = itemEnd(done.item);
    progress.line(`cell ${cell}: ${done.item.type} up to index ${end.index} (term ${end.term}) from ${done.item.node}, ${done.item.bytes} bytes`);
  }
  const finishedAtMs = Date.now();
  const manifest: Manifest = {
    format: FORMAT,
    version: FORMAT_VERSION,
    backupId: randomUUID(),
    clusterId,
    kind: base ? 'incremental' : 'full',
    createdAt: new Date(startedAtMs).toISOString(),
    startedAtMs,
    finishedAtMs,
    base: base ? { path: relative(dir, base.dir), backupId: base.manifest.backupId, manifestSha256: base.sha256 } : null,
    nodes: directory.nodes.map((n) => ({ id: n.id, az: n.az })),
    cells: out,
    totalBytes: out.reduce((n, c) => n + c.item.bytes, 0),
  };
  // Last, and atomically: from now on the directory is a complete backup.
  await writeFileAtomic(dir, MANIFEST_FILE, new TextEncoder().encode(JSON.stringify(manifest, null, 2) + '\n'));
  return { manifest, dir, fallbacks };
}
