// Crash-safe files of a backup directory: each file is written to a hidden temp name, fsynced,
// renamed into place, and the directory fsynced, so a name is only ever seen complete. The
// manifest goes last the same way: a directory without manifest.json is not a backup.

import { createHash, randomBytes } from 'node:crypto';
import { open, rename, rm, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';

export class AtomicFile {
  private readonly hash = createHash('sha256');
  private written = 0;
  private closed = false;

  private constructor(
    private readonly fh: FileHandle,
    private readonly tmpPath: string,
    readonly path: string,
  ) {}

  static async create(dir: string, name: string): Promise<AtomicFile> {
    const tmpPath = join(dir, `.${name}.tmp-${randomBytes(4).toString('hex')}`);
    return new AtomicFile(await open(tmpPath, 'wx'), tmpPath, join(dir, name));
  }

  async write(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0) return;
    this.hash.update(bytes);
    this.written += bytes.length;
    await this.fh.write(bytes);
  }

  get bytes(): number {
    return this.written;
  }

  /** Makes the file durable under its final name; returns its size and SHA-256. */
  async commit(): Promise<{ bytes: number; sha256: string }> {
    await this.fh.sync();
    await this.fh.close();
    this.closed = true;
    await rename(this.tmpPath, this.path);
    await syncDir(join(this.path, '..'));
    return { bytes: this.written, sha256: this.hash.digest('hex') };
  }

  /** Drops the temp file (after a failure). */
  async abort(): Promise<void> {
    if (!this.closed) await this.fh.close().catch(() => undefined);
    this.closed = true;
    await rm(this.tmpPath, { force: true });
  }
}

export async function writeFileAtomic(dir: string, name: string, bytes: Uint8Array): Promise<{ bytes: number; sha256: string }> {
  const f = await AtomicFile.create(dir, name);
  try {
    await f.write(bytes);
    return await f.commit();
  } catch (e) {
    await f.abort();
    throw e;
  }
}

/** fsync of a directory, so a rename inside it survives a crash (best effort where unsupported). */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync().catch(() => undefined);
  } finally {
    await fh.close();
  }
}

export async function sha256File(path: string): Promise<{ bytes: number; sha256: string; data: Uint8Array }> {
  const data = new Uint8Array(await readFile(path));
  return { bytes: data.length, sha256: createHash('sha256').update(data).digest('hex'), data };
}
