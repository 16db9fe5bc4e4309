import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { Entry } from '../../../cell/raft/types.js';
import { decodeLogRecord, encodeLogRecord } from '../../../cell/raft/codec.js';
import { CodecError, crc32, crc32c, openChecksum, sealChecksum } from '../../../shared/codec/index.js';

const enc = new TextEncoder();

/** Bit-at-a-time reference implementation to check the table-driven one against. */
function crc32cSlow(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

const entryArb: fc.Arbitrary<Entry> = fc.record({
  term: fc.maxSafeNat(),
  index: fc.maxSafeNat(),
  kind: fc.constantFrom('normal' as const, 'conf' as const),
  data: fc.uint8Array({ maxLength: 600 }),
}, { noNullPrototype: true });

function isCodecError(e: unknown): boolean {
  return e instanceof CodecError;
}

describe('crc32c', () => {
  it('matches the standard CRC-32C check values', () => {
    assert.equal(crc32c(enc.encode('123456789')), 0xe3069283);
    assert.equal(crc32c(new Uint8Array(0)), 0);
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa);
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43);
    assert.equal(crc32, crc32c);
  });

  it('agrees with a bitwise reference for every length and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), fc.nat(7), (data, off) => {
        const view = data.subarray(Math.min(off, data.length));
        assert.equal(crc32c(view), crc32cSlow(view));
      }),
    );
  });

  it('continues a running checksum through the seed', () => {
    fc.assert(
      fc.property(fc.uint8Array(), fc.uint8Array(), (a, b) => {
        const ab = new Uint8Array(a.length + b.length);
        ab.set(a);
        ab.set(b, a.length);
        assert.equal(crc32c(b, crc32c(a)), crc32c(ab));
      }),
    );
  });
});

describe('log records', () => {
  it('round-trip entries', () => {
    fc.assert(
      fc.property(entryArb, (e) => {
        assert.deepEqual(decodeLogRecord(encodeLogRecord(e)), e);
      }),
    );
  });

  it('detect any single flipped bit with CODEC_CHECKSUM', () => {
    fc.assert(
      fc.property(entryArb, fc.nat(), fc.nat(7), (e, at, bit) => {
        const rec = encodeLogRecord(e).slice();
        rec[at % rec.length]! ^= 1 << bit;
        assert.throws(
          () => decodeLogRecord(rec),
          (err: unknown) => err instanceof CodecError && err.code === 'CODEC_CHECKSUM',
        );
      }),
      { numRuns: 500 },
    );
  });

  it('reject every truncation (a torn write) with a CodecError', () => {
    fc.assert(
      fc.property(entryArb, (e) => {
        const rec = encodeLogRecord(e);
        for (let n = 0; n < rec.length; n++) assert.throws(() => decodeLogRecord(rec.subarray(0, n)), isCodecError);
      }),
      { numRuns: 50 },
    );
  });

  it('reject random garbage with a CodecError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
        assert.throws(() => decodeLogRecord(b), isCodecError);
      }),
    );
  });

  it('lay out as [crc of the rest][version][entry]', () => {
    const rec = encodeLogRecord({ term: 2, index: 3, kind: 'normal', data: Uint8Array.of(0xaa) });
    assert.equal(Buffer.from(rec).toString('hex').slice(8), '01020300' + '01aa');
    assert.equal(Buffer.from(rec).readUInt32LE(0), crc32c(rec.subarray(4)));
  });

  it('sealChecksum / openChecksum frame any body', () => {
    fc.assert(
      fc.property(fc.uint8Array(), (body) => {
        const sealed = sealChecksum(body);
        assert.deepEqual(openChecksum(sealed), body);
        if (sealed.length > 0) {
          const bad = sealed.slice();
          bad[bad.length - 1]! ^= 0x10;
          assert.throws(() => openChecksum(bad), (e: unknown) => e instanceof CodecError && e.code === 'CODEC_CHECKSUM');
        }
      }),
    );
    assert.throws(() => openChecksum(Uint8Array.of(1, 2, 3)), (e: unknown) => e instanceof CodecError && e.code === 'CODEC_MALFORMED');
  });
});
