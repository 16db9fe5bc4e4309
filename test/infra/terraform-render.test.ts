// infra/terraform's validations and templates evaluated by the real terraform binary (console in
// an empty directory: no provider needed), and what they render checked by the real tools:
// `nats-server -t` on the NATS config (with TLS files and the generated authorization block),
// `promtool check config` on prometheus.yml, `bash -n` on the boot scripts, `systemd-analyze
// verify` on the units. Each tool is also shown rejecting a broken input, so a pass means
// something.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { natsServerBinary } from '../../scripts/nats-cluster.js';
import { renderAuthorization } from '../../infra/terraform/scripts/render-nats-authorization.js';
import { findTerraform, tempTree, TfConsole } from './tf-eval.js';
import { findModule, loadTree, validations, type TfModule } from './tf-model.js';

const run = promisify(execFile);
const REPO = fileURLToPath(new URL('../../', import.meta.url));
const MODULES = join(REPO, 'infra/terraform/modules');
const AZS = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'];
const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cellkv/x-AbCdEf';

let tree: TfModule[];
let tf: TfConsole | null = null;
let workDir: { dir: string; cleanup: () => Promise<void> };

before(async () => {
  tree = await loadTree(join(REPO, 'infra/terraform'));
  const bin = await findTerraform();
  if (bin) tf = await TfConsole.open(bin.bin);
  workDir = await tempTree({});
});
after(async () => {
  await tf?.close();
  await workDir?.cleanup();
});

/** Needs the terraform binary; says so when it is missing instead of passing quietly. */
function needTf(t: { skip(msg: string): void }): TfConsole | null {
  if (tf) return tf;
  const reason = 'terraform binary not found: this rendering check NOT run (install terraform at /usr/local/bin)';
  process.stderr.write(`# SKIP ${reason}\n`);
  t.skip(reason);
  return null;
}

/** The validation conditions of `variable` in `dir` with `valueHcl` put in for var.<variable>. */
function conditionsFor(dir: string, variable: string, valueHcl: string): string[] {
  const body = findModule(tree, dir).variables.get(variable);
  assert.ok(body, `${dir} has no variable ${variable}`);
  const vs = validations(body);
  assert.ok(vs.length > 0, `${dir}: variable ${variable} has no validation`);
  return vs.map((x) => `(${x.condition.replace(new RegExp(`\\bvar\\.${variable}\\b`, 'g'), () => `(${valueHcl})`)})`);
}

/**
 * Per case: whether every validation accepts the value (true/false), or 'error' when a condition
 * fails to evaluate (users would see a confusing message instead of the error_message). One
 * console run for all cases.
 */
async function verdicts(c: TfConsole, cases: readonly [string, string, string][]): Promise<(boolean | 'error')[]> {
  const lists = cases.map(([dir, name, value]) => `[${conditionsFor(dir, name, value).map((e) => `can(${e}) ? ${e} : null`).join(', ')}]`);
  const r = (await c.eval(`[${lists.join(', ')}]`)) as (boolean | null)[][];
  return r.map((list) => (list.includes(null) ? 'error' : list.every(Boolean)));
}

/** [module, variable, HCL value, accepted?] */
const CASES: [string, string, string, boolean][] = [
  ...['modules/network', 'modules/nats-cluster', 'modules/cell-nodes', 'modules/gateways', 'examples/three-az'].flatMap((dir): [string, string, string, boolean][] => [
    [dir, 'azs', JSON.stringify(AZS), true],
    [dir, 'azs', JSON.stringify(AZS.slice(0, 2)), false],
    [dir, 'azs', JSON.stringify([...AZS, 'eu-west-1d']), false],
    [dir, 'azs', JSON.stringify(['eu-west-1a', 'eu-west-1a', 'eu-west-1b']), false],
  ]),
  ['modules/network', 'vpc_cidr', '"10.40.0.0/16"', true],
  ['modules/network', 'vpc_cidr', '"10.40.0.0/24"', false],
  ['modules/network', 'vpc_cidr', '"10.0.0.0/8"', false],
  ['modules/network', 'vpc_cidr', '"not-a-cidr"', false],
  ['modules/network', 'lb_client_cidrs', '["10.0.0.0/8"]', true],
  ['modules/network', 'lb_client_cidrs', '[]', false],
  ['modules/network', 'lb_client_cidrs', '["10.0.0.300/8"]', false],
  ['modules/network', 'gateway_http_port', '8080', true],
  ['modules/network', 'gateway_http_port', '70000', false],
  ['modules/cell-nodes', 'data_volume_size_gb', '200', true],
  ['modules/cell-nodes', 'data_volume_size_gb', '10', false],
  ['modules/cell-nodes', 'data_volume_size_gb', '20000', false],
  ['modules/cell-nodes', 'nodes_per_az', '1', true],
  ['modules/cell-nodes', 'nodes_per_az', '0', false],
  ['modules/cell-nodes', 'nodes_per_az', '1.5', false],
  ['modules/cell-nodes', 'instance_type', '"m7g.xlarge"', true],
  ['modules/cell-nodes', 'instance_type', '"t3.micro"', false],
  ['modules/cell-nodes', 'data_volume_type', '"gp2"', false],
  ['modules/cell-nodes', 'metrics_port', '0', false],
  ['modules/nats-cluster', 'instance_type', '"c7g.large"', true],
  ['modules/nats-cluster', 'instance_type', '"t2.nano"', false],
  ['modules/nats-cluster', 'authorization_conf', JSON.stringify(renderAuthorization()), true],
  ['modules/nats-cluster', 'authorization_conf', JSON.stringify('authorization {\n  users = [ { user: "cell", password: "a-real-password" } ]\n}\n'), false],
  ['modules/nats-cluster', 'tls_cert_pem', '"-----BEGIN CERTIFICATE-----\\nMII...\\n"', true],
  ['modules/nats-cluster', 'tls_cert_pem', '"-----BEGIN PRIVATE KEY-----\\nMII...\\n"', false],
  ['modules/gateways', 'name', '"cellkv-prod"', true],
  ['modules/gateways', 'name', '"cellkv-production-eu-west-1-blue"', false],
  ['modules/gateways', 'instance_count', '3', true],
  ['modules/gateways', 'instance_count', '2', false],
  ['modules/gateways', 'issuer', '"https://auth.example.internal"', true],
  ['modules/gateways', 'issuer', '"two words"', false],
  ['modules/gateways', 'audience', '"a;rm"', false],
  ['modules/gateways', 'jwks_url', '"http://insecure.example/jwks.json"', false],
  ['modules/gateways', 'certificate_arn', '"arn:aws:acm:eu-west-1:123456789012:certificate/abc"', true],
  ['modules/gateways', 'certificate_arn', `"${ARN}"`, false],
  ['modules/host-boot', 'env_secret_arns', `{ CELLKV_NATS_PASSWORD = "${ARN}" }`, true],
  ['modules/host-boot', 'env_secret_arns', `{ lower = "${ARN}" }`, false],
  ['modules/host-boot', 'env_secret_arns', '{ CELLKV_NATS_PASSWORD = "hunter2-plaintext" }', false],
  ['modules/host-boot', 'release_s3_uri', '"s3://artifacts/cellkv/cellkv-0.1.0.tgz"', true],
  ['modules/host-boot', 'release_s3_uri', '"https://example.com/cellkv.tgz"', false],
  ['modules/gateways', 'canary_metrics_port', '9108', true],
  ['modules/gateways', 'canary_metrics_port', '0', false],
  ['modules/gateways', 'canary_rate', '10', true],
  ['modules/gateways', 'canary_rate', '0', false],
  ['modules/gateways', 'canary_rate', '2.5', false],
  ['modules/network', 'canary_metrics_port', '9108', true],
  ['modules/network', 'canary_metrics_port', '65536', false],
  ['modules/backup', 'every', '"1h"', true],
  ['modules/backup', 'every', '"90s"', true],
  ['modules/backup', 'every', '"7d"', true],
  ['modules/backup', 'every', '"30s"', false],
  ['modules/backup', 'every', '"8d"', false],
  ['modules/backup', 'every', '"1x"', false],
  ['modules/backup', 'every', '"1h --keep 1"', false],
  ['modules/backup', 'every', '"0h"', false],
  ['modules/backup', 'full_every', '24', true],
  ['modules/backup', 'full_every', '0', false],
  ['modules/backup', 'keep', '48', true],
  ['modules/backup', 'keep', '1.5', false],
  ['modules/backup', 'volume_size_gb', '500', true],
  ['modules/backup', 'volume_size_gb', '10', false],
  ['modules/backup', 'instance_type', '"t3.micro"', false],
  ['modules/prometheus', 'retention', '"15d"', true],
  ['modules/prometheus', 'retention', '"15"', false],
  ['examples/three-az', 'region', '"eu-west-1"', true],
  ['examples/three-az', 'region', '"Ireland"', false],
];

test('variable validations accept good values and reject bad ones (evaluated by terraform)', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const got = await verdicts(c, CASES.map(([dir, name, value]) => [dir, name, value]));
  const wrong = CASES.flatMap(([dir, name, value, ok], i) => (got[i] === ok ? [] : [`${dir} var.${name} = ${value}: expected ${ok ? 'accepted' : 'rejected'}, got ${String(got[i])}`]));
  assert.deepEqual(wrong, []);
  // The harness itself: a validation that accepts anything is seen accepting a bad value.
  const net = findModule(tree, 'modules/network');
  const lax = { ...net.variables.get('azs')!, validation: [{ condition: '${length(var.azs) > 0}', error_message: 'x' }] };
  const saved = tree;
  tree = tree.map((m) => (m === net ? { ...m, variables: new Map([...m.variables, ['azs', lax]]) } : m));
  try {
    assert.deepEqual(await verdicts(c, [['modules/network', 'azs', '["a", "b"]']]), [true]);
  } finally {
    tree = saved;
  }
});

async function renderNats(c: TfConsole, az: string, tlsDir: string): Promise<string> {
  const others = AZS.filter((a) => a !== az).map((a) => `nats-${a}.cellkv.internal`);
  return c.render(join(MODULES, 'nats-cluster/templates/nats-server.conf.tftpl'), `{
    server_name = "cellkv-nats-${az}", client_port = 4222, cluster_port = 6222, cluster_name = "cellkv",
    max_payload = "8MB", max_connections = 16384, tls_dir = ${JSON.stringify(tlsDir)},
    routes = ${JSON.stringify(others)}, authorization = ${JSON.stringify(renderAuthorization())} }`);
}

/** What render-nats-conf does on the instance: placeholders to passwords. */
function fillPasswords(conf: string): string {
  return conf.replace(/@@CELLKV_NATS_PASSWORD_([A-Z]+)@@/g, (_, u: string) => `${u.toLowerCase()}-password-for-test`);
}

test('nats-server.conf: routes to the two other AZs, the project ports, and `nats-server -t` accepts it', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const tls = join(workDir.dir, 'tls');
  await run('mkdir', ['-p', tls]);
  await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=cellkv-nats', '-days', '1', '-keyout', join(tls, 'server-key.pem'), '-out', join(tls, 'server.pem')]);
  await writeFile(join(tls, 'ca.pem'), readFileSync(join(tls, 'server.pem')));
  for (const az of AZS) {
    const conf = await renderNats(c, az, tls);
    const routes = [...conf.matchAll(/"nats-route:\/\/([^":]+):(\d+)"/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(routes, AZS.filter((a) => a !== az).map((a) => `nats-${a}.cellkv.internal:6222`));
    assert.match(conf, /^listen: "0\.0\.0\.0:4222"$/m);
    assert.match(conf, /^max_payload: 8MB$/m);
    const file = join(workDir.dir, `nats-${az}.conf`);
    await writeFile(file, fillPasswords(conf));
    await run(natsServerBinary(), ['-t', '-c', file]);
  }
  // -t is not a rubber stamp: an unfilled placeholder is fine syntax, a broken block is not.
  const broken = join(workDir.dir, 'broken.conf');
  await writeFile(broken, fillPasswords(await renderNats(c, AZS[0]!, tls)).replace('cluster {', 'cluster {{'));
  await assert.rejects(run(natsServerBinary(), ['-t', '-c', broken]));
});

test('prometheus.yml scrapes every node and the gateways; `promtool check config` accepts it', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const promtool = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p));
  const targets = AZS.map((az, i) => ({ target: `10.40.${i}.10:9101`, node: `n${i + 1}-1`, az }));
  const yml = await c.render(join(MODULES, 'prometheus/templates/prometheus.yml.tftpl'), `{
    cluster = "cellkv", region = "eu-west-1", scrape_interval = "15s", gateway_port = 8080, canary_port = 9108, port = 9090,
    cell_targets = ${JSON.stringify(targets).replace(/"(\w+)":/g, '$1 = ')} }`);
  for (const x of targets) assert.ok(yml.includes(`- targets: ["${x.target}"]`), `${x.target} is not scraped`);
  assert.match(yml, /port: 8080/);
  // The jobs the alert rules expect are the example config's (infra/prometheus/prometheus.yml), the canary's included.
  const jobs = (text: string) => [...text.matchAll(/^ {2}- job_name: (\S+)$/gm)].map((m) => m[1]!).filter((j) => j !== 'prometheus').sort();
  assert.deepEqual(jobs(yml), jobs(readFileSync(join(REPO, 'infra/prometheus/prometheus.yml'), 'utf8')));
  assert.match(/- job_name: cellkv-canary\n(?: .*\n)*? {8}port: (\d+)/.exec(yml)?.[1] ?? '', /^9108$/);
  if (!promtool) {
    process.stderr.write('# SKIP promtool not found: prometheus.yml rendered but not checked by promtool\n');
    t.skip('promtool not found');
    return;
  }
  const file = join(workDir.dir, 'prometheus.yml');
  await writeFile(file, yml);
  await run(promtool, ['check', 'config', file]);
  await writeFile(file, yml.replace('scrape_configs:', 'scrape_configs: nonsense'));
  await assert.rejects(run(promtool, ['check', 'config', file]));
});

test('units render the flags: the node on its data volume with --bootstrap only when allowed', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const unit = (bootstrap: string) =>
    c.render(join(MODULES, 'cell-nodes/templates/cellkv-node.service.tftpl'), `{
      node_id = "n1-1", az = "eu-west-1a", data_dir = "/var/lib/cellkv/data", mount_point = "/var/lib/cellkv",
      nats_urls = "nats://nats-eu-west-1a.cellkv.internal:4222,nats://nats-eu-west-1b.cellkv.internal:4222",
      nats_user = "cell", metrics_port = 9101, bootstrap = ${bootstrap}, otlp_endpoint = null,
      node_config = "/etc/cellkv/node.json", ca_file = "/etc/cellkv/nats-ca.pem", fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets" }`);
  const first = await unit('"n1-1:eu-west-1a,n2-1:eu-west-1b,n3-1:eu-west-1c"');
  assert.match(first, /--data-dir \/var\/lib\/cellkv\/data --nats nats:\/\/nats-eu-west-1a[^ ]+ --nats-user cell --metrics-port 9101 --bootstrap n1-1:eu-west-1a,n2-1:eu-west-1b,n3-1:eu-west-1c$/m);
  assert.match(first, /^RequiresMountsFor=\/var\/lib\/cellkv$/m);
  assert.doesNotMatch(await unit('null'), /--bootstrap/);
});

/** Every shell template, rendered with sample values: [template, vars]. */
const SCRIPTS: [string, string][] = [
  ['host-boot/templates/fetch-secrets.sh.tftpl', `{ region = "eu-west-1", env_file = "/run/cellkv/secrets.env", service_user = "nats", env_secrets = { CELLKV_NATS_PASSWORD = "${ARN}" }, file_secrets = { "/etc/nats/tls/server-key.pem" = "${ARN}" } }`],
  ['host-boot/templates/install-release.sh.tftpl', '{ region = "eu-west-1", release_s3_uri = "s3://artifacts/cellkv/cellkv-0.1.0.tgz" }'],
  ['nats-cluster/templates/render-nats-conf.sh.tftpl', '{ conf_in = "/etc/nats/nats-server.conf.in", conf_out = "/run/nats-server/nats-server.conf", env_file = "/run/cellkv/secrets.env", owner = "nats" }'],
  ['cell-nodes/templates/mount-data-volume.sh.tftpl', '{ volume_id = "vol-0123456789abcdef0", mount_point = "/var/lib/cellkv", data_dir = "/var/lib/cellkv/data", owner = "cellkv" }'],
];

test('boot scripts render to valid bash (bash -n); the volume device is derived from the volume ID', async (t) => {
  const c = needTf(t);
  if (!c) return;
  for (const [tpl, vars] of SCRIPTS) {
    const text: string = await c.render(join(MODULES, tpl), vars);
    const file = join(workDir.dir, tpl.replace(/\W/g, '_'));
    await writeFile(file, text);
    await run('bash', ['-n', file]).catch((e: { stderr?: string }) => assert.fail(`${tpl}: ${e.stderr ?? String(e)}`));
    if (tpl.includes('mount-data-volume')) {
      const { stdout }: { stdout: string } = await run('bash', ['-c', `vol=vol-0123456789abcdef0; ${/^dev=.*$/m.exec(text)![0]}; echo "$dev"`]);
      assert.equal(stdout.trim(), '/dev/disk/by-id/nvme-Amazon_Elastic_Block_Store_vol0123456789abcdef0');
    }
  }
  const broken = join(workDir.dir, 'broken.sh');
  await writeFile(broken, 'if true; then\n  echo x\n');
  await assert.rejects(run('bash', ['-n', broken]));
});

test('cloud-config: every file the role needs, base64 exactly as given, commands in order', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const files = [
    { path: '/etc/a.conf', permissions: '0644', content: 'a: "quoted" ${not interpolated}\n' },
    { path: '/usr/local/libexec/cellkv/x', permissions: '0700', content: '#!/bin/bash\necho hi\n' },
  ];
  const hcl = JSON.stringify(files).replace(/"(path|permissions|content)":/g, '$1 = ').replace(/\$\{/g, () => '$${');
  const commands = [['sh', '-c', 'id -u cellkv || useradd cellkv'], ['systemctl', 'enable', '--now', 'cellkv-node.service']];
  const text = await c.render(join(MODULES, 'host-boot/templates/cloud-config.yaml.tftpl'), `{ files = ${hcl}, commands = ${JSON.stringify(commands)} }`);
  assert.match(text, /^#cloud-config\n/);
  const contents = [...text.matchAll(/^ {4}content: (\S+)$/gm)].map((m) => Buffer.from(m[1]!, 'base64').toString('utf8'));
  assert.deepEqual(contents, files.map((f) => f.content));
  const runcmd = [...text.matchAll(/^ {2}- (\[.*\])$/gm)].map((m) => JSON.parse(m[1]!) as string[]);
  assert.deepEqual(runcmd, commands);
});

/** Every unit template with sample values: [template, unit name, vars]. */
const UNITS: [string, string, string][] = [
  ['nats-cluster/templates/nats-server.service.tftpl', 'nats-server.service', '{ fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets", render_conf = "/usr/local/libexec/cellkv/render-nats-conf", runtime_dir = "nats-server", conf = "/run/nats-server/nats-server.conf" }'],
  ['cell-nodes/templates/cellkv-node.service.tftpl', 'cellkv-node.service', '{ node_id = "n1-1", az = "eu-west-1a", data_dir = "/var/lib/cellkv/data", mount_point = "/var/lib/cellkv", nats_urls = "nats://nats-a.cellkv.internal:4222", nats_user = "cell", metrics_port = 9101, bootstrap = null, otlp_endpoint = "http://collector:4318", node_config = "/etc/cellkv/node.json", ca_file = "/etc/cellkv/nats-ca.pem", fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets" }'],
  ['gateways/templates/cellkv-gateway.service.tftpl', 'cellkv-gateway.service', '{ http_port = 8080, nats_urls = "nats://nats-a.cellkv.internal:4222", nats_user = "gateway", jwks_url = "https://auth.example/jwks.json", issuer = "https://auth.example", audience = "cellkv", tenant_claim = "tenant", quota_share = "0.3333", otlp_endpoint = null, ca_file = "/etc/cellkv/nats-ca.pem", fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets" }'],
  ['prometheus/templates/prometheus.service.tftpl', 'prometheus.service', '{ config_file = "/etc/prometheus/prometheus.yml", port = 9090, retention = "15d" }'],
  ['gateways/templates/cellkv-canary.service.tftpl', 'cellkv-canary.service', '{ gateway_url = "http://127.0.0.1:8080", metrics_port = 9108, rate = 10, fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets" }'],
  ['backup/templates/cellkv-backup.service.tftpl', 'cellkv-backup.service', '{ backup_root = "/var/lib/cellkv-backups/backups", mount_point = "/var/lib/cellkv-backups", every = "1h", full_every = 24, keep = 48, cluster_id = "cellkv-prod", nats_urls = "nats://nats-a.cellkv.internal:4222,nats://nats-b.cellkv.internal:4222", nats_user = "cell", ca_file = "/etc/cellkv/nats-ca.pem", fetch_secrets = "/usr/local/libexec/cellkv/fetch-secrets" }'],
];

/** systemd-analyze verify's complaints, less the binaries this machine does not have. */
async function unitProblems(file: string): Promise<string[]> {
  const r = await run('systemd-analyze', ['verify', file]).then(
    (x) => x.stderr,
    (e: { stderr?: string }) => e.stderr ?? String(e),
  );
  return r.split('\n').filter((l) => l.trim() !== '' && !/Command \S+ is not executable: No such file or directory/.test(l));
}

test('canary and backup units render: the local gateway, no token on the command line, backups on their volume', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const [, , canaryVars] = UNITS.find(([, n]) => n === 'cellkv-canary.service')!;
  const canary = await c.render(join(MODULES, 'gateways/templates/cellkv-canary.service.tftpl'), canaryVars);
  const exec = /^ExecStart=(.*)$/m.exec(canary)![1]!;
  assert.match(exec, /canary\/main\.ts --url http:\/\/127\.0\.0\.1:8080 --metrics-port 9108 --rate 10 /);
  assert.doesNotMatch(exec, /--token|eyJ/);
  assert.match(canary, /^After=network-online\.target cellkv-gateway\.service$/m);
  const [, , backupVars] = UNITS.find(([, n]) => n === 'cellkv-backup.service')!;
  const backup = await c.render(join(MODULES, 'backup/templates/cellkv-backup.service.tftpl'), backupVars);
  assert.match(backup, /^ExecStart=\/usr\/bin\/node cli\/bin\.mjs backup --to \/var\/lib\/cellkv-backups\/backups --every 1h --full-every 24 --keep 48 --cluster-id cellkv-prod --nats nats:\/\/\S+$/m);
  assert.match(backup, /^RequiresMountsFor=\/var\/lib\/cellkv-backups$/m);
  assert.match(backup, /^ReadWritePaths=\/var\/lib\/cellkv-backups$/m);
  assert.match(backup, /^Environment=CELLKV_NATS_USER=cell$/m);
  assert.doesNotMatch(backup, /PASSWORD=/);
});

test('systemd units render to files `systemd-analyze verify` accepts', async (t) => {
  const c = needTf(t);
  if (!c) return;
  const analyze = ['/usr/bin/systemd-analyze', '/bin/systemd-analyze'].some((p) => existsSync(p));
  if (!analyze) {
    process.stderr.write('# SKIP systemd-analyze not found: units not verified\n');
    t.skip('systemd-analyze not found');
    return;
  }
  const dir = join(workDir.dir, 'units');
  await run('mkdir', ['-p', dir]);
  for (const [tpl, name, vars] of UNITS) {
    const file = join(dir, name);
    await writeFile(file, await c.render(join(MODULES, tpl), vars));
    assert.deepEqual(await unitProblems(file), [], `${tpl} (${file})`);
  }
  const bad = join(dir, 'broken.service');
  await writeFile(bad, '[Service]\nExecStart=/bin/true\nKillSignal=SIGBOGUS\nRestartt=always\n');
  assert.equal((await unitProblems(bad)).length, 2);
});
