// The Prometheus alert rules with the real promtool: `check rules` accepts them, `test rules`
// passes the synthetic series tests, and both reject what they must (a broken rule file, an
// alert regressed so that it fires on a healthy series or stays quiet on a failing one).
// Also: every alert carries a severity, a summary, a description and a runbook link, and is
// tested both firing and quiet.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { loadAlertCases, loadRules, ROOT, RULE_TEST_FILES, RULES_FILE } from './infra-files.js';

const PROMTOOL = '/usr/bin/promtool';
/** Runbook sections written for these alerts (docs/runbook.md). */
const RUNBOOK_ANCHORS = new Set(['node-loss', 'az-loss', 'full-cluster-loss', 'restore']);

interface Run {
  readonly code: number;
  readonly output: string;
}

function promtool(args: readonly string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(PROMTOOL, args, { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0;
      resolve({ code, output: stdout + stderr });
    });
  });
}

let dir = '';
before(async () => {
  assert.ok(existsSync(PROMTOOL), `${PROMTOOL} is missing: install Debian's prometheus package (apt-get install -y prometheus; .ci/run does it)`);
  dir = await mkdtemp(join(tmpdir(), 'cellkv-alerts-'));
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** A copy of the rules (edited by `edit`) next to copies of the test files, in the temp dir. */
async function mutatedCopy(name: string, edit: (rules: string) => string): Promise<string> {
  const sub = await mkdtemp(join(dir, `${name}-`));
  const original = readFileSync(RULES_FILE, 'utf8');
  const edited = edit(original);
  assert.notEqual(edited, original, `mutation ${name} changed nothing: the rule it targets was edited; update this test`);
  await writeFile(join(sub, 'alerts.yml'), edited);
  for (const f of RULE_TEST_FILES) await copyFile(f, join(sub, basename(f)));
  return sub;
}

test('promtool check rules accepts alerts.yml', async () => {
  const r = await promtool(['check', 'rules', RULES_FILE]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: \d+ rules found/);
});

test('promtool check config accepts the example configuration that loads the rules', async () => {
  const r = await promtool(['check', 'config', join(ROOT, 'infra/prometheus/prometheus.yml')]);
  assert.equal(r.code, 0, r.output);
  assert.match(r.output, /SUCCESS: 1 rule files found/);
});

test('promtool test rules passes every synthetic-series test', async () => {
  const r = await promtool(['test', 'rules', ...RULE_TEST_FILES]);
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.output, /FAILED/);
});

test('promtool check rules rejects a broken rule file', async () => {
  const sub = await mutatedCopy('broken', (s) => s.replace('expr: up{job="cellkv-node"} == 0', 'expr: up{job="cellkv-node" == 0'));
  const r = await promtool(['check', 'rules', join(sub, 'alerts.yml')]);
  assert.notEqual(r.code, 0, `a rule with unbalanced braces was accepted:\n${r.output}`);
  assert.match(r.output, /FAILED|error/i);
});

test('the promtool tests catch alerts that regress', async (t) => {
  // Each mutation is a plausible bug; the tests must fail naming the alert.
  const mutations: [string, string, (s: string) => string][] = [
    // [name, the alert whose test must fail, the edit]
    // Forgetting to sum over `result`: a healthy canary's idle "fail" series would page.
    ['canary-stalled-per-result', 'CellkvCanaryStalled', (s) => s.replace('sum without (result) (rate(cellkv_canary_ops_total[5m])) == 0', 'rate(cellkv_canary_ops_total[5m]) == 0')],
    // A cell whose replicas all vanished must still count as leaderless.
    ['leader-lost-vanished', 'CellkvCellLeaderLost', (s) => s.replaceAll('max by (cell) (max_over_time(cellkv_is_leader{job="cellkv-node"}[15m]))', 'max by (cell) (cellkv_is_leader{job="cellkv-node"})')],
    // 4xx counted as errors would burn the budget on tenants' own mistakes.
    ['slo-counts-4xx', 'CellkvErrorBudgetBurnSlow', (s) => s.replaceAll('status=~"5.."', 'status=~"[45].."')],
    // One silent node is not an AZ loss.
    ['az-down-any-node', 'CellkvAzDown', (s) => s.replace(/\n\s*== count by \(az\) \(max by \(node, az\) \(cellkv_meta_node_heartbeat_age_seconds\{job="cellkv-node"\}\)\)/, '')],
  ];
  for (const [name, alert, edit] of mutations) {
    await t.test(name, async () => {
      const sub = await mutatedCopy(name, edit);
      const check = await promtool(['check', 'rules', join(sub, 'alerts.yml')]);
      assert.equal(check.code, 0, `the mutation must stay valid PromQL:\n${check.output}`);
      // The slow-burn SLO alert is tested in its own file; the others in alerts.test.yml.
      const file = alert === 'CellkvErrorBudgetBurnSlow' ? 'alerts-slo.test.yml' : 'alerts.test.yml';
      const r = await promtool(['test', 'rules', join(sub, file)]);
      assert.notEqual(r.code, 0, `mutation ${name} was not caught:\n${r.output}`);
      assert.match(r.output, new RegExp(`alertname: ${alert}\\b`));
    });
  }
});

/** GitHub's anchor of a markdown heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

test('every alert has a severity, summary, description and a runbook link that resolves', () => {
  const alertsDoc = readFileSync(join(ROOT, 'docs/alerts.md'), 'utf8');
  const anchors = new Set([...alertsDoc.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => slug(m[1]!)));
  const alerts = loadRules().filter((r) => r.alert !== undefined);
  assert.ok(alerts.length >= 10, `only ${alerts.length} alerts found`);
  const names = new Set<string>();
  for (const a of alerts) {
    assert.ok(!names.has(a.alert!), `duplicate alert ${a.alert}`);
    names.add(a.alert!);
    assert.match(a.labels?.['severity'] ?? '', /^(critical|warning|info)$/, `${a.alert}: severity`);
    assert.ok((a.annotations?.['summary'] ?? '').length > 10, `${a.alert}: summary`);
    assert.ok((a.annotations?.['description'] ?? '').length > 40, `${a.alert}: description says what to do`);
    const url = a.annotations?.['runbook_url'] ?? '';
    const m = /^docs\/(runbook|alerts)\.md#([a-z0-9-]+)$/.exec(url);
    assert.ok(m, `${a.alert}: runbook_url ${url} is not docs/runbook.md#... or docs/alerts.md#...`);
    if (m[1] === 'runbook') assert.ok(RUNBOOK_ANCHORS.has(m[2]!), `${a.alert}: no runbook section ${m[2]}`);
    else assert.ok(anchors.has(m[2]!), `${a.alert}: docs/alerts.md has no heading for #${m[2]}`);
  }
  // Every alert is explained in docs/alerts.md, whatever its runbook link.
  for (const n of names) assert.ok(anchors.has(n.toLowerCase()), `docs/alerts.md has no section ${n}`);
  // The two canary alerts keep the names the canary's dashboards and runbook use.
  assert.ok(names.has('CellkvCanaryViolation') && names.has('CellkvCanaryStalled'));
});

test('every alert is tested firing on a failing series and quiet on a healthy one', () => {
  const cases = loadAlertCases();
  const alerts = loadRules().flatMap((r) => (r.alert ? [r.alert] : []));
  for (const c of cases) assert.ok(alerts.includes(c.alertname), `test "${c.test}" names unknown alert ${c.alertname}`);
  for (const a of alerts) {
    assert.ok(cases.some((c) => c.alertname === a && c.fires), `${a} is never tested firing`);
    assert.ok(cases.some((c) => c.alertname === a && !c.fires), `${a} is never tested quiet`);
  }
});
