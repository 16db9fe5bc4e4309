// Checksummed durable records: [u32 LE CRC-32C of the body][body], so a torn or corrupted
// write is detected on read instead of being replayed as different data.

import { BinaryReader, BinaryWriter, CodecError } from './binary.js';
import { crc32c } from './crc32.js';

/** The body of a [crc][body] record (a view of the input); `what` names the record in errors.
 * Throws CodecError 'CODEC_CHECKSUM' on a checksum mismatch, 'CODEC_MALFORMED' otherwise. */
export function openChecksummedRecord(record: Uint8Array, what: string): Uint8Array {
  if (!(record instanceof Uint8Array) || record.length < 4) {
    throw new CodecError('CODEC_MALFORMED', `malformed input: ${what} shorter than its header`);
  }
  const r = new BinaryReader(record);
  const stored = r.u32();
  const body = r.raw(r.remaining());
  if (crc32c(body) !== stored) throw new CodecError('CODEC_CHECKSUM', `${what} checksum mismatch (torn or corrupt write)`);
  return body;
}

/** Frames any body as [u32 LE CRC-32C of body][body] (for other durable records). */
export function sealChecksum(body: Uint8Array): Uint8Array {
  const w = new BinaryWriter(4 + body.length);
  w.u32(crc32c(body));
  w.raw(body);
  return w.finish();
}

/** The body of a sealChecksum record (a view of the input); throws like openChecksummedRecord. */
export function openChecksum(record: Uint8Array): Uint8Array {
  return openChecksummedRecord(record, 'checksummed record');
}
