// The boot scripts infra/terraform renders, run for real on this machine with a fake `aws` CLI
// standing in for Secrets Manager: fetch-secrets writes the root-only EnvironmentFile and the
// TLS key, refuses a value that could break out of its quoting, and render-nats-conf turns the
// placeholder config into one that nats-server accepts, with the passwords filled in.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { natsServerBinary } from '../../scripts/nats-cluster.js';
import { renderAuthorization } from '../../infra/terraform/scripts/render-nats-authorization.js';
import { findTerraform, tempTree, TfConsole } from './tf-eval.js';

const run = promisify(execFile);
const MODULES = fileURLToPath(new URL('../../infra/terraform/modules/', import.meta.url));
const ARN = (name: string) => `arn:aws:secretsmanager:eu-west-1:123456789012:secret:${name}`;
const PASSWORDS = { GATEWAY: 'gw-Passw0rd-123456', CELL: 'cell-Passw0rd-1234', PLATFORM: 'pf-Passw0rd-123456' } as const;

let tf: TfConsole | null = null;
let work: { dir: string; cleanup: () => Promise<void> };
let bin: string;
let secrets: string;

before(async () => {
  const found = await findTerraform();
  if (found) tf = await TfConsole.open(found.bin);
  work = await tempTree({});
  bin = join(work.dir, 'bin');
  secrets = join(work.dir, 'secrets');
  await mkdir(bin);
  await mkdir(secrets);
  // `aws secretsmanager get-secret-value --secret-id ARN ...` prints $FAKE_SECRETS/<last ARN part>.
  const fake = '#!/bin/bash\nwhile [ $# -gt 0 ]; do [ "$1" = --secret-id ] && id="$2"; shift; done\ncat "$FAKE_SECRETS/${id##*:}"\n';
  await writeFile(join(bin, 'aws'), fake);
  await chmod(join(bin, 'aws'), 0o755);
});
after(async () => {
  await tf?.close();
  await work?.cleanup();
});

/** Root only (the scripts chown to root), and the terraform binary to render them. */
function ready(t: { skip(msg: string): void }): TfConsole | null {
  const why = !tf ? 'terraform binary not found' : process.getuid?.() !== 0 ? 'not running as root (the scripts chown files to root)' : null;
  if (!why) return tf;
  process.stderr.write(`# SKIP boot scripts not run: ${why}\n`);
  t.skip(why);
  return null;
}

async function script(c: TfConsole, tpl: string, vars: string, name: string): Promise<string> {
  const file = join(work.dir, name);
  await writeFile(file, await c.render(join(MODULES, tpl), vars));
  await chmod(file, 0o700);
  return file;
}

const env = () => ({ ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, FAKE_SECRETS: secrets });

async function fetchSecrets(c: TfConsole, envFile: string, keyFile: string): Promise<string> {
  const envSecrets = Object.keys(PASSWORDS).map((u) => `CELLKV_NATS_PASSWORD_${u} = "${ARN(`nats-${u.toLowerCase()}`)}"`).join(', ');
  return script(c, 'host-boot/templates/fetch-secrets.sh.tftpl', `{ region = "eu-west-1", env_file = ${JSON.stringify(envFile)}, service_user = "root",
    env_secrets = { ${envSecrets} }, file_secrets = { ${JSON.stringify(keyFile)} = "${ARN('tls-key')}" } }`, 'fetch-secrets');
}

test('fetch-secrets writes a root-only EnvironmentFile and the key file; refuses a quote in a value', async (t) => {
  const c = ready(t);
  if (!c) return;
  for (const [u, pw] of Object.entries(PASSWORDS)) await writeFile(join(secrets, `nats-${u.toLowerCase()}`), `${pw}\n`);
  await writeFile(join(secrets, 'tls-key'), '-----BEGIN PRIVATE KEY-----\nMIGH\n-----END PRIVATE KEY-----\n');
  const envFile = join(work.dir, 'run/cellkv/secrets.env');
  const keyFile = join(work.dir, 'etc/nats/tls/server-key.pem');
  const fetch = await fetchSecrets(c, envFile, keyFile);
  await run(fetch, [], { env: env() });
  const lines = (await readFile(envFile, 'utf8')).trim().split('\n');
  // Terraform iterates maps in key order.
  assert.deepEqual(lines, Object.entries(PASSWORDS).map(([u, pw]) => `CELLKV_NATS_PASSWORD_${u}='${pw}'`).sort());
  assert.equal((await stat(envFile)).mode & 0o777, 0o600);
  assert.equal((await stat(keyFile)).mode & 0o777, 0o640);
  assert.match(await readFile(keyFile, 'utf8'), /^-----BEGIN PRIVATE KEY-----/);
  // A value that would end the quoting is refused, and the previous file stays.
  await writeFile(join(secrets, 'nats-cell'), "it's-a-trap-123\n");
  await assert.rejects(run(fetch, [], { env: env() }), (e: { stderr?: string }) => /CELLKV_NATS_PASSWORD_CELL: the secret must be printable ASCII/.test(e.stderr ?? ''));
  assert.match(await readFile(envFile, 'utf8'), /CELLKV_NATS_PASSWORD_CELL='cell-Passw0rd-1234'/);
  // Not a PEM document: refused.
  await writeFile(join(secrets, 'nats-cell'), `${PASSWORDS.CELL}\n`);
  await writeFile(join(secrets, 'tls-key'), 'not a key\n');
  await assert.rejects(run(fetch, [], { env: env() }), (e: { stderr?: string }) => /not a PEM document/.test(e.stderr ?? ''));
});

test('render-nats-conf fills the passwords in; nats-server accepts the result; a short password is refused', async (t) => {
  const c = ready(t);
  if (!c) return;
  const tls = join(work.dir, 'tls');
  await mkdir(tls, { recursive: true });
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=cellkv-nats', '-days', '1', '-keyout', join(tls, 'server-key.pem'), '-out', join(tls, 'server.pem')]);
  await writeFile(join(tls, 'ca.pem'), await readFile(join(tls, 'server.pem')));
  const confIn = join(work.dir, 'nats-server.conf.in');
  await writeFile(confIn, await c.render(join(MODULES, 'nats-cluster/templates/nats-server.conf.tftpl'), `{
    server_name = "cellkv-nats-a", client_port = 4222, cluster_port = 6222, cluster_name = "cellkv", max_payload = "8MB",
    max_connections = 1024, tls_dir = ${JSON.stringify(tls)}, routes = ["nats-b.cellkv.internal", "nats-c.cellkv.internal"],
    authorization = ${JSON.stringify(renderAuthorization())} }`));
  const envFile = join(work.dir, 'render.env');
  const confOut = join(work.dir, 'nats-server.conf');
  const render = await script(c, 'nats-cluster/templates/render-nats-conf.sh.tftpl', `{ conf_in = ${JSON.stringify(confIn)}, conf_out = ${JSON.stringify(confOut)}, env_file = ${JSON.stringify(envFile)}, owner = "root" }`, 'render-nats-conf');
  await writeFile(envFile, Object.entries(PASSWORDS).map(([u, pw]) => `CELLKV_NATS_PASSWORD_${u}='${pw}'\n`).join(''));
  await run(render, [], { env: env() });
  const conf = await readFile(confOut, 'utf8');
  assert.doesNotMatch(conf, /@@CELLKV_NATS_PASSWORD_[A-Z]+@@/);
  for (const pw of Object.values(PASSWORDS)) assert.ok(conf.includes(`password: "${pw}"`));
  assert.equal((await stat(confOut)).mode & 0o777, 0o600);
  await run(natsServerBinary(), ['-t', '-c', confOut]);
  await writeFile(envFile, Object.entries(PASSWORDS).map(([u, pw]) => `CELLKV_NATS_PASSWORD_${u}='${u === 'CELL' ? 'short' : pw}'\n`).join(''));
  await assert.rejects(run(render, [], { env: env() }), (e: { stderr?: string }) => /the cell password must be at least 12 characters/.test(e.stderr ?? ''));
});

test('fetch-secrets passes a canary JWT (base64url parts and dots) through to CELLKV_CANARY_TOKEN', async (t) => {
  const c = ready(t);
  if (!c) return;
  // The shape of a real token: header.payload.signature, base64url (A-Z a-z 0-9 - _).
  const jwt = 'eyJhbGciOiJFUzI1NiIsImtpZCI6ImRldiJ9.eyJ0ZW5hbnQiOiJjZWxsa3YtY2FuYXJ5Iiwic2NvcGUiOiJrdjpyZWFkIGt2OndyaXRlIn0.Zm9v-YmFy_YmF6';
  await writeFile(join(secrets, 'canary-token'), `${jwt}\n`);
  const envFile = join(work.dir, 'canary/secrets.env');
  const fetch = await script(c, 'host-boot/templates/fetch-secrets.sh.tftpl', `{ region = "eu-west-1", env_file = ${JSON.stringify(envFile)}, service_user = "root",
    env_secrets = { CELLKV_CANARY_TOKEN = "${ARN('canary-token')}" }, file_secrets = {} }`, 'fetch-canary-secrets');
  await run(fetch, [], { env: env() });
  assert.equal(await readFile(envFile, 'utf8'), `CELLKV_CANARY_TOKEN='${jwt}'\n`);
  // A token pasted with a trailing quote is refused, not written.
  await writeFile(join(secrets, 'canary-token'), `${jwt}'\n`);
  await assert.rejects(run(fetch, [], { env: env() }), (e: { stderr?: string }) => /CELLKV_CANARY_TOKEN: the secret must be printable ASCII/.test(e.stderr ?? ''));
});
