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

test('every .tf parses; the tree has the five modules, host-boot and the example', async (t) => {
  assert.deepEqual(tree.map((m) => m.dir).sort(), ['examples/three-az', 'modules/cell-nodes', 'modules/gateways', 'modules/host-boot', 'modules/nats-cluster', 'modules/network', 'modules/prometheus']);
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
  assert.deepEqual(ports, { natsClient: 4222, natsCluster: 6222, gatewayHttp: 8080, nodeMetrics: 9101, natsMaxPayload: '8MB' });
  clean(cellkv.checkPorts(tree, ports), 'ports');
  // A tree whose defaults drifted from the code is reported.
  const drifted = cellkv.checkPorts(tree, { ...ports, gatewayHttp: 8081, natsMaxPayload: '1MB' });
  assert.ok(drifted.length >= 4 && drifted.every((x) => x.code === 'PORT_DEFAULT'), show(drifted));
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
  assert.deepEqual(envKeys('modules/gateways'), ['CELLKV_GATEWAY_SESSION_SECRET', 'CELLKV_NATS_PASSWORD']);
  assert.match(readFileSync(join(REPO, 'cell/node/config.ts'), 'utf8'), /env\['CELLKV_NATS_PASSWORD'\]/);
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
  const typo = node.replace('--metrics-port', '--metrics-prot');
  assert.deepEqual(codes(cellkv.checkUnitFlags(typo, cellMain, ['--metrics-port'], 'typo')), ['UNIT_MISSING_FLAG', 'UNIT_UNKNOWN_FLAG']);
  const cells = readFileSync(join(TF, 'modules/cell-nodes/main.tf'), 'utf8');
  const json = /content = jsonencode\((\{[^}]*\})\)/.exec(cells)?.[1] ?? '';
  const keys = [...json.matchAll(/([A-Za-z]+)\s*=/g)].map((m) => m[1]!);
  assert.deepEqual(keys, ['metricsHost']);
  for (const k of keys) assert.ok(k in NodeConfigSchema.shape, `${k} is not a NodeConfig setting`);
});
