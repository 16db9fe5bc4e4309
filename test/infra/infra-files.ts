// Reads the operator artefacts under infra/ (alert rules, promtool tests, Grafana dashboards)
// for the checks in this folder: typed views over the YAML and JSON, nothing more.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const PROMETHEUS_DIR = join(ROOT, 'infra/prometheus');
export const RULES_FILE = join(PROMETHEUS_DIR, 'alerts.yml');
export const RULE_TEST_FILES = ['alerts.test.yml', 'alerts-slo.test.yml'].map((f) => join(PROMETHEUS_DIR, f));
export const DASHBOARD_DIR = join(ROOT, 'infra/grafana/dashboards');

export interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

export function loadRules(file = RULES_FILE): Rule[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: { name: string; rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

export interface AlertCase {
  readonly test: string;
  readonly alertname: string;
  /** Whether the case expects the alert to fire (some expected alert) or to stay quiet. */
  readonly fires: boolean;
}

export function loadAlertCases(files = RULE_TEST_FILES): AlertCase[] {
  const out: AlertCase[] = [];
  for (const f of files) {
    const doc = parseYaml(readFileSync(f, 'utf8')) as { tests: { name: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    for (const t of doc.tests) for (const a of t.alert_rule_test ?? []) out.push({ test: t.name, alertname: a.alertname, fires: (a.exp_alerts ?? []).length > 0 });
  }
  return out;
}

export interface DashboardTarget {
  readonly dashboard: string;
  readonly panel: string;
  readonly expr: string;
}

interface PanelJson {
  readonly title?: string;
  readonly targets?: { readonly expr?: string }[];
  readonly panels?: PanelJson[];
}

export interface DashboardJson {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: number;
  readonly panels: PanelJson[];
  readonly templating: { readonly list: { readonly name: string; readonly type: string; readonly query?: unknown; readonly definition?: string }[] };
}

export function dashboardFiles(dir = DASHBOARD_DIR): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(dir, f));
}

export function loadDashboard(file: string): DashboardJson {
  return JSON.parse(readFileSync(file, 'utf8')) as DashboardJson;
}

/** Every PromQL expression of a dashboard: panel targets (rows' nested panels too) and query variables. */
export function dashboardTargets(d: DashboardJson): DashboardTarget[] {
  const out: DashboardTarget[] = [];
  const visit = (panels: readonly PanelJson[]): void => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ dashboard: d.title, panel: p.title ?? '(untitled)', expr: t.expr });
      visit(p.panels ?? []);
    }
  };
  visit(d.panels);
  for (const v of d.templating.list) {
    if (v.type !== 'query') continue;
    const q = typeof v.query === 'string' ? v.query : ((v.query as { query?: string } | undefined)?.query ?? v.definition ?? '');
    // label_values(metric, label) names a metric; label_values(label) alone does not.
    const m = /^label_values\(\s*(.+)\s*,\s*[A-Za-z_][A-Za-z0-9_]*\s*\)$/.exec(q.trim());
    if (m) out.push({ dashboard: d.title, panel: `variable ${v.name}`, expr: m[1]! });
  }
  return out;
}
