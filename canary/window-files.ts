// Window histories the checker could not pass, written as `cellkv-history/1` files that
// `npm run lincheck -- FILE` re-decides. The directory is bounded: past `maxFiles`, the
// oldest canary files are removed.

import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HISTORY_FORMAT, formatHistory } from '../shared/lincheck/index.js';
import type { WindowHistory } from './window.js';

const FILE_RE = /^(violation|unknown)-[0-9]{13}-[0-9]{4}-.+\.jsonl$/;

export interface WindowFileInfo {
  readonly runId: string;
  readonly verdict: 'violation' | 'unknown';
  /** What the checker said (culprit, or why it ran out of budget). */
  readonly detail: string;
}

export class WindowFiles {
  private seq = 0;

  constructor(
    readonly dir: string,
    private readonly maxFiles: number,
  ) {
    if (!Number.isInteger(maxFiles) || maxFiles < 1) throw new RangeError('maxFiles must be a whole number >= 1');
  }

  /** Writes the window and prunes old files; returns the file's path. */
  async write(w: WindowHistory, info: WindowFileInfo): Promise<string> {
    await mkdir(this.dir, { recursive: true });
    const safeKey = w.key.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
    const seq = String(this.seq++ % 10_000).padStart(4, '0');
    const path = join(this.dir, `${info.verdict}-${Date.now()}-${seq}-${safeKey}-w${w.index}.jsonl`);
    const header = {
      format: HISTORY_FORMAT,
      command: `npm run lincheck -- ${path}`,
      canary: { runId: info.runId, key: w.key, window: w.index, verdict: info.verdict, detail: info.detail, writtenAt: new Date().toISOString() },
    } as const;
    await writeFile(path, formatHistory(header, w.records));
    await this.prune();
    return path;
  }

  private async prune(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => FILE_RE.test(n));
    // Names sort by time: verdict prefix aside, the millisecond stamp and sequence come first.
    names.sort((a, b) => a.slice(a.indexOf('-') + 1).localeCompare(b.slice(b.indexOf('-') + 1)));
    for (const n of names.slice(0, Math.max(0, names.length - this.maxFiles))) await rm(join(this.dir, n), { force: true });
  }
}
