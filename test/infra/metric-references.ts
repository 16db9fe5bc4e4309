// Checks metric names referenced by dashboards and alert rules against what processes expose
// on /metrics (Prometheus text exposition).

import { metricNames } from './promql.js';

/** Series Prometheus makes itself (scrape health), never exposed by a target. */
export const PROMETHEUS_OWN = new Set(['up']);
/** Metrics of the canary process (written elsewhere), allowed without a scrape of it. */
export const CANARY_PREFIX = 'cellkv_canary_';

export interface Exposition {
  /** Names a query can select: counters and gauges as declared, histograms as _bucket/_sum/_count. */
  readonly selectable: Set<string>;
  /** Names that had at least one sample. */
  readonly sampled: Set<string>;
}

/** Parses one or more /metrics bodies. */
export function parseExposition(bodies: readonly string[]): Exposition {
  const selectable = new Set<string>();
  const sampled = new Set<string>();
  for (const body of bodies) {
    for (const line of body.split('\n')) {
      const type = /^# TYPE ([A-Za-z_:][A-Za-z0-9_:]*) (\w+)$/.exec(line);
      if (type) {
        const [, name, kind] = type as unknown as [string, string, string];
        if (kind === 'histogram') for (const s of ['_bucket', '_sum', '_count']) selectable.add(name + s);
        else if (kind === 'summary') for (const s of ['', '_sum', '_count']) selectable.add(name + s);
        else selectable.add(name);
        continue;
      }
      if (line === '' || line.startsWith('#')) continue;
      const sample = /^([A-Za-z_:][A-Za-z0-9_:]*)[{ ]/.exec(line);
      if (sample) {
        selectable.add(sample[1]!);
        sampled.add(sample[1]!);
      }
    }
  }
  return { selectable, sampled };
}

export interface Reference {
  /** Where the expression comes from, e.g. `dashboard cellkv / raft, panel Term by cell`. */
  readonly where: string;
  readonly expr: string;
}

export interface ReferenceReport {
  /** `metric (where)` for every name nobody exposes. */
  readonly unknown: string[];
  /** Canary metric names referenced (checked against the allowed list, not a scrape). */
  readonly canary: string[];
  /** Names found in the scrape, for the record. */
  readonly checked: string[];
}

/**
 * Every metric referenced must be exposed, be one of Prometheus' own, a recording rule, or an
 * allowed canary metric.
 */
export function checkReferences(refs: readonly Reference[], exposed: Exposition, opts: { recorded: ReadonlySet<string>; canaryMetrics: readonly string[] }): ReferenceReport {
  const unknown: string[] = [];
  const canary = new Set<string>();
  const checked = new Set<string>();
  for (const r of refs) {
    for (const name of metricNames(r.expr)) {
      if (PROMETHEUS_OWN.has(name) || opts.recorded.has(name)) continue;
      if (name.startsWith(CANARY_PREFIX)) {
        canary.add(name);
        if (!opts.canaryMetrics.includes(name)) unknown.push(`${name} (${r.where}: not a known canary metric)`);
        continue;
      }
      if (exposed.selectable.has(name)) checked.add(name);
      else unknown.push(`${name} (${r.where})`);
    }
  }
  return { unknown, canary: [...canary].sort(), checked: [...checked].sort() };
}
