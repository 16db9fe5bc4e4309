// Low-level binary encoding shared by the wire (NATS) and disk (LevelDB) formats.
//
// Integers are unsigned LEB128 varints (canonical: the decoder rejects overlong forms), byte
// strings and UTF-8 strings are varint-length-prefixed. The reader treats its input as
// untrusted: every failure is a CodecError, lengths and counts are checked against the bytes
// actually left before anything is allocated, and every loop consumes input, so decoding
// garbage can neither crash the process with another error type, nor balloon memory, nor hang.

import { Buffer } from 'node:buffer';

export type CodecErrorCode =
  /** Decoding: truncated, overlong, out-of-range or otherwise invalid input. */
  | 'CODEC_MALFORMED'
  /** Decoding: a checksummed record whose checksum does not match (torn or corrupt write). */
  | 'CODEC_CHECKSUM'
  /** Encoding: a value that its wire type cannot represent (a caller bug, not bad input). */
  | 'CODEC_RANGE';

export class CodecError extends Error {
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}

function malformed(what: string): CodecError {
  return new CodecError('CODEC_MALFORMED', `malformed input: ${what}`);
}

export const MAX_U64 = (1n << 64n) - 1n;
const MAX_SAFE_BIG = BigInt(Number.MAX_SAFE_INTEGER);
/** Strings up to this many UTF-16 units take the hand-rolled ASCII paths (cheaper than the encoder calls). */
const SHORT_STRING = 64;

const textEncoder = new TextEncoder();
// fatal: invalid UTF-8 is malformed input, not something to paper over with U+FFFD.
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/**
 * An upper bound of the encoded size of a string (for pre-sizing writers). Long strings are
 * measured exactly so a big JSON document does not leave a 3x buffer behind its encoding.
 */
export function stringSizeBound(s: string): number {
  return 5 + (s.length < 1024 ? s.length * 3 : Buffer.byteLength(s, 'utf8'));
}

/** An upper bound of the encoded size of a length-prefixed byte string. */
export function bytesSizeBound(b: Uint8Array): number {
  return 5 + b.length;
}

/**
 * Appends to a growable buffer (capacity doubles). `finish()` returns a view of the written
 * bytes without copying; a writer is meant to be used for one message and then dropped.
 */
export class BinaryWriter {
  private buf: Uint8Array;
  private pos = 0;
  /** How many times the buffer was reallocated (0 when the initial capacity was enough). */
  growths = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(Math.max(16, Math.ceil(initialCapacity)));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  private ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < need) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.growths++;
  }

  u8(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xff) throw new CodecError('CODEC_RANGE', `u8 out of range: ${v}`);
    this.ensure(1);
    this.buf[this.pos++] = v;
    return this;
  }

  bool(v: boolean): this {
    this.ensure(1);
    this.buf[this.pos++] = v ? 1 : 0;
    return this;
  }

  /** Fixed 4 bytes, little-endian (checksums, where the size must be known up front). */
  u32(v: number): this {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new CodecError('CODEC_RANGE', `u32 out of range: ${v}`);
    this.ensure(4);
    this.putU32At(this.pos, v);
    this.pos += 4;
    return this;
  }

  /** Overwrites 4 bytes already written at `offset` (e.g. a checksum placeholder). */
  patchU32(offset: number, v: number): this {
    if (!Number.isInteger(offset) || offset < 0 || offset + 4 > this.pos) throw new CodecError('CODEC_RANGE', `patch offset out of range: ${offset}`);
    this.putU32At(offset, v >>> 0);
    return this;
  }

  private putU32At(o: number, v: number): void {
    const b = this.buf;
    b[o] = v & 0xff;
    b[o + 1] = (v >>> 8) & 0xff;
    b[o + 2] = (v >>> 16) & 0xff;
    b[o + 3] = v >>> 24;
  }

  /** An unsigned integer up to 2^53-1 as LEB128 (at most 8 bytes). */
  varuint(v: number): this {
    if (v >= 0 && v < 0x80 && (v | 0) === v) {
      this.ensure(1);
      this.buf[this.pos++] = v;
      return this;
    }
    if (!Number.isSafeInteger(v) || v < 0) throw new CodecError('CODEC_RANGE', `varuint out of range: ${v}`);
    this.ensure(8);
    const b = this.buf;
    let p = this.pos;
    // Above 2^31 bit operators would truncate, so peel 7 bits arithmetically until they apply.
    while (v > 0x7fffffff) {
      b[p++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    while (v >= 0x80) {
      b[p++] = (v & 0x7f) | 0x80;
      v >>>= 7;
    }
    b[p++] = v;
    this.pos = p;
    return this;
  }

  /** An unsigned 64-bit integer as LEB128 (at most 10 bytes); same encoding as varuint below 2^53. */
  u64(v: bigint): this {
    if (typeof v !== 'bigint' || v < 0n || v > MAX_U64) throw new CodecError('CODEC_RANGE', `u64 out of range: ${String(v)}`);
    if (v <= MAX_SAFE_BIG) return this.varuint(Number(v));
    this.ensure(10);
    const b = this.buf;
    let p = this.pos;
    while (v >= 0x80n) {
      b[p++] = Number(v & 0x7fn) | 0x80;
      v >>= 7n;
    }
    b[p++] = Number(v);
    this.pos = p;
    return this;
  }

  /** Length-prefixed bytes. */
  bytes(v: Uint8Array): this {
    this.varuint(v.length);
    return this.raw(v);
  }

  /** Bytes without a length prefix (the reader must know the size another way). */
  raw(v: Uint8Array): this {
    this.ensure(v.length);
    this.buf.set(v, this.pos);
    this.pos += v.length;
    return this;
  }

  /**
   * Length-prefixed UTF-8. Lone surrogates (not valid Unicode) are written as U+FFFD, like
   * TextEncoder does; well-formed strings round-trip exactly.
   */
  string(s: string): this {
    const n = s.length;
    if (n <= SHORT_STRING) {
      // ASCII fast path: the byte length equals the unit count and the prefix is one byte.
      this.ensure(1 + n);
      const b = this.buf;
      const start = this.pos;
      let p = start + 1;
      let i = 0;
      for (; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        b[p++] = c;
      }
      if (i === n) {
        b[start] = n;
        this.pos = p;
        return this;
      }
    }
    const len = Buffer.byteLength(s, 'utf8');
    this.varuint(len);
    this.ensure(len);
    textEncoder.encodeInto(s, this.buf.subarray(this.pos, this.pos + len));
    this.pos += len;
    return this;
  }

  /** The bytes written, as a view of the internal buffer (no copy). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/**
 * Reads what BinaryWriter wrote. `bytes()` returns views of the input (zero copy): a caller
 * that keeps them beyond the input's lifetime, or while the input may be mutated or reused,
 * must copy them (`.slice()`).
 */
export class BinaryReader {
  private readonly buf: Uint8Array;
  private pos = 0;
  private readonly end: number;

  constructor(buf: Uint8Array) {
    if (!(buf instanceof Uint8Array)) throw malformed('input is not a Uint8Array');
    this.buf = buf;
    this.end = buf.length;
  }

  /** Bytes not yet read. */
  remaining(): number {
    return this.end - this.pos;
  }

  /** The read position (bytes consumed so far). */
  get offset(): number {
    return this.pos;
  }

  /** Throws unless every byte was consumed (trailing garbage is malformed, not ignored). */
  expectEnd(): void {
    if (this.pos !== this.end) throw malformed(`${this.end - this.pos} trailing bytes`);
  }

  u8(): number {
    if (this.pos >= this.end) throw malformed('truncated (u8)');
    return this.buf[this.pos++]!;
  }

  bool(): boolean {
    const b = this.u8();
    if (b > 1) throw malformed(`bool byte ${b}`);
    return b === 1;
  }

  u32(): number {
    if (this.end - this.pos < 4) throw malformed('truncated (u32)');
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
  }

  varuint(): number {
    const b = this.buf;
    let p = this.pos;
    if (p >= this.end) throw malformed('truncated (varuint)');
    const first = b[p]!;
    if (first < 0x80) {
      this.pos = p + 1;
      return first;
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 8; i++) {
      if (p >= this.end) throw malformed('truncated (varuint)');
      const x = b[p++]!;
      result += (x & 0x7f) * mul;
      if (x < 0x80) {
        if (x === 0) throw malformed('overlong varuint');
        // Past 2^53 the float sum may round, but only to values that still fail this check.
        if (result > Number.MAX_SAFE_INTEGER) throw malformed('varuint above 2^53-1');
        this.pos = p;
        return result;
      }
      mul *= 128;
    }
    throw malformed('varuint longer than 8 bytes');
  }

  u64(): bigint {
    const b = this.buf;
    let p = this.pos;
    // The first 7 groups (49 bits) are exact in float arithmetic; only longer values need bigint.
    let lo = 0;
    let mul = 1;
    for (let i = 0; i < 7; i++) {
      if (p >= this.end) throw malformed('truncated (u64)');
      const x = b[p++]!;
      lo += (x & 0x7f) * mul;
      if (x < 0x80) {
        if (x === 0 && i > 0) throw malformed('overlong u64');
        this.pos = p;
        return BigInt(lo);
      }
      mul *= 128;
    }
    let v = BigInt(lo);
    for (let i = 7; i < 10; i++) {
      if (p >= this.end) throw malformed('truncated (u64)');
      const x = b[p++]!;
      v |= BigInt(x & 0x7f) << BigInt(7 * i);
      if (x < 0x80) {
        if (x === 0) throw malformed('overlong u64');
        if (v > MAX_U64) throw malformed('u64 above 2^64-1');
        this.pos = p;
        return v;
      }
    }
    throw malformed('u64 longer than 10 bytes');
  }

  /** Length-prefixed bytes, as a view of the input (see the class comment). */
  bytes(): Uint8Array {
    const n = this.varuint();
    return this.raw(n);
  }

  /** Exactly `n` bytes without a prefix, as a view of the input. */
  raw(n: number): Uint8Array {
    if (n > this.end - this.pos) throw malformed(`length ${n} exceeds the ${this.end - this.pos} bytes left`);
    const p = this.pos;
    this.pos = p + n;
    return this.buf.subarray(p, p + n);
  }

  string(): string {
    const n = this.varuint();
    if (n > this.end - this.pos) throw malformed(`string length ${n} exceeds the ${this.end - this.pos} bytes left`);
    const b = this.buf;
    const p = this.pos;
    if (n <= SHORT_STRING) {
      let s = '';
      let i = p;
      const e = p + n;
      for (; i < e; i++) {
        const c = b[i]!;
        if (c >= 0x80) break;
        s += String.fromCharCode(c);
      }
      if (i === e) {
        this.pos = e;
        return s;
      }
    }
    let s: string;
    try {
      s = textDecoder.decode(b.subarray(p, p + n));
    } catch {
      throw malformed('invalid UTF-8');
    }
    this.pos = p + n;
    return s;
  }

  /**
   * An element count, checked against the bytes left (each element takes at least
   * `minElementBytes`), so a forged count fails here instead of driving a huge allocation.
   */
  count(minElementBytes = 1): number {
    const n = this.varuint();
    if (n * minElementBytes > this.end - this.pos) throw malformed(`count ${n} exceeds the ${this.end - this.pos} bytes left`);
    return n;
  }
}

// --- Shared by the typed codecs ------------------------------------------------------------

/** A wire enum: values by u8 index. Append new values at the end only, never reorder. */
export class WireEnum<T> {
  private readonly index: ReadonlyMap<T, number>;

  constructor(
    readonly values: readonly T[],
    private readonly what: string,
  ) {
    this.index = new Map(values.map((v, i) => [v, i]));
  }

  write(w: BinaryWriter, v: T): void {
    const i = this.index.get(v);
    if (i === undefined) throw new CodecError('CODEC_RANGE', `unknown ${this.what}: ${String(v)}`);
    w.u8(i);
  }

  read(r: BinaryReader): T {
    const i = r.u8();
    const v = this.values[i];
    if (v === undefined) throw malformed(`unknown ${this.what} ${i}`);
    return v;
  }
}

/** A standalone encoding: [version][body], written into a writer pre-sized to `sizeHint`. */
export function encodeFramed(version: number, sizeHint: number, write: (w: BinaryWriter) => void): Uint8Array {
  const w = new BinaryWriter(sizeHint + 1);
  w.u8(version);
  write(w);
  return w.finish();
}

/** Reads what encodeFramed wrote: checks the version and that nothing trails the body. */
export function decodeFramed<T>(b: Uint8Array, version: number, what: string, read: (r: BinaryReader) => T): T {
  const r = new BinaryReader(b);
  readVersion(r, version, what);
  const v = read(r);
  r.expectEnd();
  return v;
}

export function readVersion(r: BinaryReader, version: number, what: string): void {
  const v = r.u8();
  if (v !== version) throw malformed(`unsupported ${what} format version ${v}`);
}
