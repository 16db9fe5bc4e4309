// `cellkv`, the admin CLI: dev tokens, cluster status, tenants, cells and splits (over NATS to the cells) and
// get/put/del/scan (over the gateway's HTTP API with a token). Defaults follow a local
// `npm start`: endpoints from ./.cellkv/run/endpoints.json, a token minted from the dev key.
// Errors print `cellkv: CODE: detail` on stderr and exit 1.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { CellkvError, CellkvHttpClient, type Consistency } from '../shared/client/index.js';
import { ALL_SCOPES, DevKeyError, loadDevKeys, mintDevToken, parseTtl } from '../scripts/dev-keys.js';
import { AdminClient, AdminError, parseNatsServers, type NodeStatus, type TenantRecord } from './admin.js';
import { printable, renderStatus, table } from './format.js';
import { reportFailure, runCanaryProcess } from '../canary/main.js';
import { addCanaryOptions, canaryToken, CANARY_TENANT, type CanaryCliOptions } from '../canary/options.js';
import { registerBackupCommands } from './backup.js';
import { registerCellsCommands } from './cells.js';
import { registerNodesCommands } from './nodes.js';
import { BackupError } from '../cell/backup/errors.js';

interface Endpoints {
  readonly gateway?: string;
  readonly nats?: string[];
  readonly keysDir?: string;
}

function endpoints(dir: string): Endpoints {
  try {
    return JSON.parse(readFileSync(join(dir, 'run', 'endpoints.json'), 'utf8')) as Endpoints;
  } catch {
    return {};
  }
}

interface Common {
  dir: string;
  nats?: string;
  url?: string;
  token?: string;
  tenant: string;
  keysDir?: string;
  json?: boolean;
}

function out(s: string): void {
  process.stdout.write(s.endsWith('\n') ? s : `${s}\n`);
}

function keysDirOf(o: Common): string {
  return o.keysDir ?? process.env['CELLKV_KEYS_DIR'] ?? endpoints(o.dir).keysDir ?? join(o.dir, 'keys');
}

function natsOf(o: Common): string[] {
  return parseNatsServers(o.nats ?? process.env['CELLKV_NATS'] ?? endpoints(o.dir).nats?.join(',') ?? 'nats://127.0.0.1:4222');
}

async function httpClient(o: Common): Promise<CellkvHttpClient> {
  const url = o.url ?? process.env['CELLKV_URL'] ?? endpoints(o.dir).gateway ?? 'http://127.0.0.1:8080';
  let token = o.token ?? process.env['CELLKV_TOKEN'];
  if (!token) {
    // Local convenience: a short-lived token from the dev key that `npm start` created.
    const keys = await loadDevKeys(keysDirOf(o)).catch((e: unknown) => {
      throw new CellkvError({ code: 'UNAUTHENTICATED', status: 0, detail: `no token: pass --token or set CELLKV_TOKEN (${(e as Error).message})` });
    });
    token = await mintDevToken(keys, { tenant: o.tenant, scopes: ALL_SCOPES, ttlSeconds: 600 });
  }
  return new CellkvHttpClient({ url, token });
}

async function withAdmin<T>(o: Common, fn: (a: AdminClient) => Promise<T>): Promise<T> {
  const a = await AdminClient.connect(natsOf(o));
  try {
    return await fn(a);
  } finally {
    await a.close();
  }
}

function positiveInt(name: string): (v: string) => number {
  return (v) => {
    if (!/^[1-9][0-9]{0,15}$/.test(v)) throw new AdminError('INVALID_ARGUMENT', `${name} must be a positive whole number, got "${v}"`);
    return Number(v);
  };
}

/** A quota flag of `tenants set`: a positive whole number, or `none` to remove the limit. */
function quotaOrNone(name: string): (v: string) => number | 'none' {
  // Not null for "none": commander turns a null parse result into ''.
  const n = positiveInt(name);
  return (v) => (v === 'none' ? 'none' : n(v));
}

const unlimited = (n: number | undefined) => (n === undefined ? 'unlimited' : String(n));

function readStdin(): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    process.stdin.on('data', (c: Buffer) => chunks.push(c));
    process.stdin.once('end', () => resolve(new Uint8Array(Buffer.concat(chunks))));
    process.stdin.once('error', reject);
  });
}

// ------------------------------------------------------------------ commands

const program = new Command()
  .name('cellkv')
  .description('cellkv admin CLI: dev tokens, cluster status, tenants, cells and splits, nodes and drains, and key access through the gateway')
  .showHelpAfterError()
  .addOption(new Option('--dir <dir>', 'the local `npm start` directory (endpoints, dev key)').default('./.cellkv'));

const natsOpt = () => new Option('--nats <urls>', 'NATS URLs, comma-separated (env CELLKV_NATS; default from --dir, else nats://127.0.0.1:4222)');
const jsonOpt = () => new Option('--json', 'machine-readable JSON output');
function httpCommand(name: string, description: string): Command {
  return program
    .command(name)
    .description(description)
    .addOption(new Option('--url <url>', 'gateway URL (env CELLKV_URL; default from --dir, else http://127.0.0.1:8080)'))
    .addOption(new Option('--token <jwt>', 'bearer token (env CELLKV_TOKEN; default: minted from the local dev key)'))
    .addOption(new Option('--tenant <t>', 'tenant for a token minted from the dev key').default('dev'))
    .addOption(new Option('--keys-dir <dir>', 'dev key directory (default <dir>/keys)'));
}
const common = (cmd: Command): Common => cmd.optsWithGlobals<Common>();

program
  .command('token')
  .description('mint a token signed with the local dev key (accepted by the `npm start` gateway)')
  .requiredOption('--tenant <tenant>', 'tenant claim')
  .option('--scopes <scopes>', 'space-separated scopes: kv:read kv:write kv:admin', 'kv:read kv:write')
  .option('--ttl <ttl>', 'lifetime: 3600, 90s, 30m, 24h, 7d', '24h')
  .option('--keys-dir <dir>', 'dev key directory (default <dir>/keys)')
  .action(async (_o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { scopes: string; ttl: string }>();
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(o.tenant)) throw new AdminError('INVALID_ARGUMENT', `tenant "${o.tenant}" must match [a-z0-9][a-z0-9_-]{0,62}`);
    const bad = o.scopes.split(/[\s,]+/).filter((s) => s && !['kv:read', 'kv:write', 'kv:admin'].includes(s));
    if (bad.length) throw new AdminError('INVALID_ARGUMENT', `unknown scope(s) ${bad.join(', ')}; use kv:read kv:write kv:admin`);
    const keys = await loadDevKeys(keysDirOf(o));
    out(await mintDevToken(keys, { tenant: o.tenant, scopes: o.scopes, ttlSeconds: parseTtl(o.ttl) }));
  });

program
  .command('status')
  .description('cells, ranges, leaders, AZs and node liveness (directory + each node over NATS)')
  .addOption(natsOpt())
  .addOption(jsonOpt())
  .action(async (_o: unknown, cmd: Command) => {
    const o = common(cmd);
    await withAdmin(o, async (a) => {
      const directory = await a.directory();
      const ids = [...new Set([...directory.nodes.map((n) => n.id), ...directory.cells.flatMap((c) => c.replicas.map((r) => r.node))])];
      const nodes: Record<string, NodeStatus | { error: string }> = {};
      await Promise.all(
        ids.map(async (id) => {
          nodes[id] = await a.nodeStatus(id).catch((e: unknown) => ({ error: e instanceof AdminError ? e.code : (e as Error).message }));
        }),
      );
      out(o.json ? JSON.stringify({ directory, nodes }, null, 2) : renderStatus({ directory, nodes }));
    });
  });

const tenants = program.command('tenants').description('tenant records and quotas (kept by the meta cell)');
tenants
  .command('list')
  .description('list tenants and their quotas')
  .addOption(natsOpt())
  .addOption(jsonOpt())
  .action(async (_o: unknown, cmd: Command) => {
    const o = common(cmd);
    const list = await withAdmin(o, (a) => a.listTenants());
    if (o.json) return out(JSON.stringify(list, null, 2));
    const q = (n: number | undefined) => (n === undefined ? 'unlimited' : String(n));
    out(list.length ? table(['TENANT', 'MAX KEYS', 'MAX BYTES', 'OPS/S'], list.map((t) => [t.id, q(t.maxKeys), q(t.maxBytes), q(t.opsPerSec)])) : 'no tenants');
  });
tenants
  .command('put <id>')
  .description('create or replace a tenant record (unset quotas are unlimited)')
  .option('--max-keys <n>', 'most keys the tenant may hold', positiveInt('--max-keys'))
  .option('--max-bytes <n>', 'most bytes the tenant may store', positiveInt('--max-bytes'))
  .option('--ops-per-sec <n>', 'request rate limit', positiveInt('--ops-per-sec'))
  .addOption(natsOpt())
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { maxKeys?: number; maxBytes?: number; opsPerSec?: number }>();
    const t: TenantRecord = {
      id,
      ...(o.maxKeys !== undefined ? { maxKeys: o.maxKeys } : {}),
      ...(o.maxBytes !== undefined ? { maxBytes: o.maxBytes } : {}),
      ...(o.opsPerSec !== undefined ? { opsPerSec: o.opsPerSec } : {}),
    };
    await withAdmin(o, (a) => a.putTenant(t));
    out(`tenant ${id} saved`);
  });
tenants
  .command('get <id>')
  .description("one tenant's record")
  .addOption(natsOpt())
  .addOption(jsonOpt())
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = common(cmd);
    const t = await withAdmin(o, (a) => a.getTenant(id));
    if (o.json) return out(JSON.stringify(t, null, 2));
    out(table(['TENANT', 'MAX KEYS', 'MAX BYTES', 'OPS/S'], [[t.id, unlimited(t.maxKeys), unlimited(t.maxBytes), unlimited(t.opsPerSec)]]));
  });
tenants
  .command('set <id>')
  .description('change some quotas of a tenant, keeping the others (creates the record if needed); "none" removes a limit')
  .option('--max-keys <n|none>', 'most keys the tenant may hold', quotaOrNone('--max-keys'))
  .option('--max-bytes <n|none>', 'most key+value bytes the tenant may store', quotaOrNone('--max-bytes'))
  .option('--ops-per-sec <n|none>', 'request rate limit (per gateway share)', quotaOrNone('--ops-per-sec'))
  .addOption(natsOpt())
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { maxKeys?: number | 'none'; maxBytes?: number | 'none'; opsPerSec?: number | 'none' }>();
    await withAdmin(o, async (a) => {
      const cur: TenantRecord = await a.getTenant(id).catch((e: unknown) => {
        if (e instanceof AdminError && e.code === 'NOT_FOUND') return { id };
        throw e;
      });
      const pick = (given: number | 'none' | undefined, old: number | undefined) => (given === undefined ? old : given === 'none' ? undefined : given);
      const next: Record<string, number | undefined> = { maxKeys: pick(o.maxKeys, cur.maxKeys), maxBytes: pick(o.maxBytes, cur.maxBytes), opsPerSec: pick(o.opsPerSec, cur.opsPerSec) };
      const t: TenantRecord = { id, ...Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)) };
      await a.putTenant(t);
      out(`tenant ${id}: max keys ${unlimited(t.maxKeys)}, max bytes ${unlimited(t.maxBytes)}, ops/s ${unlimited(t.opsPerSec)}`);
    });
  });
tenants
  .command('usage <id>')
  .description("a tenant's stored keys and key+value bytes (summed over cells) against its quotas")
  .addOption(natsOpt())
  .addOption(jsonOpt())
  .action(async (id: string, _o: unknown, cmd: Command) => {
    const o = common(cmd);
    const [u, t] = await withAdmin(o, (a) =>
      Promise.all([
        a.tenantUsage(id),
        a.getTenant(id).catch((e: unknown) => {
          if (e instanceof AdminError && e.code === 'NOT_FOUND') return null;
          throw e;
        }),
      ]),
    );
    if (o.json) return out(JSON.stringify({ ...u, record: t }, null, 2));
    out(table(['TENANT', 'KEYS', 'MAX KEYS', 'BYTES', 'MAX BYTES', 'OPS/S', 'CELLS'], [[id, String(u.keys), unlimited(t?.maxKeys), String(u.bytes), unlimited(t?.maxBytes), unlimited(t?.opsPerSec), `${u.cellsAnswered}/${u.cells}`]]));
  });
tenants
  .command('delete <id>')
  .description('delete a tenant record (its keys stay)')
  .addOption(natsOpt())
  .action(async (id: string, _o: unknown, cmd: Command) => {
    await withAdmin(common(cmd), (a) => a.deleteTenant(id));
    out(`tenant ${id} deleted`);
  });

httpCommand('get', 'print the value of <key> (raw bytes; --json for metadata)')
  .argument('<key>')
  .addOption(new Option('--consistency <c>', 'linearizable | session | stale').choices(['linearizable', 'session', 'stale']))
  .addOption(jsonOpt())
  .action(async (key: string, _o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { consistency?: Consistency }>();
    const r = await (await httpClient(o)).get(key, o.consistency ? { consistency: o.consistency } : {});
    if (!r) throw new CellkvError({ code: 'NOT_FOUND', status: 404, detail: `key "${key}" not found` });
    if (o.json) {
      const text = new TextDecoder('utf-8', { fatal: true });
      let value: string;
      let valueEncoding = 'utf8';
      try {
        value = text.decode(r.value);
      } catch {
        value = Buffer.from(r.value).toString('base64');
        valueEncoding = 'base64';
      }
      return out(JSON.stringify({ key, value, valueEncoding, version: r.version.toString(), createdAt: r.createdAt, updatedAt: r.updatedAt, expiresAt: r.expiresAt, attrs: r.attrs }, null, 2));
    }
    process.stdout.write(r.value);
    if (process.stdout.isTTY && r.value[r.value.length - 1] !== 0x0a) process.stdout.write('\n');
  });

httpCommand('put', 'set <key> to <value> ("-" reads the value from stdin)')
  .argument('<key>')
  .argument('<value>')
  .option('--ttl <seconds>', 'expire after this many seconds', positiveInt('--ttl'))
  .option('--if-match <version>', 'only if the current version is this (CAS)')
  .option('--if-absent', 'only if the key does not exist')
  .action(async (key: string, value: string, _o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { ttl?: number; ifMatch?: string; ifAbsent?: boolean }>();
    const body = value === '-' ? await readStdin() : value;
    const r = await (await httpClient(o)).put(key, body, {
      ...(o.ttl !== undefined ? { ttlSeconds: o.ttl } : {}),
      ...(o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {}),
      ...(o.ifAbsent ? { ifNoneMatch: true } : {}),
    });
    out(`${r.created ? 'created' : 'updated'} version=${r.version}`);
  });

httpCommand('del', 'delete <key>')
  .argument('<key>')
  .option('--if-match <version>', 'only if the current version is this')
  .action(async (key: string, _o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { ifMatch?: string }>();
    const r = await (await httpClient(o)).delete(key, o.ifMatch !== undefined ? { ifMatch: o.ifMatch } : {});
    if (!r.deleted) throw new CellkvError({ code: 'NOT_FOUND', status: 404, detail: `key "${key}" not found` });
    out('deleted');
  });

httpCommand('scan', 'list keys in order (prefix or start/end), following pages up to --limit')
  .option('--prefix <p>', 'keys starting with this')
  .option('--start <s>', 'from this key (inclusive)')
  .option('--end <e>', 'to this key (exclusive)')
  .option('--limit <n>', 'most items to print', positiveInt('--limit'), 100)
  .option('--keys-only', 'keys without values')
  .addOption(jsonOpt())
  .action(async (_o: unknown, cmd: Command) => {
    const o = cmd.optsWithGlobals<Common & { prefix?: string; start?: string; end?: string; limit: number; keysOnly?: boolean }>();
    const kv = await httpClient(o);
    const rows: { key: string; value: string | null; version: string }[] = [];
    for await (const page of kv.scan({
      ...(o.prefix !== undefined ? { prefix: o.prefix } : {}),
      ...(o.start !== undefined ? { start: o.start } : {}),
      ...(o.end !== undefined ? { end: o.end } : {}),
      limit: Math.min(o.limit, 1000),
      keysOnly: o.keysOnly ?? false,
    })) {
      for (const it of page.items) {
        if (rows.length >= o.limit) break;
        rows.push({ key: printable(it.key), value: it.value ? printable(it.value) : null, version: it.version.toString() });
      }
      if (rows.length >= o.limit) break;
    }
    if (o.json) return out(JSON.stringify(rows, null, 2));
    for (const r of rows) out(r.value === null ? r.key : `${r.key}\t${r.value}`);
  });

program.addCommand(
  addCanaryOptions(new Command('canary'))
    .description(`live linearizability canary on the reserved prefix (tenant "${CANARY_TENANT}"; see canary/README.md)`)
    .addOption(new Option('--keys-dir <dir>', 'dev key directory for a minted token (default <dir>/keys)'))
    .action(async (_o: unknown, cmd: Command) => {
      const o = cmd.optsWithGlobals<Common & CanaryCliOptions>();
      // Local convenience as for get/put: the gateway from --dir, a token minted from the dev key.
      if (o.url === undefined && o.nats === undefined) o.url = process.env['CELLKV_URL'] ?? endpoints(o.dir).gateway ?? 'http://127.0.0.1:8080';
      let token = canaryToken(o);
      if (token === null) {
        const keys = await loadDevKeys(keysDirOf(o)).catch((e: unknown) => {
          throw new CellkvError({ code: 'UNAUTHENTICATED', status: 0, detail: `no token: pass --token or set CELLKV_CANARY_TOKEN (${(e as Error).message})` });
        });
        token = await mintDevToken(keys, { tenant: CANARY_TENANT, scopes: 'kv:read kv:write', ttlSeconds: 7 * 24 * 3600 });
      }
      process.exitCode = await runCanaryProcess(o, token).catch(reportFailure);
    }),
);
registerCellsCommands(program, {
  natsOption: natsOpt,
  jsonOption: jsonOpt,
  withAdmin: (cmd, fn) => withAdmin(common(cmd), fn),
  json: (cmd) => common(cmd).json === true,
  print: out,
});
registerNodesCommands(program, {
  natsOption: natsOpt,
  jsonOption: jsonOpt,
  withAdmin: (cmd, fn) => withAdmin(common(cmd), fn),
  json: (cmd) => common(cmd).json === true,
  print: out,
});
registerBackupCommands(program, {
  natsOption: natsOpt,
  natsServers: (cmd) => natsOf(common(cmd)),
  print: out,
});

// ------------------------------------------------------------------ errors

function fail(e: unknown): never {
  if (e instanceof CellkvError || e instanceof AdminError || e instanceof BackupError) process.stderr.write(`cellkv: ${e.code}: ${e.detail}\n`);
  else if (e instanceof DevKeyError) process.stderr.write(`cellkv: ${e.code}: ${e.message}\n`);
  else process.stderr.write(`cellkv: INTERNAL: ${(e as Error)?.message ?? String(e)}\n`);
  process.exit(1);
}

// On success the process ends by itself (no process.exit: piped stdout must drain first).
program.parseAsync(process.argv).catch((e: unknown) => fail(e));
