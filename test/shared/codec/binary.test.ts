import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { BinaryReader, BinaryWriter, CodecError, MAX_U64 } from '../../../shared/codec/index.js';

function isMalformed(e: unknown): boolean {
  return e instanceof CodecError && e.code === 'CODEC_MALFORMED';
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

describe('BinaryWriter / BinaryReader', () => {
  it('encodes varuints as canonical LEB128', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [1, '01'],
      [127, '7f'],
      [128, '8001'],
      [300, 'ac02'],
      [2 ** 31 - 1, 'ffffffff07'],
      [2 ** 31, '8080808008'],
      [2 ** 32, '808080801' + '0'],
      [Number.MAX_SAFE_INTEGER, 'ffffffffffffff0f'],
    ];
    for (const [v, h] of cases) {
      const w = new BinaryWriter();
      w.varuint(v);
      assert.equal(hex(w.finish()), h, `varuint(${v})`);
      const r = new BinaryReader(w.finish());
      assert.equal(r.varuint(), v);
      r.expectEnd();
    }
  });

  it('round-trips u64 including 0 and 2^64-1, with the varuint encoding below 2^53', () => {
    const edges = [0n, 1n, 127n, 128n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n, MAX_U64 - 1n, MAX_U64];
    for (const v of edges) {
      const w = new BinaryWriter();
      w.u64(v);
      const r = new BinaryReader(w.finish());
      assert.equal(r.u64(), v);
      r.expectEnd();
    }
    const a = new BinaryWriter().u64(2n ** 53n - 1n).finish();
    const b = new BinaryWriter().varuint(Number.MAX_SAFE_INTEGER).finish();
    assert.deepEqual(a, b);
    assert.equal(hex(new BinaryWriter().u64(MAX_U64).finish()), 'ffffffffffffffffff01');
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: MAX_U64 }), (v) => {
        const r = new BinaryReader(new BinaryWriter().u64(v).finish());
        assert.equal(r.u64(), v);
        r.expectEnd();
      }),
    );
  });

  it('rejects out-of-range values on encode with CODEC_RANGE', () => {
    const range = (f: () => void): void => assert.throws(f, (e: unknown) => e instanceof CodecError && e.code === 'CODEC_RANGE');
    range(() => new BinaryWriter().u64(-1n));
    range(() => new BinaryWriter().u64(MAX_U64 + 1n));
    range(() => new BinaryWriter().varuint(-1));
    range(() => new BinaryWriter().varuint(1.5));
    range(() => new BinaryWriter().varuint(Number.MAX_SAFE_INTEGER + 1));
    range(() => new BinaryWriter().varuint(Number.NaN));
    range(() => new BinaryWriter().u8(256));
  });

  it('rejects malformed varints and u64s', () => {
    const bad = [
      '', // truncated
      '80', // truncated continuation
      '8000', // overlong zero
      'ff00', // overlong
      '8080808080808080', // 8 continuation bytes: too long
      '8080808080808010', // 2^53 exactly: above the safe range
    ];
    for (const h of bad) {
      assert.throws(() => new BinaryReader(Buffer.from(h, 'hex')).varuint(), isMalformed, `varuint ${h}`);
    }
    const badU64 = ['', 'ff', '8000', 'ffffffffffffffffff02', 'ffffffffffffffffff7f', '80808080808080808080'];
    for (const h of badU64) {
      assert.throws(() => new BinaryReader(Buffer.from(h, 'hex')).u64(), isMalformed, `u64 ${h}`);
    }
  });

  it('round-trips strings: empty, long, unicode, astral', () => {
    const samples = ['', 'a', 'x'.repeat(64), 'x'.repeat(65), 'y'.repeat(100_000), 'héllo', '日本語', '🎉 emoji', 'a\u0000b', 'é'.repeat(70)];
    const w = new BinaryWriter(16);
    for (const s of samples) w.string(s);
    const r = new BinaryReader(w.finish());
    for (const s of samples) assert.equal(r.string(), s);
    r.expectEnd();
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme', maxLength: 200 }))), (ss) => {
        const w2 = new BinaryWriter(8);
        for (const s of ss) w2.string(s);
        const r2 = new BinaryReader(w2.finish());
        for (const s of ss) assert.equal(r2.string(), s);
        r2.expectEnd();
      }),
    );
  });

  it('writes the exact UTF-8 byte length as the prefix', () => {
    const b = new BinaryWriter().string('é🎉').finish();
    assert.equal(hex(b), '06' + Buffer.from('é🎉').toString('hex'));
  });

  it('writes lone surrogates (not valid Unicode) as U+FFFD, short or long', () => {
    for (const s of ['a\uD800b', 'x\uDC00'.repeat(600)]) {
      const back = new BinaryReader(new BinaryWriter().string(s).finish()).string();
      assert.equal(back, s.replace(/[\uD800-\uDFFF]/g, '\uFFFD'));
    }
  });

  it('rejects invalid UTF-8 and lengths beyond the input', () => {
    assert.throws(() => new BinaryReader(Uint8Array.of(2, 0xc3, 0x28)).string(), isMalformed);
    assert.throws(() => new BinaryReader(Uint8Array.of(1, 0xff)).string(), isMalformed);
    assert.throws(() => new BinaryReader(Uint8Array.of(5, 1, 2)).string(), isMalformed);
    assert.throws(() => new BinaryReader(Uint8Array.of(5, 1, 2)).bytes(), isMalformed);
    // A forged huge length must fail before any allocation.
    assert.throws(() => new BinaryReader(Buffer.from('ffffffffffffff0f', 'hex')).bytes(), isMalformed);
  });

  it('checks bools, counts, u8 and trailing bytes', () => {
    assert.equal(new BinaryReader(Uint8Array.of(1)).bool(), true);
    assert.throws(() => new BinaryReader(Uint8Array.of(2)).bool(), isMalformed);
    assert.throws(() => new BinaryReader(new Uint8Array(0)).u8(), isMalformed);
    assert.throws(() => new BinaryReader(Uint8Array.of(10, 0, 0)).count(1), isMalformed);
    assert.equal(new BinaryReader(Uint8Array.of(2, 0, 0)).count(1), 2);
    const r = new BinaryReader(Uint8Array.of(1, 2));
    r.u8();
    assert.equal(r.remaining(), 1);
    assert.throws(() => r.expectEnd(), isMalformed);
    r.u8();
    r.expectEnd();
    assert.throws(() => new BinaryReader(Uint8Array.of(1, 2, 3)).u32(), isMalformed);
  });

  it('returns bytes as zero-copy views of the input', () => {
    const enc = new BinaryWriter().bytes(Uint8Array.of(9, 8, 7)).finish();
    const out = new BinaryReader(enc).bytes();
    assert.deepEqual(out, Uint8Array.of(9, 8, 7));
    assert.equal(out.buffer, enc.buffer);
  });

  it('grows by doubling and finish() is a view without copying', () => {
    const w = new BinaryWriter(16);
    for (let i = 0; i < 1000; i++) w.u8(i & 0xff);
    assert.equal(w.length, 1000);
    assert.ok(w.growths <= 6, `growths ${w.growths}`);
    const out = w.finish();
    assert.equal(out.length, 1000);
    assert.equal(out[999], 999 & 0xff);
    assert.ok(out.buffer.byteLength >= 1000);
    const w2 = new BinaryWriter(1024);
    w2.raw(new Uint8Array(1000));
    assert.equal(w2.growths, 0);
  });

  it('u32 is little-endian and patchable', () => {
    const w = new BinaryWriter();
    w.u32(0);
    w.u8(7);
    w.patchU32(0, 0xdeadbeef);
    assert.equal(hex(w.finish()), 'efbeadde07');
    assert.equal(new BinaryReader(w.finish()).u32(), 0xdeadbeef);
  });

  it('mixed sequences round-trip', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.record({ t: fc.constant('v' as const), v: fc.maxSafeNat() }),
            fc.record({ t: fc.constant('u' as const), v: fc.bigInt({ min: 0n, max: MAX_U64 }) }),
            fc.record({ t: fc.constant('b' as const), v: fc.uint8Array({ maxLength: 300 }) }),
            fc.record({ t: fc.constant('s' as const), v: fc.string({ unit: 'binary' }) }),
            fc.record({ t: fc.constant('o' as const), v: fc.boolean() }),
          ),
        ),
        (items) => {
          const w = new BinaryWriter(1);
          for (const it of items) {
            if (it.t === 'v') w.varuint(it.v);
            else if (it.t === 'u') w.u64(it.v);
            else if (it.t === 'b') w.bytes(it.v);
            else if (it.t === 's') w.string(it.v);
            else w.bool(it.v);
          }
          const r = new BinaryReader(w.finish());
          for (const it of items) {
            if (it.t === 'v') assert.equal(r.varuint(), it.v);
            else if (it.t === 'u') assert.equal(r.u64(), it.v);
            else if (it.t === 'b') assert.deepEqual(r.bytes(), it.v);
            else if (it.t === 's') assert.equal(r.string(), it.v);
            else assert.equal(r.bool(), it.v);
          }
          r.expectEnd();
        },
      ),
    );
  });
});
