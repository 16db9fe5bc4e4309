// `cellkv verify DIR`: a backup is trusted only if every file is there with the size and
// SHA-256 the manifest names, decodes completely (every snapshot pair, every log record's CRC)
// and agrees with the manifest (applied index, entry range, terms), and, for an incremental,
// its base chain verifies the same way and each cell continues exactly where its base ended.

import { resolve, join } from 'node:path';
import { BackupError } from './errors.js';
import { loadManifest } from './backup.js';
import { checkLogSegment, decodeLogFrames, decodeSnapshotFile, itemEnd, type Manifest } from './format.js';
import { sha256File } from './files.js';

export interface VerifyProblem {
  /** The file (or manifest) at fault, as a path. */
  readonly file: string;
  readonly code: 'BACKUP_INCOMPLETE' | 'BACKUP_CORRUPT' | 'BACKUP_CHAIN_BROKEN';
  readonly message: string;
}

export interface VerifiedBackup {
  readonly dir: string;
  readonly manifest: Manifest;
}

export interface VerifyReport {
  readonly ok: boolean;
  readonly problems: readonly VerifyProblem[];
  /** The chain, oldest (the full backup) first; only the backups whose manifests loaded. */
  readonly chain: readonly VerifiedBackup[];
  readonly files: number;
  readonly bytes: number;
}

/** Longest chain followed (a bound: a cycle or a runaway chain stops here). */
export const MAX_CHAIN = 1000;

export interface VerifyProgress {
  file(path: string, bytes: number): void;
}

function asProblem(e: unknown, file: string): VerifyProblem {
  if (e instanceof BackupError && (e.code === 'BACKUP_CORRUPT' || e.code === 'BACKUP_INCOMPLETE' || e.code === 'BACKUP_CHAIN_BROKEN')) {
    return { file, code: e.code, message: e.detail };
  }
  return { file, code: 'BACKUP_CORRUPT', message: (e as Error).message };
}

/** Checks every file of one backup against its manifest. */
async function verifyFiles(dir: string, m: Manifest, problems: VerifyProblem[], progress: VerifyProgress | undefined): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const c of m.cells) {
    const path = join(dir, c.item.file);
    let got: { bytes: number; sha256: string; data: Uint8Array };
    try {
      got = await sha256File(path);
    } catch {
      problems.push({ file: path, code: 'BACKUP_INCOMPLETE', message: `missing (cell ${c.cell}); the backup cannot be restored` });
      continue;
    }
    files++;
    bytes += got.bytes;
    progress?.file(path, got.bytes);
    if (got.bytes !== c.item.bytes) {
      problems.push({ file: path, code: 'BACKUP_CORRUPT', message: `${got.bytes} bytes, the manifest says ${c.item.bytes}` });
      continue;
    }
    if (got.sha256 !== c.item.sha256) {
      problems.push({ file: path, code: 'BACKUP_CORRUPT', message: `SHA-256 ${got.sha256} differs from the manifest's ${c.item.sha256}` });
      continue;
    }
    try {
      if (c.item.type === 'snapshot') {
        const s = decodeSnapshotFile(c.cell, got.data, path);
        if (s.pairs !== c.item.pairs) throw new BackupError('BACKUP_CORRUPT', `${s.pairs} pairs, the manifest says ${c.item.pairs}`);
        if (s.appliedIndex !== c.item.index) throw new BackupError('BACKUP_CORRUPT', `state is at index ${s.appliedIndex}, the manifest says ${c.item.index}`);
      } else {
        checkLogSegment(decodeLogFrames(got.data, path), c.item, path);
      }
    } catch (e) {
      problems.push(asProblem(e, path));
    }
  }
  return { files, bytes };
}

/** Each cell of `m` must continue its base's item: a log right after it, or a snapshot. */
function checkContinuity(dir: string, m: Manifest, base: Manifest, problems: VerifyProblem[]): void {
  for (const c of m.cells) {
    const b = base.cells.find((x) => x.cell === c.cell);
    const file = join(dir, c.item.file);
    if (c.item.type === 'snapshot') {
      // A fallback snapshot stands on its own, but a chain never goes back in a cell's log.
      if (b && c.item.index < itemEnd(b.item).index) {
        problems.push({ file, code: 'BACKUP_CHAIN_BROKEN', message: `snapshot at index ${c.item.index} is older than the base's ${itemEnd(b.item).index}` });
      }
      continue;
    }
    if (!b) {
      problems.push({ file, code: 'BACKUP_CHAIN_BROKEN', message: `cell ${c.cell} has a log segment but is not in the base backup` });
      continue;
    }
    const end = itemEnd(b.item);
    if (c.item.fromIndex !== end.index + 1) {
      problems.push({ file, code: 'BACKUP_CHAIN_BROKEN', message: `starts at index ${c.item.fromIndex}, the base ends at ${end.index}` });
    } else if (c.item.entries === 0 && c.item.term !== end.term) {
      problems.push({ file, code: 'BACKUP_CHAIN_BROKEN', message: `empty segment with term ${c.item.term}, the base ends at term ${end.term}` });
    }
  }
}

export async function verifyBackup(dirIn: string, progress?: VerifyProgress): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  const chain: VerifiedBackup[] = [];
  let files = 0;
  let bytes = 0;
  let dir = resolve(dirIn);
  let expect: { backupId: string; manifestSha256: string; from: string } | null = null;
  const seen = new Set<string>();
  for (let depth = 0; depth < MAX_CHAIN; depth++) {
    const manifestPath = join(dir, 'manifest.json');
    if (seen.has(dir)) {
      problems.push({ file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: 'the chain of bases loops' });
      break;
    }
    seen.add(dir);
    let loaded: Awaited<ReturnType<typeof loadManifest>>;
    try {
      loaded = await loadManifest(dir);
    } catch (e) {
      const p = asProblem(e, manifestPath);
      // A missing base is a broken chain, named from the backup that needs it.
      problems.push(expect ? { file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: `base of ${expect.from} unusable: ${p.message}` } : p);
      break;
    }
    if (expect && (loaded.manifest.backupId !== expect.backupId || loaded.sha256 !== expect.manifestSha256)) {
      problems.push({ file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: `is not the base ${expect.from} was built on (backup id or manifest digest differ)` });
      break;
    }
    if (chain.length > 0 && loaded.manifest.clusterId !== chain[0]!.manifest.clusterId) {
      problems.push({ file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: `is of cluster ${loaded.manifest.clusterId}, not ${chain[0]!.manifest.clusterId}` });
    }
    const counted = await verifyFiles(dir, loaded.manifest, problems, progress);
    files += counted.files;
    bytes += counted.bytes;
    chain.unshift({ dir, manifest: loaded.manifest });
    const m = loaded.manifest;
    if (m.base === null) {
      if (m.kind !== 'full') problems.push({ file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: 'incremental backup without a base' });
      else if (m.cells.some((c) => c.item.type !== 'snapshot')) problems.push({ file: manifestPath, code: 'BACKUP_CORRUPT', message: 'full backup with log segments' });
      break;
    }
    expect = { backupId: m.base.backupId, manifestSha256: m.base.manifestSha256, from: manifestPath };
    dir = resolve(dir, m.base.path);
    if (depth === MAX_CHAIN - 1) problems.push({ file: manifestPath, code: 'BACKUP_CHAIN_BROKEN', message: `chain longer than ${MAX_CHAIN}` });
  }
  for (let i = 1; i < chain.length; i++) checkContinuity(chain[i]!.dir, chain[i]!.manifest, chain[i - 1]!.manifest, problems);
  return { ok: problems.length === 0, problems, chain, files, bytes };
}
