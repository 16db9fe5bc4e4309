// Session tokens: opaque to clients, they name the Raft index a client has seen in one cell
// (and the cell's epoch, so a token minted before a split or merge is not trusted after it).
// A session read waits until the serving replica applied that index: read-your-writes.
//
// Tokens carry an HMAC so a forged index cannot make cells wait for an index that will never
// come. A well-formed token whose MAC does not verify (e.g. minted by a gateway with another
// secret) is not an error: the read falls back to linearizable, which is always correct.

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { KvError } from '../shared/errors.js';
import { decodeBase64Url, encodeBase64Url } from './encoding.js';

export interface SessionToken {
  /** '' when no cell can be vouched for: reads fall back to linearizable. */
  readonly cellId: string;
  readonly epoch: number;
  readonly index: bigint;
}

export const NO_SESSION: SessionToken = { cellId: '', epoch: 0, index: 0n };

const MAX_TOKEN_CHARS = 512;
const MAC_BYTES = 16;
const CELL_ID = /^[A-Za-z0-9_-]{0,64}$/;

export class SessionTokens {
  private readonly secret: Uint8Array;

  /** Gateways that should honour each other's tokens share the secret. */
  constructor(secret?: Uint8Array) {
    this.secret = secret && secret.length > 0 ? secret : randomBytes(32);
  }

  private mac(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload).digest().subarray(0, MAC_BYTES);
  }

  encode(t: SessionToken): string {
    const payload = encodeBase64Url(new TextEncoder().encode(JSON.stringify({ v: 1, c: t.cellId, e: t.epoch, i: t.index.toString() })));
    return `${payload}.${encodeBase64Url(this.mac(payload))}`;
  }

  /** INVALID_ARGUMENT when malformed; NO_SESSION when well-formed but not ours. */
  decode(s: string): SessionToken {
    const bad = (why: string) => new KvError('INVALID_ARGUMENT', `session token is invalid (${why}); use the X-KV-Session value a response returned`);
    if (s.length === 0 || s.length > MAX_TOKEN_CHARS) throw bad('length');
    const [payload, mac, ...rest] = s.split('.');
    if (payload === undefined || mac === undefined || rest.length > 0) throw bad('shape');
    let parsed: unknown;
    let macBytes: Uint8Array;
    try {
      macBytes = decodeBase64Url(mac, 'session token');
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(decodeBase64Url(payload, 'session token')));
    } catch {
      throw bad('encoding');
    }
    if (typeof parsed !== 'object' || parsed === null || macBytes.length !== MAC_BYTES) throw bad('shape');
    const o = parsed as Record<string, unknown>;
    if (Object.keys(o).sort().join(',') !== 'c,e,i,v' || o['v'] !== 1) throw bad('version');
    const { c, e, i } = o;
    if (typeof c !== 'string' || !CELL_ID.test(c)) throw bad('cell');
    if (typeof e !== 'number' || !Number.isSafeInteger(e) || e < 0) throw bad('epoch');
    if (typeof i !== 'string' || !/^(0|[1-9][0-9]{0,19})$/.test(i) || BigInt(i) >= 1n << 64n) throw bad('index');
    if (!timingSafeEqual(macBytes, this.mac(payload))) return NO_SESSION;
    return { cellId: c, epoch: e, index: BigInt(i) };
  }
}
