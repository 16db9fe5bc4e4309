// How a chaos client talks to cellkv. A driver turns one operation into an outcome for the
// history: `ok` with the checker's output, `fail` (definitely not applied) or `unknown`.
// Two drivers: CellClient over NATS (the cells directly) and HTTP through a gateway.
//
// Outcome rules (the error contract of DESIGN.md): OUTCOME_UNKNOWN, timeouts, transport
// errors and anything unexpected are `unknown`; UNAVAILABLE / 503 and 429 are `fail`, because
// the client and gateway promise them only when nothing was sent that could still apply
// (a post-send timeout becomes OUTCOME_UNKNOWN / 504). If a `fail` write later shows up as
// applied, that is a bug in that promise, which the checker will report.

import type { NatsConnection } from '@nats-io/transport-node';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { writeFile } from 'node:fs/promises';
import type { OpResult } from '../shared/cell-protocol.js';
import { CellClient } from '../shared/cell-client.js';
import { KvError } from '../shared/errors.js';
import type { HistoryOutput } from '../shared/lincheck/index.js';

export type OpOutcome =
  | { readonly outcome: 'ok'; readonly output: HistoryOutput }
  | { readonly outcome: 'fail' | 'unknown'; readonly error: string };

export interface KvDriver {
  /** e.g. "nats-az1" or "gw-a". */
  readonly label: string;
  get(key: string): Promise<OpOutcome>;
  put(key: string, value: string): Promise<OpOutcome>;
  del(key: string): Promise<OpOutcome>;
  cas(key: string, ifVersion: bigint, value: string): Promise<OpOutcome>;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | null) => (b === null ? '' : new TextDecoder().decode(b));

function unknown(error: string): OpOutcome {
  return { outcome: 'unknown', error };
}

function errorOutcome(e: unknown, isRead: boolean): OpOutcome {
  if (e instanceof KvError) {
    if (e.code === 'UNAVAILABLE') return { outcome: 'fail', error: `UNAVAILABLE: ${e.message}` };
    return isRead ? { outcome: 'fail', error: `${e.code}: ${e.message}` } : unknown(`${e.code}: ${e.message}`);
  }
  return isRead ? { outcome: 'fail', error: String(e) } : unknown(String(e));
}

/** An op-level result the op cannot produce (e.g. a plain put refused): unknown, and noted. */
function unexpected(r: OpResult): OpOutcome {
  return unknown(`unexpected result ${r.status === 'error' ? r.code : 'ok'}`);
}

export class CellDriver implements KvDriver {
  private readonly client: CellClient;

  constructor(
    readonly label: string,
    nc: NatsConnection,
    private readonly tenant: string,
    opts: { attemptTimeoutMs: number; maxAttempts: number },
  ) {
    this.client = new CellClient(nc, opts);
  }

  async get(key: string): Promise<OpOutcome> {
    try {
      const { result: r } = await this.client.get(this.tenant, enc(key));
      if (r.status !== 'ok') return { outcome: 'fail', error: `get refused: ${r.code}` };
      if (!r.found || !r.meta) return { outcome: 'ok', output: { found: false } };
      return { outcome: 'ok', output: { found: true, value: dec(r.value), version: r.meta.version.toString() } };
    } catch (e) {
      return errorOutcome(e, true);
    }
  }

  async put(key: string, value: string): Promise<OpOutcome> {
    try {
      const { result: r } = await this.client.put(this.tenant, enc(key), enc(value));
      if (r.status !== 'ok' || !r.meta) return unexpected(r);
      return { outcome: 'ok', output: { version: r.meta.version.toString() } };
    } catch (e) {
      return errorOutcome(e, false);
    }
  }

  async del(key: string): Promise<OpOutcome> {
    try {
      const { result: r } = await this.client.delete(this.tenant, enc(key));
      if (r.status !== 'ok') return unexpected(r);
      return { outcome: 'ok', output: { existed: r.found } };
    } catch (e) {
      return errorOutcome(e, false);
    }
  }

  async cas(key: string, ifVersion: bigint, value: string): Promise<OpOutcome> {
    try {
      const { result: r } = await this.client.put(this.tenant, enc(key), enc(value), { ifVersion });
      if (r.status === 'ok' && r.meta) return { outcome: 'ok', output: { swapped: true, version: r.meta.version.toString() } };
      if (r.status === 'error' && r.code === 'VERSION_MISMATCH') {
        return { outcome: 'ok', output: { swapped: false, currentVersion: r.currentVersion === null ? null : r.currentVersion.toString() } };
      }
      return unexpected(r);
    } catch (e) {
      return errorOutcome(e, false);
    }
  }
}

// ---------------------------------------------------------------- gateway (HTTP)

export const GATEWAY_ISSUER = 'https://chaos.cellkv.local';
export const GATEWAY_AUDIENCE = 'cellkv-chaos';

/** A signing key, its JWKS file for the gateways, and a token for the chaos tenant. */
export async function makeGatewayAuth(jwksFile: string, tenant: string): Promise<{ token: string }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid: 'chaos-1', alg: 'ES256', use: 'sig' };
  await writeFile(jwksFile, JSON.stringify({ keys: [jwk] }));
  const token = await mint(privateKey, tenant);
  return { token };
}

async function mint(key: CryptoKey, tenant: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ tenant, scope: 'kv:read kv:write' })
    .setProtectedHeader({ alg: 'ES256', kid: 'chaos-1' })
    .setIssuer(GATEWAY_ISSUER)
    .setAudience(GATEWAY_AUDIENCE)
    .setSubject('chaos')
    .setIssuedAt(now)
    .setExpirationTime(now + 6 * 3600)
    .sign(key);
}

export class HttpDriver implements KvDriver {
  constructor(
    readonly label: string,
    private readonly baseUrl: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  private async call(method: string, key: string, headers: Record<string, string>, body?: string): Promise<Response> {
    return fetch(`${this.baseUrl}/v1/kv/${encodeURIComponent(key)}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...headers },
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
  }

  /** Status codes that promise nothing was applied. */
  private static definite(status: number): boolean {
    return status === 503 || status === 429;
  }

  private async write(method: string, key: string, headers: Record<string, string>, body: string | undefined, onOk: (r: Response) => Promise<OpOutcome>): Promise<OpOutcome> {
    let r: Response;
    try {
      r = await this.call(method, key, headers, body);
    } catch (e) {
      return unknown(`http: ${(e as Error).message}`);
    }
    try {
      if (r.ok || r.status === 404 || r.status === 412) return await onOk(r);
      const text = await r.text();
      return HttpDriver.definite(r.status) ? { outcome: 'fail', error: `${r.status} ${text.slice(0, 200)}` } : unknown(`${r.status} ${text.slice(0, 200)}`);
    } catch (e) {
      return unknown(`http body: ${(e as Error).message}`);
    }
  }

  async get(key: string): Promise<OpOutcome> {
    try {
      const r = await this.call('GET', key, {});
      if (r.status === 404) {
        await r.arrayBuffer();
        return { outcome: 'ok', output: { found: false } };
      }
      if (r.status !== 200) return { outcome: 'fail', error: `${r.status} ${(await r.text()).slice(0, 200)}` };
      const value = await r.text();
      const version = (r.headers.get('etag') ?? '').replace(/"/g, '');
      return { outcome: 'ok', output: { found: true, value, version } };
    } catch (e) {
      return { outcome: 'fail', error: `http: ${(e as Error).message}` };
    }
  }

  put(key: string, value: string): Promise<OpOutcome> {
    return this.write('PUT', key, { 'content-type': 'application/octet-stream' }, value, async (r) => {
      const body = (await r.json()) as { version?: string };
      if (r.status !== 200 && r.status !== 201) return unknown(`put answered ${r.status}`);
      return { outcome: 'ok', output: { version: String(body.version) } };
    });
  }

  del(key: string): Promise<OpOutcome> {
    return this.write('DELETE', key, {}, undefined, async (r) => {
      await r.arrayBuffer();
      if (r.status === 204) return { outcome: 'ok', output: { existed: true } };
      if (r.status === 404) return { outcome: 'ok', output: { existed: false } };
      return unknown(`delete answered ${r.status}`);
    });
  }

  cas(key: string, ifVersion: bigint, value: string): Promise<OpOutcome> {
    return this.write('PUT', key, { 'content-type': 'application/octet-stream', 'if-match': `"${ifVersion}"` }, value, async (r) => {
      const body = (await r.json()) as { version?: string; code?: string; currentVersion?: string | null };
      if (r.status === 200 || r.status === 201) return { outcome: 'ok', output: { swapped: true, version: String(body.version) } };
      if (r.status === 412 && body.code === 'VERSION_MISMATCH') {
        const cv = body.currentVersion;
        return { outcome: 'ok', output: { swapped: false, currentVersion: cv === undefined || cv === null ? null : String(cv) } };
      }
      return unknown(`cas answered ${r.status} ${body.code ?? ''}`);
    });
  }
}
