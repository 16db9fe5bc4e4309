// Byte-exact codecs for what clients send: percent-encoded paths and query strings decoded to
// bytes (not to strings: `%FF` must stay the byte 0xFF), strict base64, UTF-8 checks.
// Every decoder rejects malformed input with INVALID_ARGUMENT rather than guessing.

import { KvError } from '../shared/errors.js';

const HEX = /^[0-9A-Fa-f]{2}$/;
// RFC 3986 pchar plus '/': unreserved, sub-delims, ':' and '@'. Anything else must be escaped.
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/]$/;
// Query characters: pchar plus '/' and '?'.
const QUERY_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/?]$/;

function percentDecode(s: string, allowed: RegExp, plusIsSpace: boolean, what: string): Uint8Array {
  const out = new Uint8Array(s.length);
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '%') {
      const hex = s.slice(i + 1, i + 3);
      if (!HEX.test(hex)) throw new KvError('INVALID_ARGUMENT', `invalid percent-encoding in ${what} at offset ${i}: use %XX with two hex digits`);
      out[n++] = parseInt(hex, 16);
      i += 2;
    } else if (plusIsSpace && ch === '+') {
      out[n++] = 0x20;
    } else if (allowed.test(ch)) {
      out[n++] = ch.charCodeAt(0);
    } else {
      throw new KvError('INVALID_ARGUMENT', `character ${JSON.stringify(ch)} in ${what} must be percent-encoded`);
    }
  }
  return out.slice(0, n);
}

/** Decodes a raw path segment sequence (after the route prefix) to the key bytes; '+' is literal. */
export function decodePathBytes(raw: string): Uint8Array {
  return percentDecode(raw, PATH_CHARS, false, 'the path');
}

/** A parsed query string: each name once, values as bytes ('+' is a space, as in forms). */
export class QueryParams {
  private constructor(private readonly map: Map<string, Uint8Array>) {}

  static parse(raw: string): QueryParams {
    const map = new Map<string, Uint8Array>();
    if (raw === '') return new QueryParams(map);
    if (raw.length > 64 * 1024) throw new KvError('INVALID_ARGUMENT', 'query string is longer than 64 KiB');
    for (const part of raw.split('&')) {
      if (part === '') continue;
      const eq = part.indexOf('=');
      const nameBytes = percentDecode(eq < 0 ? part : part.slice(0, eq), QUERY_CHARS, true, 'the query string');
      const value = percentDecode(eq < 0 ? '' : part.slice(eq + 1), QUERY_CHARS, true, 'the query string');
      const name = utf8OrNull(nameBytes);
      if (name === null) throw new KvError('INVALID_ARGUMENT', 'query parameter names must be UTF-8');
      if (map.has(name)) throw new KvError('INVALID_ARGUMENT', `query parameter "${name}" is given more than once`);
      map.set(name, value);
    }
    return new QueryParams(map);
  }

  /** Rejects parameters this route does not know, so typos do not pass silently. */
  only(names: readonly string[]): this {
    for (const name of this.map.keys()) {
      if (!names.includes(name)) {
        const known = names.length ? names.join(', ') : 'none';
        throw new KvError('INVALID_ARGUMENT', `unknown query parameter "${name.slice(0, 64)}" (known: ${known})`);
      }
    }
    return this;
  }

  bytes(name: string): Uint8Array | null {
    return this.map.get(name) ?? null;
  }

  /** The value as text; non-UTF-8 bytes are an error (these parameters are words or numbers). */
  text(name: string): string | null {
    const b = this.map.get(name);
    if (b === undefined) return null;
    const s = utf8OrNull(b);
    if (s === null) throw new KvError('INVALID_ARGUMENT', `query parameter "${name}" must be UTF-8 text`);
    return s;
  }
}

const fatalUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The bytes as a string when they are valid UTF-8, else null. */
export function utf8OrNull(b: Uint8Array): string | null {
  try {
    return fatalUtf8.decode(b);
  } catch {
    return null;
  }
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;
const B64URL = /^[A-Za-z0-9_-]*$/;

/** Strict standard base64 (padding optional, canonical): anything else is INVALID_ARGUMENT. */
export function decodeBase64(s: string, what: string): Uint8Array {
  const bad = () => new KvError('INVALID_ARGUMENT', `${what} is not valid base64 (RFC 4648 standard alphabet)`);
  if (!B64.test(s)) throw bad();
  const unpadded = s.replace(/=+$/, '');
  if (unpadded.length % 4 === 1) throw bad();
  if (s.length !== unpadded.length && s.length % 4 !== 0) throw bad();
  const bytes = Buffer.from(unpadded, 'base64');
  // Canonical only: non-zero trailing bits would let two strings name the same bytes.
  if (bytes.toString('base64').replace(/=+$/, '') !== unpadded) throw bad();
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function encodeBase64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64');
}

/** Strict unpadded base64url (used for opaque tokens and cursors). */
export function decodeBase64Url(s: string, what: string): Uint8Array {
  const bytes = B64URL.test(s) && s.length % 4 !== 1 ? Buffer.from(s, 'base64url') : null;
  if (!bytes || bytes.toString('base64url') !== s) throw new KvError('INVALID_ARGUMENT', `${what} is malformed`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function encodeBase64Url(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.length).toString('base64url');
}

export type BytesEncoding = 'utf8' | 'base64';

/** Bytes for a JSON response: as text when asked and valid UTF-8, else base64 (lossless). */
export function encodeForJson(b: Uint8Array, preferred: BytesEncoding): { text: string; encoding: BytesEncoding } {
  if (preferred === 'utf8') {
    const s = utf8OrNull(b);
    if (s !== null) return { text: s, encoding: 'utf8' };
  }
  return { text: encodeBase64(b), encoding: 'base64' };
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function decodeFromJson(s: string, encoding: BytesEncoding, what: string): Uint8Array {
  if (encoding === 'base64') return decodeBase64(s, what);
  // TextEncoder would silently turn a lone surrogate into U+FFFD: refuse instead of guessing.
  if (LONE_SURROGATE.test(s)) throw new KvError('INVALID_ARGUMENT', `${what} is not well-formed Unicode; use base64 for binary`);
  return new TextEncoder().encode(s);
}
