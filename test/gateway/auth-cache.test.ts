// The verified-token cache: a token verified once is answered from memory, but never past its
// exp (or before its nbf), and a rotated JWKS file drops what was verified with the old keys.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { TokenVerifier } from '../../gateway/auth.js';
import { KvError } from '../../shared/errors.js';
import { AUDIENCE, ISSUER, makeKeys, mintToken, type TestKeys } from './support.js';

let keys: TestKeys;
before(async () => {
  keys = await makeKeys();
});
after(async () => keys?.cleanup());

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    assert.ok(e instanceof KvError, String(e));
    return e.code;
  }
}

test('a cached token still expires at its exp', async () => {
  const v = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant', clockToleranceS: 0 });
  const token = await mintToken(keys, { tenant: 'acme', expSecondsFromNow: 2 });
  const first = await v.verify(`Bearer ${token}`);
  const second = await v.verify(`Bearer ${token}`);
  assert.equal(second, first, 'the second verification is served from the cache (same principal object)');
  // exp has second granularity: wait until it has surely passed.
  await sleep(3100);
  assert.equal(await codeOf(v.verify(`Bearer ${token}`)), 'UNAUTHENTICATED');
});

test('a cached token is not valid before its nbf', async () => {
  const v = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant', clockToleranceS: 0 });
  const token = await mintToken(keys, { tenant: 'acme', nbfSecondsFromNow: 5 });
  assert.equal(await codeOf(v.verify(`Bearer ${token}`)), 'UNAUTHENTICATED');
  assert.equal(await codeOf(v.verify(`Bearer ${token}`)), 'UNAUTHENTICATED', 'a refused token is never cached');
});

test('a token that fails verification is refused every time, whatever was cached before', async () => {
  const v = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' });
  const good = await mintToken(keys, { tenant: 'acme' });
  await v.verify(`Bearer ${good}`);
  // Same header and payload, one signature character changed: a different token string, so no
  // hit. A middle character: the last one of a base64url signature carries padding bits, so
  // changing it may leave the decoded signature (and the verdict) unchanged.
  const parts = good.split('.');
  const sig = parts[2]!;
  const mid = Math.floor(sig.length / 2);
  const tampered = `${parts[0]}.${parts[1]}.${sig.slice(0, mid)}${sig[mid] === 'A' ? 'B' : 'A'}${sig.slice(mid + 1)}`;
  assert.equal(await codeOf(v.verify(`Bearer ${tampered}`)), 'UNAUTHENTICATED');
});

test('reloading a rotated JWKS file forgets tokens verified with the old keys', async () => {
  const v = await TokenVerifier.create({ jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' });
  const token = await mintToken(keys, { tenant: 'acme' });
  await v.verify(`Bearer ${token}`);
  // Rotate: a JWKS without any of the old keys. A token naming an unknown kid triggers the
  // (rate-limited) reload; after it, the old token must be verified again, and fail.
  await writeFile(keys.jwksFile, JSON.stringify({ keys: [] }));
  const stranger = await mintToken(keys, { tenant: 'acme', kid: 'unknown-kid' });
  assert.equal(await codeOf(v.verify(`Bearer ${stranger}`)), 'UNAUTHENTICATED');
  assert.equal(await codeOf(v.verify(`Bearer ${token}`)), 'UNAUTHENTICATED');
});
