// Client side of the node's chunked blobs (cell/node/backup-admin.ts): a snapshot or log page
// is fetched in chunks, each checked to continue exactly where the previous one ended, the
// total bounded by the size the node announced, and the whole checked against its SHA-256.

import { createHash } from 'node:crypto';
import { z } from 'zod';
import { BackupError } from './errors.js';

const BlobRefSchema = z.object({
  blob: z.string().nullable(),
  bytes: z.number().int().min(0),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  inline: z.string().nullable(),
});

const ChunkReplySchema = z.object({ offset: z.number().int().min(0), next: z.number().int().min(0), done: z.boolean(), data: z.string() });

export type BlobRef = z.infer<typeof BlobRefSchema>;
export type ChunkReply = z.infer<typeof ChunkReplySchema>;

/** Checks the shape of a node's reply (a damaged or foreign reply is BACKUP_CORRUPT, not a crash). */
export function parseReply<T>(schema: z.ZodType<T>, r: unknown, what: string): T {
  const p = schema.safeParse(r);
  if (!p.success) throw new BackupError('BACKUP_CORRUPT', `${what}: unexpected reply (${p.error.issues[0]?.path.join('.') ?? ''}: ${p.error.issues[0]?.message ?? 'invalid'})`);
  return p.data;
}

export const parseBlobRef = (r: unknown, what: string): BlobRef => parseReply(BlobRefSchema, r, what);
export const parseChunkReply = (r: unknown, what: string): ChunkReply => parseReply(ChunkReplySchema, r, what);

/** Checks the chunks of one blob as they arrive; `finish` checks the digest. */
export class ChunkAssembler {
  private readonly hash = createHash('sha256');
  private received = 0;

  constructor(
    private readonly ref: Pick<BlobRef, 'bytes' | 'sha256'>,
    private readonly what: string,
  ) {
    if (!Number.isSafeInteger(ref.bytes) || ref.bytes < 0) throw new BackupError('BACKUP_CORRUPT', `${what}: announced size ${ref.bytes} is invalid`);
  }

  get offset(): number {
    return this.received;
  }

  get complete(): boolean {
    return this.received === this.ref.bytes;
  }

  /** Accepts the next chunk and returns its bytes. */
  accept(c: ChunkReply): Uint8Array {
    if (c.offset !== this.received) throw new BackupError('BACKUP_CORRUPT', `${this.what}: chunk at offset ${c.offset}, expected ${this.received}`);
    const bytes = new Uint8Array(Buffer.from(c.data, 'base64'));
    if (c.next !== c.offset + bytes.length) throw new BackupError('BACKUP_CORRUPT', `${this.what}: chunk says it ends at ${c.next} but carries ${bytes.length} bytes from ${c.offset}`);
    if (c.next > this.ref.bytes) throw new BackupError('BACKUP_CORRUPT', `${this.what}: chunk runs past the announced ${this.ref.bytes} bytes`);
    if (bytes.length === 0 && !c.done) throw new BackupError('BACKUP_CORRUPT', `${this.what}: empty chunk before the end`);
    if (c.done !== (c.next === this.ref.bytes)) throw new BackupError('BACKUP_CORRUPT', `${this.what}: end flag disagrees with the size`);
    this.hash.update(bytes);
    this.received = c.next;
    return bytes;
  }

  finish(): void {
    if (!this.complete) throw new BackupError('BACKUP_CORRUPT', `${this.what}: got ${this.received} of ${this.ref.bytes} bytes`);
    const got = this.hash.digest('hex');
    if (got !== this.ref.sha256) throw new BackupError('BACKUP_CORRUPT', `${this.what}: SHA-256 ${got} differs from the node's ${this.ref.sha256} (damaged in transit)`);
  }
}

/** Fetches a blob through `chunk` (one request per chunk), handing each checked piece to `sink`. */
export async function fetchBlob(
  ref: BlobRef,
  what: string,
  chunk: (blob: string, offset: number) => Promise<ChunkReply>,
  sink: (bytes: Uint8Array) => Promise<void>,
): Promise<void> {
  const asm = new ChunkAssembler(ref, what);
  if (ref.inline !== null) {
    const bytes = asm.accept({ offset: 0, next: ref.bytes, done: true, data: ref.inline });
    await sink(bytes);
  } else {
    if (ref.blob === null) throw new BackupError('BACKUP_CORRUPT', `${what}: neither inline bytes nor a blob id`);
    // Bounded: at most one request per byte-chunk the node can serve (1 KiB minimum chunk).
    const maxRequests = Math.ceil(ref.bytes / 1024) + 1;
    for (let i = 0; !asm.complete; i++) {
      if (i > maxRequests) throw new BackupError('INTERNAL', `${what}: too many chunk requests`);
      await sink(asm.accept(await chunk(ref.blob, asm.offset)));
    }
  }
  asm.finish();
}
