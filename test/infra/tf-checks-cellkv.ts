// Checks of the Terraform tree against what cellkv's processes actually do: three AZs, one
// NATS server per AZ, a data volume under every cell node, security group rules that open
// exactly the processes' ports, the ports' defaults as the project's code sets them, and unit
// files that pass only flags cell/main.ts and gateway/main.ts declare.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Violation } from './tf-checks.js';
import { unwrap, type Body, type TfModule } from './tf-model.js';

const v = (code: string, where: string, message: string): Violation => ({ code, where, message });

// ------------------------------------------------------------------ the project's own ports

export interface ProjectPorts {
  readonly natsClient: number;
  readonly natsCluster: number;
  readonly gatewayHttp: number;
  readonly nodeMetrics: number;
  /** canary/options.ts --metrics-port default (the canary on every gateway host). */
  readonly canaryMetrics: number;
  /** nats-server max_payload the local cluster uses (gateways size their batches by it). */
  readonly natsMaxPayload: string;
}

function grab(file: string, re: RegExp, what: string): string {
  const m = re.exec(readFileSync(file, 'utf8'));
  if (!m) throw new Error(`cannot find ${what} in ${file} (pattern ${re.source}); update test/infra/tf-checks-cellkv.ts`);
  return m[1]!;
}

/** Reads the ports from the code that starts the processes, so a change there fails the check. */
export function projectPorts(repo: string): ProjectPorts {
  const gwConfig = Number(grab(join(repo, 'gateway/config.ts'), /host: '127\.0\.0\.1',\s*port: (\d+),/, 'the gateway default port'));
  const gwMain = Number(grab(join(repo, 'gateway/main.ts'), /env\('PORT'\) \?\? '(\d+)'/, 'the gateway --port default'));
  if (gwConfig !== gwMain) throw new Error(`gateway/config.ts (${gwConfig}) and gateway/main.ts (${gwMain}) disagree on the default port`);
  const metrics = Number(grab(join(repo, 'README.md'), /cell\/main\.ts[^`]*--metrics-port (\d+)/, 'the node --metrics-port of the README'));
  if (metrics === 0) throw new Error('the README runs nodes on --metrics-port 0, which nothing can scrape');
  return {
    natsClient: Number(grab(join(repo, 'scripts/start.ts'), /choosePorts\(explicitClient, \[(\d+)/, 'the NATS client port')),
    natsCluster: Number(grab(join(repo, 'scripts/start.ts'), /choosePorts\(explicitCluster, \[(\d+)/, 'the NATS cluster port')),
    gatewayHttp: gwConfig,
    nodeMetrics: metrics,
    canaryMetrics: Number(grab(join(repo, 'canary/options.ts'), /'--metrics-port <port>', '[^']*'\)\.default\((\d+)\)/, 'the canary --metrics-port default')),
    natsMaxPayload: grab(join(repo, 'scripts/nats-cluster.ts'), /'max_payload: (\w+)'/, 'max_payload'),
  };
}

/** [module dir, variable, which project port its default must be]. */
export const PORT_VARIABLES: readonly [string, string, keyof ProjectPorts][] = [
  ['modules/network', 'nats_client_port', 'natsClient'],
  ['modules/network', 'nats_cluster_port', 'natsCluster'],
  ['modules/network', 'gateway_http_port', 'gatewayHttp'],
  ['modules/network', 'node_metrics_port', 'nodeMetrics'],
  ['modules/nats-cluster', 'client_port', 'natsClient'],
  ['modules/nats-cluster', 'cluster_port', 'natsCluster'],
  ['modules/nats-cluster', 'max_payload', 'natsMaxPayload'],
  ['modules/cell-nodes', 'metrics_port', 'nodeMetrics'],
  ['modules/gateways', 'http_port', 'gatewayHttp'],
  ['modules/prometheus', 'gateway_port', 'gatewayHttp'],
  ['modules/network', 'canary_metrics_port', 'canaryMetrics'],
  ['modules/gateways', 'canary_metrics_port', 'canaryMetrics'],
  ['modules/prometheus', 'canary_port', 'canaryMetrics'],
];

/** [module call in the example, argument, key of local.ports] */
export const EXAMPLE_PORT_ARGS: readonly [string, string, string][] = [
  ['network', 'nats_client_port', 'nats_client'],
  ['network', 'nats_cluster_port', 'nats_cluster'],
  ['network', 'gateway_http_port', 'gateway_http'],
  ['network', 'node_metrics_port', 'node_metrics'],
  ['network', 'prometheus_port', 'prometheus'],
  ['network', 'lb_listener_port', 'lb_listener'],
  ['nats', 'client_port', 'nats_client'],
  ['nats', 'cluster_port', 'nats_cluster'],
  ['cells', 'metrics_port', 'node_metrics'],
  ['gateways', 'http_port', 'gateway_http'],
  ['gateways', 'lb_listener_port', 'lb_listener'],
  ['prometheus', 'port', 'prometheus'],
  ['prometheus', 'gateway_port', 'gateway_http'],
  ['network', 'canary_metrics_port', 'canary_metrics'],
  ['gateways', 'canary_metrics_port', 'canary_metrics'],
  ['prometheus', 'canary_port', 'canary_metrics'],
];

const EXAMPLE_PORT_VALUES: Record<string, keyof ProjectPorts> = { nats_client: 'natsClient', nats_cluster: 'natsCluster', gateway_http: 'gatewayHttp', node_metrics: 'nodeMetrics', canary_metrics: 'canaryMetrics' };

function byDir(tree: readonly TfModule[], dir: string): TfModule | undefined {
  return tree.find((m) => m.dir === dir);
}

export function checkPorts(tree: readonly TfModule[], ports: ProjectPorts, exampleDir = 'examples/three-az'): Violation[] {
  const out: Violation[] = [];
  for (const [dir, name, key] of PORT_VARIABLES) {
    const m = byDir(tree, dir);
    const body = m?.variables.get(name);
    if (!body) out.push(v('PORT_VARIABLE_MISSING', `${dir}: variable "${name}"`, `expected, defaulting to ${ports[key]}`));
    else if (String(body['default']) !== String(ports[key])) out.push(v('PORT_DEFAULT', `${dir}: variable "${name}"`, `default ${String(body['default'])}, but the project uses ${ports[key]} (${key})`));
  }
  const ex = byDir(tree, exampleDir);
  if (!ex) return [...out, v('EXAMPLE_MISSING', exampleDir, 'no example root module')];
  const local = (ex.locals.get('ports') ?? {}) as Record<string, unknown>;
  for (const [k, key] of Object.entries(EXAMPLE_PORT_VALUES)) {
    if (String(local[k]) !== String(ports[key])) out.push(v('PORT_DEFAULT', `${exampleDir}: local.ports.${k}`, `${String(local[k])}, but the project uses ${ports[key]}`));
  }
  for (const [call, arg, k] of EXAMPLE_PORT_ARGS) {
    const got = ex.moduleCalls.get(call)?.[arg];
    if (got !== `\${local.ports.${k}}`) out.push(v('PORT_NOT_SHARED', `${exampleDir}: module "${call}" ${arg}`, `must be local.ports.${k} (one value for the process and its security group), got ${String(got)}`));
  }
  return out;
}

// ------------------------------------------------------------------ three AZs, one NATS per AZ

/** Every module with an `azs` variable validates it; every call passes var.azs; the example lists 3. */
export function checkAzs(tree: readonly TfModule[], exampleAzs: readonly string[], exampleDir = 'examples/three-az'): Violation[] {
  const out: Violation[] = [];
  for (const m of tree) {
    const azs = m.variables.get('azs');
    if (azs && !azs['validation']) out.push(v('AZS_NOT_VALIDATED', `${m.dir}: variable "azs"`, 'needs a validation block (exactly three distinct AZs)'));
    for (const [name, call] of m.moduleCalls) {
      if ('azs' in call && call['azs'] !== '${var.azs}') out.push(v('AZS_NOT_PASSED', `${m.dir}: module "${name}"`, `azs must be var.azs, got ${String(call['azs'])}`));
    }
  }
  if (exampleAzs.length !== 3 || new Set(exampleAzs).size !== 3) out.push(v('EXAMPLE_AZS', exampleDir, `the example passes ${JSON.stringify(exampleAzs)}, not three distinct AZs`));
  return out;
}

/**
 * A resource exists once per AZ: its for_each is toset(var.azs), a `{ for az in var.azs : az => ... }`
 * (inline or as a local), or another resource of the module that is itself once per AZ.
 */
export function checkOnePerAz(m: TfModule, addr: string, depth = 0): Violation[] {
  const r = m.resources.get(addr);
  const where = `${m.dir}: ${addr}`;
  if (!r) return [v('PER_AZ_MISSING', where, 'resource not found')];
  if ('count' in r) return [v('PER_AZ_COUNT', where, 'use for_each over the AZs, not count')];
  const fe = unwrap(r['for_each'] ?? '');
  if (fe === 'toset(var.azs)') return [];
  const local = /^local\.(\w+)$/.exec(fe);
  const expr = local ? unwrap(m.locals.get(local[1]!) ?? '') : fe;
  if (/^\{\s*for\s+(?:\w+\s*,\s*)?(\w+)\s+in\s+var\.azs\s*:\s*\1\s*=>/.test(expr)) return [];
  if (/^aws_[a-z0-9_]+\.[\w-]+$/.test(fe) && depth < 5 && m.resources.has(fe) && checkOnePerAz(m, fe, depth + 1).length === 0) return [];
  return [v('PER_AZ_FOR_EACH', where, `for_each must be keyed by the AZs of var.azs, got ${fe || 'nothing'}`)];
}

// ------------------------------------------------------------------ data volumes

/** Every cell node instance has its own EBS volume in its AZ, attached to it. */
export function checkNodeVolumes(m: TfModule): Violation[] {
  const out: Violation[] = [];
  const find = (type: string): [string, Body][] => [...m.resources].filter(([a]) => a.startsWith(`${type}.`));
  const instances = find('aws_instance');
  const volumes = find('aws_ebs_volume');
  const attachments = find('aws_volume_attachment');
  if (instances.length !== 1 || volumes.length !== 1 || attachments.length !== 1) {
    return [v('VOLUME_SHAPE', m.dir, `expected one aws_instance, aws_ebs_volume and aws_volume_attachment, got ${instances.length}/${volumes.length}/${attachments.length}`)];
  }
  const [[ia, inst], [va, vol], [aa, att]] = [instances[0]!, volumes[0]!, attachments[0]!];
  for (const [addr, body] of [[va, vol], [aa, att]] as const) {
    if (body['for_each'] !== inst['for_each']) out.push(v('VOLUME_FOR_EACH', `${m.dir}: ${addr}`, `for_each ${String(body['for_each'])} differs from the instances' ${String(inst['for_each'])}`));
  }
  if (att['instance_id'] !== `\${${ia}[each.key].id}`) out.push(v('VOLUME_NOT_ATTACHED', `${m.dir}: ${aa}`, `instance_id must be ${ia}[each.key].id`));
  if (att['volume_id'] !== `\${${va}[each.key].id}`) out.push(v('VOLUME_NOT_ATTACHED', `${m.dir}: ${aa}`, `volume_id must be ${va}[each.key].id`));
  if (vol['availability_zone'] !== '${each.value.az}') out.push(v('VOLUME_AZ', `${m.dir}: ${va}`, 'availability_zone must be the node\'s AZ (each.value.az)'));
  if (inst['subnet_id'] !== '${var.subnet_ids[each.value.az]}') out.push(v('VOLUME_AZ', `${m.dir}: ${ia}`, 'the instance must be in its AZ\'s subnet (var.subnet_ids[each.value.az])'));
  if (vol['encrypted'] !== true) out.push(v('VOLUME_UNENCRYPTED', `${m.dir}: ${va}`, 'data volumes must be encrypted'));
  const lc = ((vol['lifecycle'] as Body[] | undefined) ?? [])[0];
  if (lc?.['prevent_destroy'] !== true) out.push(v('VOLUME_DESTROYABLE', `${m.dir}: ${va}`, 'data volumes need lifecycle { prevent_destroy = true }'));
  return out;
}

/** A module with one instance and one EBS volume (the backup host): encrypted, kept, in the instance's AZ, attached to it. */
export function checkSingleVolume(m: TfModule): Violation[] {
  const find = (type: string): [string, Body][] => [...m.resources].filter(([a]) => a.startsWith(`${type}.`));
  const [instances, volumes, attachments] = [find('aws_instance'), find('aws_ebs_volume'), find('aws_volume_attachment')];
  if (instances.length !== 1 || volumes.length !== 1 || attachments.length !== 1) {
    return [v('VOLUME_SHAPE', m.dir, `expected one aws_instance, aws_ebs_volume and aws_volume_attachment, got ${instances.length}/${volumes.length}/${attachments.length}`)];
  }
  const [[ia, inst], [va, vol], [aa, att]] = [instances[0]!, volumes[0]!, attachments[0]!];
  const out: Violation[] = [];
  if (att['instance_id'] !== `\${${ia}.id}`) out.push(v('VOLUME_NOT_ATTACHED', `${m.dir}: ${aa}`, `instance_id must be ${ia}.id`));
  if (att['volume_id'] !== `\${${va}.id}`) out.push(v('VOLUME_NOT_ATTACHED', `${m.dir}: ${aa}`, `volume_id must be ${va}.id`));
  if (vol['availability_zone'] !== '${var.az}' || inst['subnet_id'] !== '${var.subnet_id}') out.push(v('VOLUME_AZ', `${m.dir}: ${va}`, 'the volume must be in var.az and the instance in var.subnet_id (that AZ\'s subnet)'));
  if (vol['encrypted'] !== true) out.push(v('VOLUME_UNENCRYPTED', `${m.dir}: ${va}`, 'the volume must be encrypted'));
  const lc = ((vol['lifecycle'] as Body[] | undefined) ?? [])[0];
  if (lc?.['prevent_destroy'] !== true) out.push(v('VOLUME_DESTROYABLE', `${m.dir}: ${va}`, 'the volume needs lifecycle { prevent_destroy = true }'));
  return out;
}

/**
 * Units that share one EnvironmentFile of secrets each drop (UnsetEnvironment=) every secret
 * variable that is not theirs: `own` maps a unit name to the variables it may keep.
 */
export function checkSecretIsolation(units: ReadonlyMap<string, string>, secretVars: readonly string[], own: ReadonlyMap<string, readonly string[]>): Violation[] {
  const out: Violation[] = [];
  for (const [name, text] of units) {
    const unset = new Set([...text.matchAll(/^UnsetEnvironment=(.*)$/gm)].flatMap((m) => m[1]!.trim().split(/\s+/)));
    const mine = own.get(name) ?? [];
    for (const s of secretVars) {
      if (!mine.includes(s) && !unset.has(s)) out.push(v('UNIT_FOREIGN_SECRET', name, `gets ${s} from the shared EnvironmentFile; add it to UnsetEnvironment=`));
      if (mine.includes(s) && unset.has(s)) out.push(v('UNIT_OWN_SECRET_UNSET', name, `unsets ${s}, which it needs`));
    }
  }
  return out;
}

/** Resolves a chain of string locals ("${local.a}/data") to plain text. */
export function resolveLocal(m: TfModule, name: string, depth = 0): string {
  if (depth > 10) throw new Error(`local.${name}: too deep`);
  const raw = m.locals.get(name);
  if (typeof raw !== 'string') throw new Error(`${m.dir}: local.${name} is not a string`);
  return raw.replace(/\$\{local\.(\w+)\}/g, (_, n: string) => resolveLocal(m, n, depth + 1));
}

// ------------------------------------------------------------------ security groups

interface Rule {
  readonly addr: string;
  readonly direction: 'ingress' | 'egress';
  readonly role: string;
  readonly peer: string;
  readonly port: string;
}

/** Expands the aws_vpc_security_group_*_rule resources (role["x"] and for_each over toset([...]) or CIDR lists). */
export function securityRules(m: TfModule): { rules: Rule[]; problems: Violation[] } {
  const rules: Rule[] = [];
  const problems: Violation[] = [];
  for (const [addr, r] of m.resources) {
    const dm = /^aws_vpc_security_group_(ingress|egress)_rule\./.exec(addr);
    if (!dm) continue;
    const where = `${m.dir}: ${addr}`;
    const fe = unwrap(r['for_each'] ?? '');
    const literal = /^toset\(\[(.*)\]\)$/.exec(fe);
    const keys = literal ? [...literal[1]!.matchAll(/"([^"]+)"/g)].map((k) => k[1]!) : [null];
    if (r['ip_protocol'] !== 'tcp') problems.push(v('SG_PROTOCOL', where, `ip_protocol must be tcp, got ${String(r['ip_protocol'])}`));
    if (r['from_port'] !== r['to_port']) problems.push(v('SG_PORT_RANGE', where, `opens a range ${String(r['from_port'])}-${String(r['to_port'])}; open the one port the process uses`));
    const port = typeof r['from_port'] === 'number' ? String(r['from_port']) : unwrap(r['from_port']);
    for (const key of keys) {
      const sub = (s: unknown) => unwrap(s ?? '').replace('[each.key]', key === null ? '[each.key]' : `["${key}"]`);
      const role = /role\["(\w+)"\]/.exec(sub(r['security_group_id']))?.[1] ?? '?';
      const peerSg = /role\["(\w+)"\]/.exec(sub(r['referenced_security_group_id']))?.[1];
      const cidr = r['cidr_ipv4'] === undefined ? undefined : unwrap(r['cidr_ipv4']) === 'each.value' ? fe : unwrap(r['cidr_ipv4']);
      rules.push({ addr, direction: dm[1] as 'ingress' | 'egress', role, peer: peerSg ?? `cidr:${cidr ?? '?'}`, port });
    }
  }
  return { rules, problems };
}

/** "direction role port peer", e.g. "ingress nats var.nats_client_port gateway". */
export type RuleSpec = string;

export const EXPECTED_RULES: readonly RuleSpec[] = [
  'ingress lb var.lb_listener_port cidr:toset(var.lb_client_cidrs)',
  'egress lb var.gateway_http_port gateway',
  'ingress gateway var.gateway_http_port lb',
  'ingress gateway var.gateway_http_port prometheus',
  'ingress gateway var.canary_metrics_port prometheus',
  'ingress nats var.nats_client_port gateway',
  'ingress nats var.nats_client_port cell',
  'ingress nats var.nats_client_port backup',
  'ingress nats var.nats_client_port cidr:toset(var.nats_client_cidrs)',
  'ingress nats var.nats_cluster_port nats',
  'egress nats var.nats_cluster_port nats',
  'egress gateway var.nats_client_port nats',
  'egress cell var.nats_client_port nats',
  'egress backup var.nats_client_port nats',
  'ingress cell var.node_metrics_port prometheus',
  'ingress prometheus var.prometheus_port cidr:toset(var.prometheus_client_cidrs)',
  'egress prometheus var.node_metrics_port cell',
  'egress prometheus var.gateway_http_port gateway',
  'egress prometheus var.canary_metrics_port gateway',
  'egress gateway 443 cidr:0.0.0.0/0',
  'egress nats 443 cidr:0.0.0.0/0',
  'egress cell 443 cidr:0.0.0.0/0',
  'egress prometheus 443 cidr:0.0.0.0/0',
  'egress backup 443 cidr:0.0.0.0/0',
];

/** The rules are exactly EXPECTED_RULES: nothing missing, nothing more. */
export function checkSecurityGroups(m: TfModule, expected: readonly RuleSpec[] = EXPECTED_RULES): Violation[] {
  const { rules, problems } = securityRules(m);
  const actual = new Map(rules.map((r) => [`${r.direction} ${r.role} ${r.port} ${r.peer}`, r.addr]));
  const out = [...problems];
  for (const e of expected) if (!actual.has(e)) out.push(v('SG_RULE_MISSING', m.dir, `no rule "${e}"`));
  for (const [spec, addr] of actual) if (!expected.includes(spec)) out.push(v('SG_RULE_UNEXPECTED', `${m.dir}: ${addr}`, `"${spec}" is not a port any cellkv process uses`));
  return out;
}

// ------------------------------------------------------------------ unit flags

/** Flags a commander program declares (`.option('--x <v>'`, `.requiredOption(`, `new Option(`, and the `--no-x` forms). */
export function declaredFlags(mainTs: string): Set<string> {
  return new Set([...mainTs.matchAll(/(?:\.option|\.requiredOption|new Option)\('(--[a-z][a-z-]*)/g)].map((m) => m[1]!));
}

/** The unit's ExecStart passes only declared flags, and all the required ones. */
export function checkUnitFlags(unit: string, mainTs: string, required: readonly string[], where: string): Violation[] {
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1];
  if (!exec) return [v('UNIT_NO_EXECSTART', where, 'no ExecStart line')];
  const used = new Set([...exec.matchAll(/(?<=\s)--[a-z][a-z-]*/g)].map((m) => m[0]).filter((f) => f !== '--import'));
  const declared = declaredFlags(mainTs);
  const out: Violation[] = [];
  for (const f of used) if (!declared.has(f)) out.push(v('UNIT_UNKNOWN_FLAG', where, `${f} is not a flag of the program`));
  for (const f of required) if (!used.has(f)) out.push(v('UNIT_MISSING_FLAG', where, `${f} is not passed`));
  return out;
}
