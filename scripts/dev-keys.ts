// The local development signing key: one ES256 key pair persisted under `<dir>/keys/` so tokens
// minted by `npm start` or `cellkv token` stay valid across restarts. The gateway only ever
// sees the public half (jwks.json); the private JWK is written owner-only.
//
// Files:  dev-key.json  {kid, alg, issuer, audience, privateJwk}   (mode 0600)
//         jwks.json     {keys:[public JWK]}                           (what --jwks-file reads)

import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const DEV_ISSUER = 'https://dev.cellkv.local';
export const DEV_AUDIENCE = 'cellkv';
export const DEV_ALG = 'ES256';
export const ALL_SCOPES = 'kv:read kv:write kv:admin';

export interface DevKeys {
  readonly dir: string;
  readonly jwksFile: string;
  readonly kid: string;
  readonly alg: string;
  readonly issuer: string;
  readonly audience: string;
  readonly privateJwk: JWK;
  /** True when this call generated the key (first start). */
  readonly created: boolean;
}

interface KeyFile {
  readonly kid: string;
  readonly alg: string;
  readonly issuer: string;
  readonly audience: string;
  readonly privateJwk: JWK;
}

export class DevKeyError extends Error {
  readonly code = 'DEV_KEY_UNAVAILABLE';
  constructor(
    message: string,
    /** The key file does not exist (as opposed to existing but being unusable). */
    readonly missing = false,
  ) {
    super(message);
    this.name = 'DevKeyError';
  }
}

const KEY_FILE = 'dev-key.json';
const JWKS_FILE = 'jwks.json';

function publicOf(jwk: JWK, kid: string, alg: string): JWK {
  const { d: _d, ...pub } = jwk;
  return { ...pub, kid, alg, use: 'sig' };
}

/** Atomic write (temp file + rename) so a crash never leaves a half-written key. */
async function writeAtomic(file: string, text: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, file);
}

/** Reads the dev key from `keysDir`; DevKeyError when there is none or it is unreadable. */
export async function loadDevKeys(keysDir: string): Promise<DevKeys> {
  let text: string;
  try {
    text = await readFile(join(keysDir, KEY_FILE), 'utf8');
  } catch {
    throw new DevKeyError(`no dev key in ${keysDir} (run \`npm start\` once, or pass --keys-dir)`, true);
  }
  let k: KeyFile;
  try {
    k = JSON.parse(text) as KeyFile;
  } catch {
    throw new DevKeyError(`${join(keysDir, KEY_FILE)} is not valid JSON; delete it to generate a new key`);
  }
  if (typeof k.kid !== 'string' || typeof k.privateJwk?.d !== 'string') throw new DevKeyError(`${join(keysDir, KEY_FILE)} holds no private key`);
  return { dir: keysDir, jwksFile: join(keysDir, JWKS_FILE), kid: k.kid, alg: k.alg, issuer: k.issuer, audience: k.audience, privateJwk: k.privateJwk, created: false };
}

/** Loads the dev key, generating and persisting one when `keysDir` has none. */
export async function ensureDevKeys(keysDir: string): Promise<DevKeys> {
  await mkdir(keysDir, { recursive: true, mode: 0o700 });
  try {
    const keys = await loadDevKeys(keysDir);
    // Rewrite the public JWKS every time: cheap, and repairs a deleted or edited file.
    await writeAtomic(keys.jwksFile, JSON.stringify({ keys: [publicOf(keys.privateJwk, keys.kid, keys.alg)] }, null, 2), 0o644);
    return keys;
  } catch (e) {
    if (!(e instanceof DevKeyError && e.missing)) throw e;
  }
  const { privateKey } = await generateKeyPair(DEV_ALG, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  const kid = `dev-${new Date().toISOString().slice(0, 10)}-${Math.random().toString(36).slice(2, 8)}`;
  const file: KeyFile = { kid, alg: DEV_ALG, issuer: DEV_ISSUER, audience: DEV_AUDIENCE, privateJwk };
  await writeAtomic(join(keysDir, KEY_FILE), JSON.stringify(file, null, 2), 0o600);
  await writeAtomic(join(keysDir, JWKS_FILE), JSON.stringify({ keys: [publicOf(privateJwk, kid, DEV_ALG)] }, null, 2), 0o644);
  return { ...file, dir: keysDir, jwksFile: join(keysDir, JWKS_FILE), created: true };
}

/** `24h`, `30m`, `7d`, `3600s` or plain seconds → seconds. */
export function parseTtl(s: string): number {
  const m = /^([1-9][0-9]{0,9})(s|m|h|d)?$/.exec(s.trim());
  if (!m) throw new DevKeyError(`--ttl "${s}" must look like 3600, 90s, 30m, 24h or 7d`);
  const mult = { s: 1, m: 60, h: 3600, d: 86400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * mult;
}

export interface MintOptions {
  readonly tenant: string;
  readonly scopes: string;
  readonly ttlSeconds: number;
  readonly subject?: string;
}

/** A JWT the local gateway accepts: iss/aud/exp set, tenant in `tenant`, scopes in `scope`. */
export async function mintDevToken(keys: DevKeys, o: MintOptions): Promise<string> {
  const key = await importJWK(keys.privateJwk, keys.alg);
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant: o.tenant, scope: o.scopes.split(/[\s,]+/).filter(Boolean).join(' ') })
    .setProtectedHeader({ alg: keys.alg, kid: keys.kid, typ: 'JWT' })
    .setIssuer(keys.issuer)
    .setAudience(keys.audience)
    .setSubject(o.subject ?? `dev:${o.tenant}`)
    .setIssuedAt(now)
    .setExpirationTime(now + o.ttlSeconds)
    .sign(key);
}
