// infra/terraform without a cloud: `terraform fmt -check` with the real binary, every .tf parsed
// with a real HCL parser, and the structure checked against what cellkv's processes do (three
// AZs, one NATS server per AZ, a data volume under every node, exactly the processes' ports,
// no secret defaults, every variable used and every output read). Each check is also run on a
// broken input to show it reports the defect. Rendered templates: terraform-render.test.ts.

import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderAuthorization } from '../../infra/terraform/scripts/render-nats-authorization.js';
import { NodeConfigSchema } from '../../cell/node/config.js';
import { describe as show, genericChecks, templateCalls, type Violation } from './tf-checks.js';
import * as cellkv from './tf-checks-cellkv.js';
import { findTerraform, fmtCheck, tempTree } from './tf-eval.js';
import { findModule, loadTree, parseTfFile, TfParseError, type TfModule } from './tf-model.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const TF = join(REPO, 'infra/terraform');
const EXAMPLE = join(TF, 'examples/three-az');
let tree: TfModule[];

before(async () => {
  tree = await loadTree(TF);
});

const codes = (vs: readonly Violation[]) => vs.map((x) => x.code).sort();
const clean = (vs: readonly Violation[], what: string) => assert.deepEqual(vs, [], `${what}:\n${show(vs)}`);

/** Loads a throwaway tree of .tf files, removed when the test ends. */
async function caseTree(t: TestContext, files: Record<string, string>): Promise<TfModule[]> {
  const dir = await tempTree(files);
  t.after(dir.cleanup);
  return loadTree(dir.dir);
}

test('terraform fmt -check -recursive infra/terraform (real binary)', async (t) => {
  const tf = await findTerraform();
  if (!tf) {
    // An environment problem, not a defect of the code: say so loudly; the HCL checks still run.
    const reason = 'terraform binary not found (looked at $TERRAFORM, /usr/local/bin/terraform, /usr/bin/terraform): fmt check NOT run';
    process.stderr.write(`# SKIP ${reason}\n`);
    t.skip(reason);
    return;
  }
  t.diagnostic(`terraform ${tf.version} at ${tf.bin}`);
  const r = await fmtCheck(tf.bin, TF);
  assert.ok(r.ok, `not formatted (run terraform fmt -recursive infra/terraform):\n${r.diff}`);
  // The same check on a badly formatted file reports it.
  const bad = await tempTree({ 'main.tf': 'variable "x" {\ntype=string\n}\n' });
  try {
    const b = await fmtCheck(tf.bin, bad.dir);
    assert.equal(b.ok, false);
    assert.ok(b.files.some((f) => f.endsWith('main.tf')), b.diff);
  } finally {
    await bad.cleanup();
  }
});

test('every .tf parses; the tree has the six modules, host-boot and the example', async (t) => {
  assert.deepEqual(tree.map((m) => m.dir).sort(), ['examples/three-az', 'modules/backup', 'modules/cell-nodes', 'modules/gateways', 'modules/host-boot', 'modules/nats-cluster', 'modules/network', 'modules/prometheus']);
  await assert.rejects(parseTfFile('broken.tf', 'resource "aws_instance" "x" {\n  ami = \n}\n'), (e: unknown) => e instanceof TfParseError && e.file === 'broken.tf');
});

test('generic checks: references resolve, variables used, module calls and outputs match, templates, secrets', async (t) => {
  clean(genericChecks(tree), 'infra/terraform');
  const bad = await caseTree(t, {
    'main.tf': [
      'variable "db_password" {\n  type    = string\n  default = "hunter2-hunter2"\n}',
      'variable "api_token" {\n  type = string\n}',
      'variable "unused" {\n  type = string\n  validation {\n    condition     = var.unused != ""\n    error_message = "x"\n  }\n}',
      'resource "random_password" "p" {\n  length = 16\n}',
      'output "o" {\n  value = "${local.nope}-${aws_instance.ghost.id}-${var.db_password}-${var.api_token}"\n}',
      'module "m" {\n  source = "./m"\n  typo   = 1\n}',
      'output "p" {\n  value = module.m.missing\n}',
      'output "q" {\n  value = templatefile("${path.module}/m/templates/t.tftpl", { a = 1, extra = 2 })\n}',
    ].join('\n\n'),
    'm/main.tf': 'variable "required" {\n  type = string\n}\n\noutput "never_read" {\n  value = var.required\n}\n',
    'm/templates/t.tftpl': '${a} ${b}\n',
    'm/templates/orphan.tftpl': 'x\n',
  });
  assert.deepEqual(codes(genericChecks(bad)), [
    'GENERATED_SECRET',
    'MISSING_MODULE_ARGUMENT',
    'SECRET_DEFAULT',
    'SECRET_NOT_SENSITIVE',
    'SECRET_NOT_SENSITIVE',
    'TEMPLATE_UNKNOWN_VARIABLE',
    'TEMPLATE_UNUSED_ARGUMENT',
    'TEMPLATE_UNUSED_FILE',
    'TEMPLATE_UNUSED_FILE',
    'UNDECLARED_LOCAL',
    'UNDECLARED_RESOURCE',
    'UNKNOWN_MODULE_ARGUMENT',
    'UNKNOWN_MODULE_OUTPUT',
    'UNUSED_OUTPUT',
    'UNUSED_VARIABLE',
  ]);
});

test('three AZs: every azs variable is validated, every call passes var.azs, the example lists three', async (t) => {
  const vars = (await parseTfFile(join(EXAMPLE, 'terraform.tfvars.example'))) as { azs?: string[] };
  clean(cellkv.checkAzs(tree, vars.azs ?? []), 'azs');
  const azModules = tree.filter((m) => m.variables.has('azs')).map((m) => m.dir);
  assert.deepEqual(azModules.sort(), ['examples/three-az', 'modules/cell-nodes', 'modules/gateways', 'modules/nats-cluster', 'modules/network']);
  const bad = await caseTree(t, {
    'main.tf': 'variable "azs" {\n  type = list(string)\n}\n\nmodule "m" {\n  source = "./m"\n  azs    = ["a", "b"]\n}\n',
    'm/main.tf': 'variable "azs" {\n  type = list(string)\n}\n',
  });
  assert.deepEqual(codes(cellkv.checkAzs(bad, ['a', 'b', 'a'])), ['AZS_NOT_PASSED', 'AZS_NOT_VALIDATED', 'AZS_NOT_VALIDATED', 'EXAMPLE_AZS']);
});

test('one NATS server (and its DNS name) per AZ; subnets per AZ', async (t) => {
  const nats = findModule(tree, 'modules/nats-cluster');
  clean([...cellkv.checkOnePerAz(nats, 'aws_instance.server'), ...cellkv.checkOnePerAz(nats, 'aws_route53_record.server')], 'nats per AZ');
  const net = findModule(tree, 'modules/network');
  clean(['aws_subnet.private', 'aws_subnet.public', 'aws_nat_gateway.this'].flatMap((r) => cellkv.checkOnePerAz(net, r)), 'network per AZ');
  const bad = await caseTree(t, {
    'main.tf': [
      'variable "azs" {\n  type = list(string)\n}',
      'locals {\n  servers = { for i in range(3) : i => i }\n}',
      'resource "aws_instance" "a" {\n  count = 3\n}',
      'resource "aws_instance" "b" {\n  for_each = local.servers\n}',
      'resource "aws_instance" "c" {\n  ami = "x"\n}',
    ].join('\n\n'),
  });
  const m = bad[0]!;
  assert.deepEqual(codes(['a', 'b', 'c', 'd'].flatMap((n) => cellkv.checkOnePerAz(m, `aws_instance.${n}`))), ['PER_AZ_COUNT', 'PER_AZ_FOR_EACH', 'PER_AZ_FOR_EACH', 'PER_AZ_MISSING']);
});

test('every cell node has its own encrypted EBS volume in its AZ, attached, and the data dir on it', async (t) => {
  const cells = findModule(tree, 'modules/cell-nodes');
  clean(cellkv.checkNodeVolumes(cells), 'volumes');
  const mount = cellkv.resolveLocal(cells, 'mount_point');
  const dataDir = cellkv.resolveLocal(cells, 'data_dir');
  assert.ok(dataDir.startsWith(`${mount}/`), `data dir ${dataDir} is not on the volume mounted at ${mount}`);
  const calls = templateCalls(cells);
  const unit = calls.find((c) => c.template.endsWith('cellkv-node.service.tftpl'));
  const mountScript = calls.find((c) => c.template.endsWith('mount-data-volume.sh.tftpl'));
  assert.equal(unit?.args.get('data_dir'), 'local.data_dir');
  assert.equal(unit?.args.get('mount_point'), 'local.mount_point');
  assert.equal(mountScript?.args.get('mount_point'), 'local.mount_point');
  assert.match(mountScript?.args.get('volume_id') ?? '', /^aws_ebs_volume\.data\[each\.key\]\.id$/);
  const bad = await caseTree(t, {
    'main.tf': [
      'resource "aws_instance" "node" {\n  for_each  = local.nodes\n  subnet_id = var.subnet_ids[0]\n}',
      'resource "aws_ebs_volume" "data" {\n  for_each          = local.other\n  availability_zone = "eu-west-1a"\n}',
      'resource "aws_volume_attachment" "data" {\n  for_each    = local.nodes\n  instance_id = aws_instance.node["n1"].id\n  volume_id   = aws_ebs_volume.data[each.key].id\n}',
    ].join('\n\n'),
  });
  assert.deepEqual(codes(cellkv.checkNodeVolumes(bad[0]!)), ['VOLUME_AZ', 'VOLUME_AZ', 'VOLUME_DESTROYABLE', 'VOLUME_FOR_EACH', 'VOLUME_NOT_ATTACHED', 'VOLUME_UNENCRYPTED']);
});

test('the backup host has its own encrypted, kept EBS volume in its AZ, and --to is on it', async (t) => {
  const backup = findModule(tree, 'modules/backup');
  clean(cellkv.checkSingleVolume(backup), 'backup volume');
  const mount = cellkv.resolveLocal(backup, 'mount_point');
  const root = cellkv.resolveLocal(backup, 'backup_root');
  assert.ok(root.startsWith(`${mount}/`), `backup root ${root} is not on the volume mounted at ${mount}`);
  const calls = templateCalls(backup);
  const unit = calls.find((c) => c.template.endsWith('cellkv-backup.service.tftpl'));
  const mountScript = calls.find((c) => c.template.endsWith('mount-data-volume.sh.tftpl'));
  assert.equal(unit?.args.get('backup_root'), 'local.backup_root');
  assert.equal(unit?.args.get('mount_point'), 'local.mount_point');
  assert.equal(mountScript?.args.get('mount_point'), 'local.mount_point');
  assert.equal(mountScript?.args.get('volume_id'), 'aws_ebs_volume.backups.id');
  // The example places it in the first AZ, in that AZ's subnet, behind the backup security group.
  const call = findModule(tree, 'examples/three-az').moduleCalls.get('backup')!;
  assert.equal(call['az'], '${var.azs[0]}');
  assert.equal(call['subnet_id'], '${module.network.private_subnet_ids[var.azs[0]]}');
  assert.equal(call['security_group_id'], '${module.network.security_group_ids["backup"]}');
  const bad = await caseTree(t, {
    'main.tf': [
      'resource "aws_instance" "b" {\n  subnet_id = var.subnet_ids["x"]\n}',
      'resource "aws_ebs_volume" "v" {\n  availability_zone = var.az\n  encrypted         = false\n}',
      'resource "aws_volume_attachment" "a" {\n  instance_id = aws_instance.other.id\n  volume_id   = aws_ebs_volume.v.id\n}',
    ].join('\n\n'),
  });
  assert.deepEqual(codes(cellkv.checkSingleVolume(bad[0]!)), ['VOLUME_AZ', 'VOLUME_DESTROYABLE', 'VOLUME_NOT_ATTACHED', 'VOLUME_UNENCRYPTED']);
});

test('security groups open exactly the processes ports, one TCP port per rule', async (t) => {
  const net = findModule(tree, 'modules/network');
  clean(cellkv.checkSecurityGroups(net), 'security groups');
  const bad = await caseTree(t, {
    'main.tf': [
      'resource "aws_vpc_security_group_ingress_rule" "all" {\n  security_group_id = aws_security_group.role["cell"].id\n  ip_protocol       = "-1"\n  from_port         = 0\n  to_port           = 65535\n  cidr_ipv4         = "0.0.0.0/0"\n}',
      'resource "aws_vpc_security_group_ingress_rule" "nats" {\n  for_each                     = toset(["gateway"])\n  security_group_id            = aws_security_group.role["nats"].id\n  ip_protocol                  = "tcp"\n  from_port                    = var.nats_client_port\n  to_port                      = var.nats_client_port\n  referenced_security_group_id = aws_security_group.role[each.key].id\n}',
    ].join('\n\n'),
  });
  const vs = cellkv.checkSecurityGroups(bad[0]!, ['ingress nats var.nats_client_port gateway', 'ingress nats var.nats_client_port cell']);
  assert.deepEqual(codes(vs), ['SG_PORT_RANGE', 'SG_PROTOCOL', 'SG_RULE_MISSING', 'SG_RULE_UNEXPECTED']);
  assert.match(show(vs), /no rule "ingress nats var.nats_client_port cell"/);
});

test('port defaults are the project ones (gateway/config.ts, scripts/start.ts, README) and shared by process and security group', () => {
  const ports = cellkv.projectPorts(REPO);
  assert.deepEqual(ports, { natsClient: 4222, natsCluster: 6222, gatewayHttp: 8080, nodeMetrics: 9101, canaryMetrics: 9108, natsMaxPayload: '8MB' });
  clean(cellkv.checkPorts(tree, ports), 'ports');
  // A tree whose defaults drifted from the code is reported.
  const drifted = cellkv.checkPorts(tree, { ...ports, gatewayHttp: 8081, natsMaxPayload: '1MB' });
  assert.ok(drifted.length >= 4 && drifted.every((x) => x.code === 'PORT_DEFAULT'), show(drifted));
  // The canary's port: network, gateways, prometheus and the example's local.ports all follow canary/options.ts.
  const canary = cellkv.checkPorts(tree, { ...ports, canaryMetrics: 9110 });
  assert.deepEqual(canary.map((x) => x.where).sort(), ['examples/three-az: local.ports.canary_metrics', 'modules/gateways: variable "canary_metrics_port"', 'modules/network: variable "canary_metrics_port"', 'modules/prometheus: variable "canary_port"']);
  const ex = findModule(tree, 'examples/three-az');
  const netCall = { ...ex.moduleCalls.get('network')!, node_metrics_port: 9101 };
  const edited: TfModule = { ...ex, moduleCalls: new Map([...ex.moduleCalls, ['network', netCall]]) };
  assert.deepEqual(codes(cellkv.checkPorts(tree.map((m) => (m === ex ? edited : m)), ports)), ['PORT_NOT_SHARED']);
});

test('secret flow: the NATS authorization block is the generator output, with placeholders only', () => {
  const file = readFileSync(join(EXAMPLE, 'nats-authorization.conf'), 'utf8');
  assert.equal(file, renderAuthorization(), 'stale: run npx tsx infra/terraform/scripts/render-nats-authorization.ts');
  assert.notEqual(renderAuthorization({ platformInboxPrefix: '_INBOX_platform' }), file);
  for (const u of ['GATEWAY', 'CELL', 'PLATFORM']) assert.match(file, new RegExp(`password: "@@CELLKV_NATS_PASSWORD_${u}@@"`));
  assert.doesNotMatch(file.replace(/@@CELLKV_NATS_PASSWORD_[A-Z]+@@/g, ''), /password: "[^"]+"/);
  const ex = findModule(tree, 'examples/three-az');
  assert.equal(ex.moduleCalls.get('nats')?.['authorization_conf'], '${file("${path.module}/nats-authorization.conf")}');
  // Each role reads only its own secrets, by ARN, into the environment variables its process reads.
  const envKeys = (dir: string) => Object.keys(findModule(tree, dir).moduleCalls.get('boot')?.['env_secret_arns'] as Record<string, unknown>).sort();
  assert.deepEqual(envKeys('modules/cell-nodes'), ['CELLKV_NATS_PASSWORD']);
  assert.deepEqual(envKeys('modules/gateways'), ['CELLKV_CANARY_TOKEN', 'CELLKV_GATEWAY_SESSION_SECRET', 'CELLKV_NATS_PASSWORD']);
  assert.deepEqual(envKeys('modules/backup'), ['CELLKV_NATS_PASSWORD']);
  assert.match(readFileSync(join(REPO, 'cell/node/config.ts'), 'utf8'), /env\['CELLKV_NATS_PASSWORD'\]/);
  // The canary reads its token from the environment, the backup CLI its NATS user and password.
  assert.match(readFileSync(join(REPO, 'canary/options.ts'), 'utf8'), /process\.env\['CELLKV_CANARY_TOKEN'\]/);
  const admin = readFileSync(join(REPO, 'cli/admin.ts'), 'utf8');
  for (const k of ['CELLKV_NATS_USER', 'CELLKV_NATS_PASSWORD']) assert.match(admin, new RegExp(`env\\['${k}'\\]`));
  // The new ARNs are variables like the others: sensitive, no default (genericChecks enforces it).
  for (const [dir, name] of [['modules/gateways', 'canary_token_secret_arn'], ['examples/three-az', 'canary_token_secret_arn'], ['modules/backup', 'cell_password_secret_arn']] as const) {
    const body = findModule(tree, dir).variables.get(name);
    assert.ok(body && body['sensitive'] === true && !('default' in body), `${dir}: ${name} must be sensitive without a default`);
  }
  const gw = readFileSync(join(REPO, 'gateway/main.ts'), 'utf8');
  for (const k of ['CELLKV_NATS_PASSWORD', 'CELLKV_GATEWAY_SESSION_SECRET']) assert.match(gw, new RegExp(`process\\.env\\['${k}'\\]`));
});

test('render-nats-authorization --check: 0 when the file is current, 1 with OUT_OF_DATE when it is not', async (t) => {
  const script = join(TF, 'scripts/render-nats-authorization.ts');
  const runScript = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.once('close', (code) => resolve({ code, stderr }));
    });
  assert.deepEqual((await runScript(['--check'])).code, 0);
  const stale = await tempTree({ 'auth.conf': renderAuthorization().replace('cellkv.dir', 'cellkv.directory') });
  t.after(stale.cleanup);
  const r = await runScript(['--check', '--out', join(stale.dir, 'auth.conf')]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /OUT_OF_DATE/);
});

test('units pass only flags the programs declare; node.json holds only NodeConfig settings', () => {
  const node = readFileSync(join(TF, 'modules/cell-nodes/templates/cellkv-node.service.tftpl'), 'utf8');
  const gw = readFileSync(join(TF, 'modules/gateways/templates/cellkv-gateway.service.tftpl'), 'utf8');
  const cellMain = readFileSync(join(REPO, 'cell/main.ts'), 'utf8');
  const gwMain = readFileSync(join(REPO, 'gateway/main.ts'), 'utf8');
  clean(cellkv.checkUnitFlags(node, cellMain, ['--node-id', '--az', '--data-dir', '--nats', '--nats-user', '--metrics-port', '--config'], 'cellkv-node'), 'node unit');
  clean(cellkv.checkUnitFlags(gw, gwMain, ['--host', '--port', '--nats', '--nats-user', '--jwks-url', '--issuer', '--audience'], 'cellkv-gateway'), 'gateway unit');
  const canaryUnit = readFileSync(join(TF, 'modules/gateways/templates/cellkv-canary.service.tftpl'), 'utf8');
  const canaryFlags = readFileSync(join(REPO, 'canary/options.ts'), 'utf8');
  clean(cellkv.checkUnitFlags(canaryUnit, canaryFlags, ['--url', '--metrics-port', '--violations-dir'], 'cellkv-canary'), 'canary unit');
  // The token never goes on the command line.
  for (const f of ['--token', '--token-file']) assert.ok(!/^ExecStart=.*$/m.exec(canaryUnit)![0].includes(` ${f} `), `canary unit passes ${f}`);
  const backupUnit = readFileSync(join(TF, 'modules/backup/templates/cellkv-backup.service.tftpl'), 'utf8');
  const backupFlags = ['cli/backup.ts', 'cli/cellkv.ts'].map((f) => readFileSync(join(REPO, f), 'utf8')).join('\n');
  clean(cellkv.checkUnitFlags(backupUnit, backupFlags, ['--to', '--every', '--full-every', '--keep', '--nats'], 'cellkv-backup'), 'backup unit');
  assert.match(/^ExecStart=(.*)$/m.exec(backupUnit)![1]!, /^\/usr\/bin\/node cli\/bin\.mjs backup /);
  assert.deepEqual(codes(cellkv.checkUnitFlags(backupUnit.replace('--full-every', '--fullevery'), backupFlags, ['--full-every'], 'typo')), ['UNIT_MISSING_FLAG', 'UNIT_UNKNOWN_FLAG']);
  const typo = node.replace('--metrics-port', '--metrics-prot');
  assert.deepEqual(codes(cellkv.checkUnitFlags(typo, cellMain, ['--metrics-port'], 'typo')), ['UNIT_MISSING_FLAG', 'UNIT_UNKNOWN_FLAG']);
  const cells = readFileSync(join(TF, 'modules/cell-nodes/main.tf'), 'utf8');
  const json = /content = jsonencode\((\{[^}]*\})\)/.exec(cells)?.[1] ?? '';
  const keys = [...json.matchAll(/([A-Za-z]+)\s*=/g)].map((m) => m[1]!);
  assert.deepEqual(keys, ['metricsHost']);
  for (const k of keys) assert.ok(k in NodeConfigSchema.shape, `${k} is not a NodeConfig setting`);
});

test('gateway hosts: the canary runs there, and each unit drops the secrets of the other', () => {
  const gw = findModule(tree, 'modules/gateways');
  const boot = gw.moduleCalls.get('boot')!;
  assert.deepEqual(boot['units'], ['cellkv-gateway.service', 'cellkv-canary.service']);
  const canaryCall = templateCalls(gw).find((c) => c.template.endsWith('cellkv-canary.service.tftpl'));
  assert.equal(canaryCall?.args.get('gateway_url'), '"http://127.0.0.1:${var.http_port}"');
  const secretVars = Object.keys(boot['env_secret_arns'] as Record<string, unknown>);
  const read = (n: string) => readFileSync(join(TF, `modules/gateways/templates/${n}.tftpl`), 'utf8');
  const units = new Map([['cellkv-gateway.service', read('cellkv-gateway.service')], ['cellkv-canary.service', read('cellkv-canary.service')]]);
  const own = new Map([['cellkv-gateway.service', ['CELLKV_NATS_PASSWORD', 'CELLKV_GATEWAY_SESSION_SECRET']], ['cellkv-canary.service', ['CELLKV_CANARY_TOKEN']]]);
  clean(cellkv.checkSecretIsolation(units, secretVars, own), 'gateway host units');
  // A canary unit that keeps the gateway's NATS password, and a gateway unit that drops its own, are reported.
  const leaky = new Map([...units, ['cellkv-canary.service', units.get('cellkv-canary.service')!.replace(/^UnsetEnvironment=.*$/m, 'UnsetEnvironment=CELLKV_GATEWAY_SESSION_SECRET')]]);
  assert.deepEqual(codes(cellkv.checkSecretIsolation(leaky, secretVars, own)), ['UNIT_FOREIGN_SECRET']);
  const selfish = new Map([...units, ['cellkv-gateway.service', units.get('cellkv-gateway.service')!.replace('UnsetEnvironment=CELLKV_CANARY_TOKEN', 'UnsetEnvironment=CELLKV_CANARY_TOKEN CELLKV_NATS_PASSWORD')]]);
  assert.deepEqual(codes(cellkv.checkSecretIsolation(selfish, secretVars, own)), ['UNIT_OWN_SECRET_UNSET']);
});
