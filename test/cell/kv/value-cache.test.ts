// The value cache's byte bound: it never holds more than its bound after a write or fill,
// evicts the least recently written keys first, and evicts only as much as it must.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ValueCache } from '../../../cell/kv/value-cache.js';
import type { StoredValue } from '../../../cell/storage/records.js';

const MAX_BYTES = 4096;
const value = (bytes: number, version = 1n): StoredValue => ({
  value: new Uint8Array(bytes),
  meta: { version, createdAt: 1, updatedAt: 1, expiresAt: null, attrs: {} },
});

describe('value cache byte bound', () => {
  test('never holds more than its bound, evicting the oldest writes first', () => {
    const cache = new ValueCache(MAX_BYTES);
    const keys = Array.from({ length: 20 }, (_, i) => `k${String(i).padStart(2, '0')}`);
    for (const k of keys) {
      cache.write(k, value(1000));
      assert.ok(cache.sizeBytes <= MAX_BYTES, `${cache.sizeBytes} bytes held after writing ${k}, bound ${MAX_BYTES}`);
      assert.ok(cache.get(k) !== undefined, `the key just written (${k}) is cached`);
    }
    // Entries of over 1000 bytes each: at most four fit, so most keys were evicted.
    assert.ok(cache.size >= 1 && cache.size <= 4, `${cache.size} entries held`);
    const held = keys.filter((k) => cache.get(k) !== undefined);
    assert.deepEqual(held, keys.slice(keys.length - cache.size), 'the most recently written keys stay');
    // Only what must go goes: one more entry of the same size would not fit.
    const perEntry = cache.sizeBytes / cache.size;
    assert.ok(cache.sizeBytes + perEntry > MAX_BYTES, `evicted more than needed: ${cache.size} entries, ${cache.sizeBytes} bytes`);
  });

  test('rewriting a key replaces its bytes instead of adding them, and makes it the newest', () => {
    const cache = new ValueCache(MAX_BYTES);
    cache.write('a', value(1000));
    cache.write('b', value(1000));
    const twoEntries = cache.sizeBytes;
    for (let i = 0; i < 100; i++) cache.write('a', value(1000, BigInt(i + 2)));
    assert.equal(cache.size, 2);
    assert.equal(cache.sizeBytes, twoEntries);
    assert.equal(cache.get('a')?.meta.version, 101n);
    // 'b' is now the least recently written: the next evictions take it before 'a'.
    cache.write('c', value(1000));
    cache.write('d', value(1000));
    assert.equal(cache.get('b'), undefined);
    assert.ok(cache.get('a') !== undefined);
    assert.ok(cache.sizeBytes <= MAX_BYTES);
  });

  test('known-absent keys and LevelDB fills count against the bound too', () => {
    const cache = new ValueCache(MAX_BYTES);
    for (let i = 0; i < 200; i++) {
      cache.write(`absent-${i}`, null);
      cache.fill(`filled-${i}`, value(300), cache.writeEpoch);
      assert.ok(cache.sizeBytes <= MAX_BYTES, `${cache.sizeBytes} bytes after ${i + 1} rounds`);
    }
    assert.ok(cache.size < 400, 'absent keys were evicted as well');
    assert.equal(cache.get('absent-0'), undefined);
  });

  test('a value larger than the bound is not kept; a zero bound caches nothing; clear empties', () => {
    const cache = new ValueCache(MAX_BYTES);
    cache.write('small', value(10));
    cache.write('huge', value(MAX_BYTES + 1));
    assert.equal(cache.get('huge'), undefined);
    assert.ok(cache.sizeBytes <= MAX_BYTES);
    cache.write('small', value(10));
    cache.clear();
    assert.equal(cache.size, 0);
    assert.equal(cache.sizeBytes, 0);
    const off = new ValueCache(0);
    off.write('k', value(1));
    assert.equal(off.get('k'), undefined);
    assert.equal(off.sizeBytes, 0);
  });
});
