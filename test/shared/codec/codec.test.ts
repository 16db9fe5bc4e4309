// Round trips of every framed encoding over random values, and robustness of every decoder
// against truncations, bit flips, overwritten bytes and pure garbage: a decoder may return
// or throw a CodecError, nothing else, and must not hang.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ConfState, Entry, HardState, Message, MessageType, SnapshotChunk, SnapshotMetadata } from '../../../cell/raft/types.js';
import type {
  Attrs,
  CellCommand,
  CellEntryPayload,
  CellOp,
  CellRequest,
  CellResponse,
  KeyMeta,
  OpResult,
  ScanItem,
  ScanRequest,
} from '../../../shared/cell-protocol.js';
import { ERROR_CODES, type ErrorCode } from '../../../shared/errors.js';
import * as raftCodec from '../../../cell/raft/codec.js';
import type { RaftEnvelope } from '../../../cell/raft/codec.js';
import * as sharedCodec from '../../../shared/codec/index.js';
import { CodecError, MAX_U64, type StoredValue } from '../../../shared/codec/index.js';

const codec = { ...sharedCodec, ...raftCodec };

// --- Arbitraries ---------------------------------------------------------------------------

// fast-check builds null-prototype objects by default; the decoders build plain ones.
const rec = <T extends object>(model: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> =>
  fc.record(model, { noNullPrototype: true }) as unknown as fc.Arbitrary<T>;
const nullable = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { nil: null });

const u53 = fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 31 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.nat(100_000), fc.maxSafeNat());
const u64 = fc.oneof(fc.constantFrom(0n, 1n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, MAX_U64), fc.bigInt({ min: 0n, max: MAX_U64 }));
const str = fc.oneof(
  fc.constantFrom('', 'n1', 'tenant-a'),
  fc.string({ maxLength: 20 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({ unit: 'binary-ascii', minLength: 60, maxLength: 300 }),
);
const bytes = fc.oneof(fc.uint8Array({ maxLength: 16 }), fc.uint8Array({ maxLength: 400 }));

const entry: fc.Arbitrary<Entry> = rec({ term: u53, index: u53, kind: fc.constantFrom('normal' as const, 'conf' as const), data: bytes });
const hardState: fc.Arbitrary<HardState> = rec({ term: u53, vote: nullable(str), commit: u53 });
const ids = fc.array(str, { maxLength: 5 });
const confState: fc.Arbitrary<ConfState> = rec({ voters: ids, learners: ids, votersOutgoing: ids, learnersNext: ids, autoLeave: fc.boolean() });
const snapMeta: fc.Arbitrary<SnapshotMetadata> = rec({ index: u53, term: u53, confState });
const chunk: fc.Arbitrary<SnapshotChunk> = rec({ metadata: snapMeta, offset: u53, totalBytes: u53, data: bytes });
const MESSAGE_TYPES: MessageType[] = [
  'preVote', 'preVoteResp', 'vote', 'voteResp', 'append', 'appendResp', 'heartbeat', 'heartbeatResp',
  'snapshot', 'snapshotResp', 'timeoutNow', 'readIndex', 'readIndexResp',
];
const message: fc.Arbitrary<Message> = rec({
  type: fc.constantFrom(...MESSAGE_TYPES),
  from: str,
  to: str,
  term: u53,
  logTerm: u53,
  index: u53,
  entries: fc.array(entry, { maxLength: 4 }),
  commit: u53,
  reject: fc.boolean(),
  rejectHint: u53,
  hintTerm: u53,
  context: str,
  snapshot: nullable(chunk),
});
const envelope: fc.Arbitrary<RaftEnvelope> = rec({
  fromNode: str,
  items: fc.array(rec({ cellId: str, message }), { maxLength: 4 }),
});

const attrs: fc.Arbitrary<Attrs> = fc.dictionary(str, str, { maxKeys: 4, noNullPrototype: true });
const keyMeta: fc.Arbitrary<KeyMeta> = rec({ version: u64, createdAt: u53, updatedAt: u53, expiresAt: nullable(u53), attrs });
const getOp = rec<Extract<CellOp, { op: 'get' }>>({ op: fc.constant('get' as const), key: bytes });
const putOp = rec<Extract<CellOp, { op: 'put' }>>({
  op: fc.constant('put' as const),
  key: bytes,
  value: bytes,
  ttlMs: nullable(u53),
  ifVersion: nullable(u64),
  ifAbsent: fc.boolean(),
  attrs: nullable(attrs),
});
const deleteOp = rec<Extract<CellOp, { op: 'delete' }>>({ op: fc.constant('delete' as const), key: bytes, ifVersion: nullable(u64) });
const cellOp: fc.Arbitrary<CellOp> = fc.oneof(getOp, putOp, deleteOp);
const scanRequest: fc.Arbitrary<ScanRequest> = rec({ start: bytes, end: nullable(bytes), limit: u53, keysOnly: fc.boolean() });
const cellRequest: fc.Arbitrary<CellRequest> = rec({
  cellId: str,
  epoch: u53,
  requestId: str,
  tenant: str,
  consistency: fc.constantFrom('linearizable' as const, 'session' as const, 'stale' as const),
  sessionIndex: u64,
  maxStalenessMs: u53,
  atomic: fc.boolean(),
  ops: fc.array(cellOp, { maxLength: 5 }),
  scan: nullable(scanRequest),
  traceparent: str,
});
const errorCode = fc.constantFrom<ErrorCode>(...ERROR_CODES);
const opResult: fc.Arbitrary<OpResult> = fc.oneof(
  rec<Extract<OpResult, { status: 'ok' }>>({ status: fc.constant('ok' as const), found: fc.boolean(), value: nullable(bytes), meta: nullable(keyMeta) }),
  rec<Extract<OpResult, { status: 'error' }>>({ status: fc.constant('error' as const), code: errorCode, message: str, currentVersion: nullable(u64) }),
);
const scanItem: fc.Arbitrary<ScanItem> = rec({ key: bytes, value: nullable(bytes), meta: keyMeta });
const cellResponse: fc.Arbitrary<CellResponse> = rec({
  status: fc.constantFrom('ok' as const, 'error' as const),
  code: nullable(errorCode),
  message: str,
  leaderHint: str,
  results: fc.array(opResult, { maxLength: 4 }),
  scanItems: fc.array(scanItem, { maxLength: 4 }),
  scanResumeKey: nullable(bytes),
  index: u64,
  staleAgeMs: u53,
});
const command: fc.Arbitrary<CellCommand> = fc.oneof(
  rec<Extract<CellCommand, { kind: 'write' }>>({
    kind: fc.constant('write' as const),
    requestId: str,
    tenant: str,
    nowMs: u53,
    atomic: fc.boolean(),
    ops: fc.array(fc.oneof(putOp, deleteOp), { maxLength: 4 }),
  }),
  rec<Extract<CellCommand, { kind: 'expire' }>>({ kind: fc.constant('expire' as const), nowMs: u53, keys: fc.array(bytes, { maxLength: 4 }) }),
  rec<Extract<CellCommand, { kind: 'meta' }>>({ kind: fc.constant('meta' as const), json: fc.json() }),
  rec<Extract<CellCommand, { kind: 'split' }>>({ kind: fc.constant('split' as const), splitKey: bytes, newCellId: str, epoch: u53 }),
);
const payload: fc.Arbitrary<CellEntryPayload> = rec({ commands: fc.array(command, { maxLength: 4 }) });
const storedValue: fc.Arbitrary<StoredValue> = rec({ value: bytes, meta: keyMeta });

// --- Properties over every codec -----------------------------------------------------------

function isCodecError(e: unknown): boolean {
  return e instanceof CodecError;
}

/** Decoding must either succeed or throw a CodecError. */
function decodesOrCodecError(decode: (b: Uint8Array) => unknown, b: Uint8Array): void {
  try {
    decode(b);
  } catch (e) {
    if (!(e instanceof CodecError)) throw new Error(`non-codec error ${String(e)} on ${Buffer.from(b).toString('hex').slice(0, 200)}`);
  }
}

const mutation = fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 });

function codecSuite<T>(name: string, arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => T, runs = 200): void {
  describe(name, { timeout: 120_000 }, () => {
    it('round-trips', () => {
      fc.assert(
        fc.property(arb, (v) => {
          const b = encode(v);
          const back = decode(b);
          assert.deepStrictEqual(back, v);
          assert.deepStrictEqual(encode(back), b);
        }),
        { numRuns: runs },
      );
    });

    it('rejects every truncation with a CodecError', () => {
      fc.assert(
        fc.property(arb, (v) => {
          const b = encode(v);
          const step = Math.max(1, Math.floor(b.length / 150));
          for (let n = 0; n < b.length; n += step) assert.throws(() => decode(b.subarray(0, n)), isCodecError, `prefix ${n}/${b.length}`);
          assert.throws(() => decode(b.subarray(0, b.length - 1)), isCodecError);
          // Trailing bytes are malformed too.
          const longer = new Uint8Array(b.length + 1);
          longer.set(b);
          assert.throws(() => decode(longer), isCodecError);
        }),
        { numRuns: Math.ceil(runs / 4) },
      );
    });

    it('survives bit flips and overwritten bytes', () => {
      fc.assert(
        fc.property(arb, mutation, fc.boolean(), (v, muts, flip) => {
          const b = encode(v).slice();
          for (const [at, x] of muts) {
            if (flip) b[at % b.length]! ^= 1 << (x & 7);
            else b[at % b.length] = x;
          }
          decodesOrCodecError(decode, b);
        }),
        { numRuns: runs * 2 },
      );
    });

    it('survives random garbage', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (g, withVersion) => {
          // A valid version byte gets the garbage past the first check.
          const b = withVersion ? Uint8Array.from([1, ...g]) : g;
          decodesOrCodecError(decode, b);
        }),
        { numRuns: runs * 2 },
      );
    });
  });
}

codecSuite('Entry', entry, codec.encodeEntry, codec.decodeEntry);
codecSuite('HardState', hardState, codec.encodeHardState, codec.decodeHardState);
codecSuite('ConfState', confState, codec.encodeConfState, codec.decodeConfState);
codecSuite('SnapshotMetadata', snapMeta, codec.encodeSnapshotMetadata, codec.decodeSnapshotMetadata);
codecSuite('Message', message, codec.encodeMessage, codec.decodeMessage);
codecSuite('RaftEnvelope', envelope, codec.encodeRaftEnvelope, codec.decodeRaftEnvelope, 100);
codecSuite('log record', entry, codec.encodeLogRecord, codec.decodeLogRecord);
codecSuite('CellRequest', cellRequest, codec.encodeCellRequest, codec.decodeCellRequest);
codecSuite('CellResponse', cellResponse, codec.encodeCellResponse, codec.decodeCellResponse);
codecSuite('OpResult', opResult, codec.encodeOpResult, codec.decodeOpResult);
codecSuite('CellEntryPayload', payload, codec.encodeCellEntryPayload, codec.decodeCellEntryPayload);
codecSuite('StoredValue', storedValue, codec.encodeStoredValue, codec.decodeStoredValue);
