// Disk usage of a node's data directory for /metrics: bytes and files under it (LevelDB tables,
// logs, snapshots) and the free space of its filesystem, read at scrape time only (nothing on
// the request path). The walk is bounded in depth and entries, and cached briefly so several
// scrapers in one interval cost one walk.

import { readdir, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskUsage {
  /** Bytes of the regular files under the directory (up to the walk's bounds). */
  readonly bytes: number;
  readonly files: number;
  /** LevelDB table files (`.ldb` / `.sst`): a growing count means compaction falls behind. */
  readonly sstFiles: number;
  /** Filesystem space available to the process, and its size. */
  readonly fsFreeBytes: number;
  readonly fsSizeBytes: number;
  /** The walk stopped at a bound: bytes and files are a lower bound. */
  readonly truncated: boolean;
}

export interface DiskUsageLimits {
  readonly maxDepth: number;
  readonly maxEntries: number;
}

const DEFAULT_LIMITS: DiskUsageLimits = { maxDepth: 4, maxEntries: 100_000 };

export async function measureDiskUsage(dir: string, limits: DiskUsageLimits = DEFAULT_LIMITS): Promise<DiskUsage> {
  let bytes = 0;
  let files = 0;
  let sstFiles = 0;
  let entries = 0;
  let truncated = false;
  const walk = async (d: string, depth: number): Promise<void> => {
    // A file vanishing mid-walk (LevelDB compaction) is normal: skip it.
    const list = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const e of list) {
      if (++entries > limits.maxEntries) {
        truncated = true;
        return;
      }
      const p = join(d, e.name);
      if (e.isDirectory()) {
        if (depth < limits.maxDepth) await walk(p, depth + 1);
        else truncated = true;
      } else if (e.isFile()) {
        const s = await stat(p).catch(() => null);
        if (!s) continue;
        bytes += s.size;
        files++;
        if (e.name.endsWith('.ldb') || e.name.endsWith('.sst')) sstFiles++;
      }
    }
  };
  await walk(dir, 0);
  const fs = await statfs(dir);
  return { bytes, files, sstFiles, fsFreeBytes: fs.bavail * fs.bsize, fsSizeBytes: fs.blocks * fs.bsize, truncated };
}

/** measureDiskUsage at most once per `maxAgeMs`; concurrent callers share one walk. */
export class CachedDiskUsage {
  private last: { at: number; value: Promise<DiskUsage> } | null = null;

  constructor(
    private readonly dir: string,
    private readonly maxAgeMs = 5000,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  get(): Promise<DiskUsage> {
    const now = this.clock();
    if (this.last && now - this.last.at < this.maxAgeMs) return this.last.value;
    const value = measureDiskUsage(this.dir);
    this.last = { at: now, value };
    // A failed measurement is not cached: the next scrape tries again.
    value.catch(() => {
      if (this.last?.value === value) this.last = null;
    });
    return value;
  }
}
