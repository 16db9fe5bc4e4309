import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CellRequest, CellResponse, KeyMeta, OpResult } from '../../../shared/cell-protocol.js';
import { ERROR_CODES, type ErrorCode } from '../../../shared/errors.js';
import {
  BinaryReader,
  BinaryWriter,
  CodecError,
  WIRE_ERROR_CODES,
  decodeCellEntryPayload,
  decodeCellRequest,
  decodeCellResponse,
  decodeOpResult,
  decodeStoredValue,
  encodeCellEntryPayload,
  encodeCellRequest,
  encodeCellResponse,
  encodeOpResult,
  encodeStoredValue,
  readAttrs,
} from '../../../shared/codec/index.js';

const isMalformed = (e: unknown): boolean => e instanceof CodecError && e.code === 'CODEC_MALFORMED';
const isRange = (e: unknown): boolean => e instanceof CodecError && e.code === 'CODEC_RANGE';
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

const meta0: KeyMeta = { version: 0n, createdAt: 0, updatedAt: 0, expiresAt: null, attrs: {} };

function request(over: Partial<CellRequest>): CellRequest {
  return {
    cellId: '',
    epoch: 0,
    requestId: '',
    tenant: '',
    consistency: 'linearizable',
    sessionIndex: 0n,
    maxStalenessMs: 0,
    atomic: false,
    ops: [],
    scan: null,
    traceparent: '',
    ...over,
  };
}

function response(over: Partial<CellResponse>): CellResponse {
  return {
    status: 'ok',
    code: null,
    message: '',
    leaderHint: '',
    results: [],
    scanItems: [],
    scanResumeKey: null,
    index: 0n,
    staleAgeMs: 0,
    ...over,
  };
}

describe('cell codec: error codes', () => {
  it('pins the wire index of every error code (append-only)', () => {
    // Changing this list breaks persisted dedupe records and mixed-version clusters.
    assert.deepEqual(WIRE_ERROR_CODES, [
      'INVALID_ARGUMENT', 'UNAUTHENTICATED', 'PERMISSION_DENIED', 'NOT_FOUND', 'VERSION_MISMATCH',
      'ALREADY_EXISTS', 'PAYLOAD_TOO_LARGE', 'RATE_LIMITED', 'QUOTA_EXCEEDED', 'UNAVAILABLE',
      'OUTCOME_UNKNOWN', 'NOT_LEADER', 'WRONG_RANGE', 'OVERLOADED', 'INTERNAL',
    ]);
  });

  it('can encode every code in ERROR_CODES (append new ones to WIRE_ERROR_CODES)', () => {
    assert.deepEqual(new Set(WIRE_ERROR_CODES), new Set(ERROR_CODES));
    for (const code of ERROR_CODES) {
      const r: OpResult = { status: 'error', code, message: 'm', currentVersion: null };
      assert.deepStrictEqual(decodeOpResult(encodeOpResult(r)), r);
    }
  });

  it('rejects an unknown error code index on decode and an unknown code on encode', () => {
    const b = encodeOpResult({ status: 'error', code: 'INTERNAL', message: '', currentVersion: null }).slice();
    assert.equal(b[2], WIRE_ERROR_CODES.indexOf('INTERNAL'));
    b[2] = WIRE_ERROR_CODES.length;
    assert.throws(() => decodeOpResult(b), isMalformed);
    b[2] = 255;
    assert.throws(() => decodeOpResult(b), isMalformed);
    assert.throws(() => encodeOpResult({ status: 'error', code: 'BOGUS' as ErrorCode, message: '', currentVersion: null }), isRange);
    assert.throws(() => encodeCellResponse(response({ status: 'error', code: 'BOGUS' as ErrorCode })), isRange);
  });
});

describe('cell codec', () => {
  it('pins the stored value layout (format version 1, meta before value)', () => {
    const sv = { value: utf8('hi'), meta: { version: 300n, createdAt: 1, updatedAt: 2, expiresAt: 128, attrs: { a: 'b' } } };
    assert.equal(hex(encodeStoredValue(sv)), '01' + 'ac02' + '01' + '02' + '018001' + '01' + '0161' + '0162' + '02' + '6869');
    assert.deepStrictEqual(decodeStoredValue(encodeStoredValue(sv)), sv);
  });

  it('pins the request layout', () => {
    const req = request({
      cellId: 'c',
      epoch: 2,
      requestId: 'r',
      tenant: 't',
      consistency: 'session',
      sessionIndex: 9n,
      atomic: true,
      ops: [{ op: 'get', key: Uint8Array.of(0x6b) }, { op: 'delete', key: new Uint8Array(0), ifVersion: 5n }],
    });
    assert.equal(
      hex(encodeCellRequest(req)),
      '01' + '0163' + '02' + '0172' + '0174' + '01' + '09' + '00' + '01' + // version … atomic
        '02' + '00016b' + '02000105' + // ops: get 'k', delete '' ifVersion 5
        '00' + '00', // no scan, empty traceparent
    );
  });

  it('round-trips every op kind, scans, and u64 edges', () => {
    const max = (1n << 64n) - 1n;
    const req = request({
      consistency: 'stale',
      sessionIndex: max,
      maxStalenessMs: 5000,
      ops: [
        { op: 'get', key: utf8('k1') },
        { op: 'put', key: utf8('k2'), value: new Uint8Array(70_000).fill(7), ttlMs: 1000, ifVersion: max, ifAbsent: true, attrs: { 'content-type': 'text/plain', ünï: '🎉' } },
        { op: 'put', key: new Uint8Array(0), value: new Uint8Array(0), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null },
        { op: 'delete', key: utf8('k3'), ifVersion: 0n },
        { op: 'delete', key: utf8('k4'), ifVersion: null },
      ],
      scan: { start: utf8('a'), end: null, limit: 100, keysOnly: true },
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    assert.deepStrictEqual(decodeCellRequest(encodeCellRequest(req)), req);
    const resp = response({
      status: 'error',
      code: 'NOT_LEADER',
      message: 'try n2',
      leaderHint: 'n2',
      results: [
        { status: 'ok', found: true, value: utf8('v'), meta: { version: max, createdAt: 1, updatedAt: 2, expiresAt: null, attrs: { x: '' } } },
        { status: 'ok', found: false, value: null, meta: null },
        { status: 'error', code: 'VERSION_MISMATCH', message: 'stale', currentVersion: 3n },
      ],
      scanItems: [{ key: utf8('a'), value: null, meta: meta0 }],
      scanResumeKey: utf8('b'),
      index: max,
      staleAgeMs: 12,
    });
    assert.deepStrictEqual(decodeCellResponse(encodeCellResponse(resp)), resp);
  });

  it('round-trips minimal values (every field at its smallest encoding)', () => {
    const resp = response({
      results: Array.from({ length: 30 }, (_, i): OpResult =>
        i % 2 ? { status: 'ok', found: false, value: null, meta: null } : { status: 'error', code: 'INVALID_ARGUMENT', message: '', currentVersion: null },
      ),
      scanItems: Array.from({ length: 30 }, () => ({ key: new Uint8Array(0), value: null, meta: meta0 })),
    });
    assert.deepStrictEqual(decodeCellResponse(encodeCellResponse(resp)), resp);
    const req = request({ ops: Array.from({ length: 30 }, () => ({ op: 'get' as const, key: new Uint8Array(0) })) });
    assert.deepStrictEqual(decodeCellRequest(encodeCellRequest(req)), req);
    const payload = {
      commands: [
        ...Array.from({ length: 20 }, () => ({ kind: 'meta' as const, json: '' })),
        { kind: 'expire' as const, nowMs: 0, keys: Array.from({ length: 20 }, () => new Uint8Array(0)) },
        { kind: 'write' as const, requestId: '', tenant: '', nowMs: 0, atomic: false, ops: [] },
      ],
    };
    assert.deepStrictEqual(decodeCellEntryPayload(encodeCellEntryPayload(payload)), payload);
    const sv = { value: new Uint8Array(0), meta: { ...meta0, attrs: { '': '' } } };
    assert.deepStrictEqual(decodeStoredValue(encodeStoredValue(sv)), sv);
  });

  it('carries the meta command json verbatim', () => {
    const json = JSON.stringify({ op: 'setRange', cells: ['c1', 'c2'], note: 'ünïcode ✓' });
    const back = decodeCellEntryPayload(encodeCellEntryPayload({ commands: [{ kind: 'meta', json }] }));
    assert.deepStrictEqual(back.commands, [{ kind: 'meta', json }]);
  });

  it('keeps a "__proto__" attribute as data and rejects duplicate attributes', () => {
    const attrs: Record<string, string> = {};
    Object.defineProperty(attrs, '__proto__', { value: 'x', enumerable: true, writable: true, configurable: true });
    attrs['y'] = 'z';
    const sv = { value: new Uint8Array(0), meta: { ...meta0, attrs } };
    const back = decodeStoredValue(encodeStoredValue(sv));
    assert.equal(Object.getPrototypeOf(back.meta.attrs), Object.prototype);
    assert.deepStrictEqual(Object.entries(back.meta.attrs), [['__proto__', 'x'], ['y', 'z']]);

    const w = new BinaryWriter();
    w.varuint(2).string('k').string('1').string('k').string('2');
    assert.throws(() => readAttrs(new BinaryReader(w.finish())), isMalformed);
  });

  it('decodes stored values as views of the input (zero copy)', () => {
    const b = encodeStoredValue({ value: utf8('payload'), meta: meta0 });
    assert.equal(decodeStoredValue(b).value.buffer, b.buffer);
  });

  it('rejects unknown enums, versions and bad presence bytes', () => {
    const req = encodeCellRequest(request({})).slice();
    // [version][cellId ''][epoch 0][requestId ''][tenant ''][consistency]…
    req[5] = 3;
    assert.throws(() => decodeCellRequest(req), isMalformed);
    req[5] = 0;
    req[0] = 0;
    assert.throws(() => decodeCellRequest(req), isMalformed);
    const resp = encodeCellResponse(response({})).slice();
    resp[1] = 2; // status
    assert.throws(() => decodeCellResponse(resp), isMalformed);
    resp[1] = 0;
    resp[2] = 2; // code presence byte
    assert.throws(() => decodeCellResponse(resp), isMalformed);
    const op = encodeCellRequest(request({ ops: [{ op: 'get', key: new Uint8Array(0) }] })).slice();
    op[10] = 3; // op kind
    assert.throws(() => decodeCellRequest(op), isMalformed);
  });

  it('rejects unrepresentable values on encode', () => {
    assert.throws(() => encodeCellRequest(request({ sessionIndex: -1n })), isRange);
    assert.throws(() => encodeCellRequest(request({ consistency: 'eventual' as CellRequest['consistency'] })), isRange);
    assert.throws(() => encodeStoredValue({ value: new Uint8Array(0), meta: { ...meta0, createdAt: -5 } }), isRange);
    assert.throws(() => encodeStoredValue({ value: new Uint8Array(0), meta: { ...meta0, version: 1n << 64n } }), isRange);
  });
});
