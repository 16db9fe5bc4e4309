// Test support for gateway tests: real signing keys and a JWKS file in a temp dir, token
// minting with jose, an in-process gateway on a free port, and a raw HTTP client (fetch would
// normalize paths such as `/v1/kv/a/../b`, which are legal keys here).

import { request as httpRequest } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { silentLogger } from '../../gateway/log.js';
import { startGateway, type Gateway } from '../../gateway/server.js';
import type { GatewayConfigInput } from '../../gateway/config.js';

export const ISSUER = 'https://auth.test.cellkv';
export const AUDIENCE = 'cellkv-api';

export interface TestKeys {
  readonly dir: string;
  readonly jwksFile: string;
  readonly rsa: { privateKey: CryptoKey; publicJwk: JWK };
  readonly ec: { privateKey: CryptoKey; publicJwk: JWK };
  /** A key pair that is NOT in the JWKS. */
  readonly stranger: { privateKey: CryptoKey };
  cleanup(): Promise<void>;
}

export async function makeKeys(): Promise<TestKeys> {
  const dir = await mkdtemp(join(tmpdir(), 'cellkv-gw-keys-'));
  const rsa = await generateKeyPair('RS256', { extractable: true });
  const ec = await generateKeyPair('ES256', { extractable: true });
  const stranger = await generateKeyPair('RS256');
  const rsaJwk = { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' };
  const ecJwk = { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' };
  const jwksFile = join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [rsaJwk, ecJwk] }));
  return {
    dir,
    jwksFile,
    rsa: { privateKey: rsa.privateKey, publicJwk: rsaJwk },
    ec: { privateKey: ec.privateKey, publicJwk: ecJwk },
    stranger: { privateKey: stranger.privateKey },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface TokenOptions {
  readonly tenant?: string | null;
  readonly scope?: string | null;
  readonly scp?: string[];
  readonly iss?: string;
  readonly aud?: string;
  readonly expSecondsFromNow?: number | null;
  readonly nbfSecondsFromNow?: number;
  readonly kid?: string;
  readonly key?: 'rsa' | 'ec' | 'stranger';
  readonly extra?: Record<string, unknown>;
}

export async function mintToken(keys: TestKeys, o: TokenOptions = {}): Promise<string> {
  const claims: Record<string, unknown> = { ...(o.extra ?? {}) };
  if (o.tenant !== null) claims['tenant'] = o.tenant ?? 'acme';
  if (o.scope !== null) claims['scope'] = o.scope ?? 'kv:read kv:write';
  if (o.scp) claims['scp'] = o.scp;
  const which = o.key ?? 'rsa';
  const alg = which === 'ec' ? 'ES256' : 'RS256';
  const kid = o.kid ?? (which === 'ec' ? 'ec-1' : 'rsa-1');
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims).setProtectedHeader({ alg, kid }).setIssuer(o.iss ?? ISSUER).setAudience(o.aud ?? AUDIENCE).setIssuedAt(now).setSubject('test-user');
  if (o.expSecondsFromNow !== null) jwt = jwt.setExpirationTime(now + (o.expSecondsFromNow ?? 600));
  if (o.nbfSecondsFromNow !== undefined) jwt = jwt.setNotBefore(now + o.nbfSecondsFromNow);
  const key = which === 'ec' ? keys.ec.privateKey : which === 'stranger' ? keys.stranger.privateKey : keys.rsa.privateKey;
  return jwt.sign(key);
}

export async function startTestGateway(natsUrl: string, keys: TestKeys, extra: Partial<GatewayConfigInput> = {}): Promise<Gateway> {
  const gw = await startGateway({
    port: 0,
    natsServers: [natsUrl],
    auth: { jwksFile: keys.jwksFile, issuer: ISSUER, audience: AUDIENCE, tenantClaim: 'tenant' },
    logger: silentLogger(),
    ...extra,
  });
  if (!(await gw.waitReady(15_000))) throw new Error('gateway did not become ready');
  return gw;
}

export interface RawResponse {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  json<T = Record<string, unknown>>(): T;
  text(): string;
}

/** An HTTP request with the path sent exactly as given. */
export function raw(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Uint8Array | string): Promise<RawResponse> {
  const u = new URL(base);
  // Frame bodies explicitly: Node does not for GET/DELETE, and the bytes would read as garbage.
  const framed = body !== undefined && !Object.keys(headers).some((h) => /^(content-length|transfer-encoding)$/i.test(h))
    ? { ...headers, 'content-length': String(typeof body === 'string' ? Buffer.byteLength(body) : body.length) }
    : headers;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, method, path, headers: framed, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: buf,
          json: <T>() => JSON.parse(buf.toString('utf8')) as T,
          text: () => buf.toString('utf8'),
        });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (body !== undefined) req.end(body);
    else req.end();
  });
}

/** Percent-encodes every byte (so any key can be put in a path). */
export function pctAll(b: Uint8Array): string {
  return [...b].map((x) => `%${x.toString(16).padStart(2, '0').toUpperCase()}`).join('');
}

export const te = new TextEncoder();
