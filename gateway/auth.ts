// Tenant authentication: `Authorization: Bearer <JWT>` verified with jose against a JWKS (a
// local file by default, a URL with caching in production). Only asymmetric algorithms are
// accepted, so a public key can never be used as an HMAC secret, and `none` never passes.
// The tenant and scopes come from the token alone; both front doors use this verifier.

import { readFile, stat } from 'node:fs/promises';
import { createLocalJWKSet, createRemoteJWKSet, errors as joseErrors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { KvError } from '../shared/errors.js';
import { validateTenant } from '../shared/keys.js';

export type Scope = 'kv:read' | 'kv:write' | 'kv:admin';

export interface Principal {
  readonly tenant: string;
  readonly scopes: ReadonlySet<string>;
  /** The token's `sub`, for logs. */
  readonly subject: string | null;
}

export const DEFAULT_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;

export interface AuthConfig {
  readonly jwksFile?: string | undefined;
  readonly jwksUrl?: string | undefined;
  readonly issuer: string;
  readonly audience: string;
  readonly tenantClaim: string;
  readonly algorithms?: readonly string[] | undefined;
  readonly clockToleranceS?: number | undefined;
}

const MAX_TOKEN_CHARS = 16 * 1024;
const FILE_RELOAD_MIN_MS = 10_000;
/**
 * Verified tokens are remembered: a signature check (ES256: ~0.1 ms of CPU) on every request
 * was the gateway's largest single cost. Bounded in entries and in age (a key removed from a
 * remote JWKS stops being honoured within this time); exp/nbf are re-checked on every hit.
 */
const VERIFIED_CACHE_MAX = 10_000;
const VERIFIED_CACHE_TTL_MS = 60_000;

interface VerifiedToken {
  readonly principal: Principal;
  /** Milliseconds since the epoch; the token is refused from then on (incl. tolerance). */
  readonly expiresAtMs: number;
  readonly notBeforeMs: number;
  readonly cachedUntilMs: number;
}

const unauthenticated = (why: string) => new KvError('UNAUTHENTICATED', why);

export class TokenVerifier {
  private keys: JWTVerifyGetKey;
  private fileMtimeMs = 0;
  private lastReloadCheck = 0;
  private readonly algorithms: string[];
  private readonly remote: boolean;
  private readonly verified = new Map<string, VerifiedToken>();

  private constructor(
    private readonly cfg: AuthConfig,
    keys: JWTVerifyGetKey,
  ) {
    this.keys = keys;
    this.remote = !!cfg.jwksUrl;
    this.algorithms = [...(cfg.algorithms ?? DEFAULT_ALGORITHMS)];
    for (const a of this.algorithms) {
      if (a === 'none' || /^HS/i.test(a)) throw new Error(`algorithm ${a} is not allowed: only asymmetric signatures (RS*, PS*, ES*, EdDSA)`);
    }
  }

  static async create(cfg: AuthConfig): Promise<TokenVerifier> {
    if (!cfg.issuer || !cfg.audience) throw new Error('auth needs an expected issuer and audience');
    if (cfg.jwksUrl) {
      const url = new URL(cfg.jwksUrl);
      const remote = createRemoteJWKSet(url, { cacheMaxAge: 10 * 60_000, cooldownDuration: 30_000, timeoutDuration: 5000 });
      return new TokenVerifier(cfg, remote);
    }
    if (!cfg.jwksFile) throw new Error('auth needs --jwks-file or --jwks-url');
    const v = new TokenVerifier(cfg, createLocalJWKSet({ keys: [] }));
    await v.loadFile();
    return v;
  }

  /** Reads the local JWKS; symmetric keys are refused so no shared secret can sign tokens. */
  private async loadFile(): Promise<void> {
    const file = this.cfg.jwksFile!;
    const st = await stat(file);
    const jwks = JSON.parse(await readFile(file, 'utf8')) as JSONWebKeySet;
    if (!jwks || !Array.isArray(jwks.keys)) throw new Error(`${file}: not a JWKS (no "keys" array)`);
    for (const k of jwks.keys) {
      if (k.kty === 'oct' || 'd' in k) throw new Error(`${file}: only public asymmetric keys belong in the JWKS`);
    }
    this.keys = createLocalJWKSet(jwks);
    this.fileMtimeMs = st.mtimeMs;
    this.verified.clear(); // a key may have been removed: verify everything again
  }

  /** Picks up a rotated local JWKS when a token names a key we do not have (rate-limited). */
  private async maybeReload(): Promise<boolean> {
    if (!this.cfg.jwksFile || Date.now() - this.lastReloadCheck < FILE_RELOAD_MIN_MS) return false;
    this.lastReloadCheck = Date.now();
    const st = await stat(this.cfg.jwksFile).catch(() => null);
    if (!st || st.mtimeMs === this.fileMtimeMs) return false;
    await this.loadFile().catch(() => undefined);
    return true;
  }

  /** Verifies an Authorization header value; UNAUTHENTICATED when it does not prove a tenant. */
  async verify(authorization: string | null | undefined): Promise<Principal> {
    if (!authorization) throw unauthenticated('missing Authorization: Bearer <token>');
    const m = /^Bearer[ ]+([A-Za-z0-9_\-.=]+)[ ]*$/i.exec(authorization);
    if (!m) throw unauthenticated('Authorization must be "Bearer <JWT>"');
    const token = m[1]!;
    if (token.length > MAX_TOKEN_CHARS) throw unauthenticated('token is too long');
    const now = Date.now();
    const hit = this.verified.get(token);
    if (hit !== undefined) {
      if (now < hit.cachedUntilMs && now < hit.expiresAtMs && now >= hit.notBeforeMs) return hit.principal;
      this.verified.delete(token); // expired, or re-verify for exact errors and fresh keys
    }
    let payload: JWTPayload;
    try {
      payload = await this.verifyToken(token);
    } catch (e) {
      if (e instanceof joseErrors.JWKSNoMatchingKey && (await this.maybeReload())) payload = await this.verifyToken(token).catch((e2: unknown) => { throw mapJoseError(e2, this.remote); });
      else throw mapJoseError(e, this.remote);
    }
    const tenant = payload[this.cfg.tenantClaim];
    if (typeof tenant !== 'string') throw unauthenticated(`token has no "${this.cfg.tenantClaim}" claim naming the tenant`);
    try {
      validateTenant(tenant);
    } catch {
      throw unauthenticated(`token's "${this.cfg.tenantClaim}" claim is not a valid tenant name`);
    }
    const principal: Principal = { tenant, scopes: scopesOf(payload), subject: typeof payload.sub === 'string' ? payload.sub : null };
    this.remember(token, principal, payload, now);
    return principal;
  }

  private remember(token: string, principal: Principal, payload: JWTPayload, now: number): void {
    const toleranceMs = (this.cfg.clockToleranceS ?? 5) * 1000;
    if (typeof payload.exp !== 'number') return;
    if (this.verified.size >= VERIFIED_CACHE_MAX) {
      // Evict the oldest insertion (Map keeps insertion order): bounded, O(1).
      const oldest = this.verified.keys().next();
      if (!oldest.done) this.verified.delete(oldest.value);
    }
    this.verified.set(token, {
      principal,
      expiresAtMs: payload.exp * 1000 + toleranceMs,
      notBeforeMs: typeof payload.nbf === 'number' ? payload.nbf * 1000 - toleranceMs : 0,
      cachedUntilMs: now + VERIFIED_CACHE_TTL_MS,
    });
  }

  private async verifyToken(token: string): Promise<JWTPayload> {
    const { payload } = await jwtVerify(token, this.keys, {
      issuer: this.cfg.issuer,
      audience: this.cfg.audience,
      algorithms: this.algorithms,
      requiredClaims: ['iss', 'aud', 'exp'],
      clockTolerance: this.cfg.clockToleranceS ?? 5,
    });
    return payload;
  }
}

function scopesOf(p: JWTPayload): Set<string> {
  const out = new Set<string>();
  const scope = p['scope'];
  if (typeof scope === 'string') for (const s of scope.split(/\s+/)) if (s) out.add(s);
  const scp = p['scp'];
  if (Array.isArray(scp)) for (const s of scp) if (typeof s === 'string') out.add(s);
  if (typeof scp === 'string') for (const s of scp.split(/\s+/)) if (s) out.add(s);
  return out;
}

/** Turns jose's errors into stable codes; a JWKS we cannot fetch is our outage, not the caller's fault. */
function mapJoseError(e: unknown, remote: boolean): KvError {
  if (e instanceof KvError) return e;
  if (e instanceof joseErrors.JWTExpired) return unauthenticated('token expired');
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return unauthenticated('token is not valid yet (nbf)');
    if (e.claim === 'iss') return unauthenticated('token issuer is not accepted');
    if (e.claim === 'aud') return unauthenticated('token audience is not accepted');
    return unauthenticated(`token claim "${e.claim}" is invalid: ${e.reason}`);
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return unauthenticated('token algorithm is not allowed');
  if (e instanceof joseErrors.JWKSNoMatchingKey) return unauthenticated('no known key matches the token (kid/alg)');
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return unauthenticated('token signature is invalid');
  if (e instanceof joseErrors.JWKSTimeout) return new KvError('UNAVAILABLE', 'cannot fetch the JWKS to verify the token; retry shortly');
  if (e instanceof joseErrors.JOSEError || !remote) return unauthenticated('token is malformed or unsupported');
  // Anything else while fetching a remote JWKS (network, DNS) is an outage on our side.
  return new KvError('UNAVAILABLE', 'cannot fetch the JWKS to verify the token; retry shortly');
}

/** PERMISSION_DENIED unless the principal holds `scope`. */
export function requireScope(p: Principal, scope: Scope): void {
  if (!p.scopes.has(scope)) throw new KvError('PERMISSION_DENIED', `token lacks the ${scope} scope`);
}

export type ApiOp = 'get' | 'put' | 'delete' | 'batch' | 'scan';

/**
 * The scope check both front doors make before parsing input. A batch's exact needs depend on
 * its ops (the core checks them); here it must hold at least one of read and write.
 */
export function requireOpScope(p: Principal, op: ApiOp): void {
  if (op === 'get' || op === 'scan') requireScope(p, 'kv:read');
  else if (op === 'put' || op === 'delete') requireScope(p, 'kv:write');
  else if (!p.scopes.has('kv:read') && !p.scopes.has('kv:write')) throw new KvError('PERMISSION_DENIED', 'token lacks the kv:read and kv:write scopes');
}
