import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyExpire, applyWrite, isLive, versionFor, type ApplyView } from '../../../cell/kv/kv-apply.js';
import type { CellOp, WriteCommand } from '../../../shared/cell-protocol.js';
import type { StoredValue } from '../../../shared/codec/index.js';
import { namespacedKey } from '../../../shared/keys.js';

const enc = (s: string) => new TextEncoder().encode(s);

class MapView implements ApplyView {
  readonly m = new Map<string, StoredValue>();
  async get(k: Uint8Array) {
    return this.m.get(Buffer.from(k).toString('hex')) ?? null;
  }
  async put(k: Uint8Array, v: StoredValue) {
    this.m.set(Buffer.from(k).toString('hex'), v);
  }
  async del(k: Uint8Array) {
    this.m.delete(Buffer.from(k).toString('hex'));
  }
}

const put = (key: string, value: string, o: Partial<Extract<CellOp, { op: 'put' }>> = {}): CellOp => ({
  op: 'put', key: enc(key), value: enc(value), ttlMs: null, ifVersion: null, ifAbsent: false, attrs: null, ...o,
});
const del = (key: string, ifVersion: bigint | null = null): CellOp => ({ op: 'delete', key: enc(key), ifVersion });
const cmd = (ops: CellOp[], nowMs = 1000, atomic = false): WriteCommand => ({ kind: 'write', requestId: 'r', tenant: 't1', nowMs, atomic, ops });

test('versions strictly increase across overwrite and delete-and-recreate', async () => {
  const v = new MapView();
  const r1 = await applyWrite(cmd([put('k', 'a')]), 10, 0, v);
  const r2 = await applyWrite(cmd([put('k', 'b')]), 11, 0, v);
  await applyWrite(cmd([del('k')]), 12, 0, v);
  const r4 = await applyWrite(cmd([put('k', 'c')]), 13, 0, v);
  const versions = [r1, r2, r4].map((r) => (r[0]!.status === 'ok' ? r[0]!.meta!.version : -1n));
  assert.deepEqual(versions, [versionFor(10, 0), versionFor(11, 0), versionFor(13, 0)]);
  assert.ok(versions[0]! < versions[1]! && versions[1]! < versions[2]!);
});

test('compare-and-set succeeds only on the current version and reports it otherwise', async () => {
  const v = new MapView();
  await applyWrite(cmd([put('k', 'a')]), 5, 0, v);
  const stale = await applyWrite(cmd([put('k', 'x', { ifVersion: 123n })]), 6, 0, v);
  assert.equal(stale[0]!.status, 'error');
  assert.deepEqual(stale[0], { status: 'error', code: 'VERSION_MISMATCH', message: stale[0]!.status === 'error' ? stale[0]!.message : '', currentVersion: versionFor(5, 0) });
  const ok = await applyWrite(cmd([put('k', 'y', { ifVersion: versionFor(5, 0) })]), 7, 0, v);
  assert.equal(ok[0]!.status, 'ok');
  const created = await applyWrite(cmd([put('k', 'z', { ifAbsent: true })]), 8, 0, v);
  assert.equal(created[0]!.status === 'error' && created[0]!.code, 'ALREADY_EXISTS');
});

test('an atomic batch applies all or nothing', async () => {
  const v = new MapView();
  await applyWrite(cmd([put('a', '1')]), 1, 0, v);
  const r = await applyWrite(cmd([put('b', '2'), put('a', '3', { ifVersion: 999n })], 1000, true), 2, 0, v);
  assert.ok(r.every((x) => x.status === 'error'));
  assert.equal(await v.get(namespacedKey('t1', enc('b'))), null, 'nothing written');
  const ok = await applyWrite(cmd([put('b', '2'), put('a', '3', { ifVersion: versionFor(1, 0) })], 1000, true), 3, 0, v);
  assert.ok(ok.every((x) => x.status === 'ok'));
});

test('TTL: expired keys are absent and reclaimed only while still expired', async () => {
  const v = new MapView();
  await applyWrite(cmd([put('k', 'a', { ttlMs: 100 })], 1000), 1, 0, v);
  const sv = await v.get(namespacedKey('t1', enc('k')));
  assert.equal(sv!.meta.expiresAt, 1100);
  assert.ok(isLive(sv, 1099));
  assert.ok(!isLive(sv, 1100));
  // An expired key counts as absent for create-only writes.
  const r = await applyWrite(cmd([put('k', 'b', { ifAbsent: true })], 2000), 2, 0, v);
  assert.equal(r[0]!.status, 'ok');
  const n = await applyExpire({ kind: 'expire', nowMs: 2000, keys: [namespacedKey('t1', enc('k'))] }, v);
  assert.equal(n, 0, 'the rewritten key is not expired');
});
