// A small model of Grafana dashboard JSON (schemaVersion 39): rows of time-series and stat
// panels over one Prometheus datasource variable. dashboards.ts describes the cellkv
// dashboards with it; the JSON under dashboards/ is its output (import it in Grafana, or
// provision the folder).

export const SCHEMA_VERSION = 39;
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
const GRID_WIDTH = 24;

export type Unit = 'reqps' | 'ops' | 's' | 'percentunit' | 'bytes' | 'short' | 'none';

export interface Query {
  readonly expr: string;
  /** Legend template, e.g. `{{op}}`. */
  readonly legend?: string;
}

export interface PanelSpec {
  readonly title: string;
  readonly description?: string;
  readonly queries: readonly Query[];
  readonly unit?: Unit;
  readonly kind?: 'timeseries' | 'stat';
  /** Grid columns out of 24 (default 12); panels flow left to right, 8 rows high. */
  readonly width?: number;
  /** A red threshold line / colour from this value. */
  readonly redFrom?: number;
}

export interface RowSpec {
  readonly title: string;
  readonly panels: readonly PanelSpec[];
}

export interface VariableSpec {
  readonly name: string;
  readonly label: string;
  /** label_values(<metric>, <label>) */
  readonly metric: string;
  readonly labelName: string;
}

export interface DashboardSpec {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly variables: readonly VariableSpec[];
  readonly rows: readonly RowSpec[];
}

type Json = string | number | boolean | null | Json[] | { [k: string]: Json };

function panelJson(p: PanelSpec, id: number, gridPos: { x: number; y: number; w: number; h: number }): Json {
  const thresholds = {
    mode: 'absolute',
    steps: p.redFrom === undefined ? [{ color: 'green', value: null }] : [{ color: 'green', value: null }, { color: 'red', value: p.redFrom }],
  };
  const kind = p.kind ?? 'timeseries';
  return {
    id,
    type: kind,
    title: p.title,
    description: p.description ?? '',
    datasource: { ...DATASOURCE },
    gridPos,
    targets: p.queries.map((q, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource: { ...DATASOURCE },
      expr: q.expr,
      legendFormat: q.legend ?? '__auto',
      range: true,
    })),
    fieldConfig: {
      defaults: {
        unit: p.unit ?? 'short',
        thresholds,
        ...(kind === 'timeseries' ? { custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, showPoints: 'never', thresholdsStyle: { mode: p.redFrom === undefined ? 'off' : 'line' } } } : {}),
      },
      overrides: [],
    },
    options:
      kind === 'timeseries'
        ? { legend: { displayMode: 'table', placement: 'bottom', showLegend: true, calcs: ['mean', 'max', 'lastNotNull'] }, tooltip: { mode: 'multi', sort: 'desc' } }
        : { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'background', graphMode: 'area', textMode: 'auto' },
  };
}

function variableJson(v: VariableSpec): Json {
  const query = `label_values(${v.metric}, ${v.labelName})`;
  return {
    name: v.name,
    label: v.label,
    type: 'query',
    datasource: { ...DATASOURCE },
    definition: query,
    query: { query, refId: `${v.name}-values` },
    includeAll: true,
    multi: true,
    allValue: '.*',
    current: { selected: true, text: ['All'], value: ['$__all'] },
    refresh: 2,
    sort: 1,
    options: [],
  };
}

export function dashboardJson(d: DashboardSpec): Json {
  const panels: Json[] = [];
  let id = 1;
  let y = 0;
  for (const row of d.rows) {
    panels.push({ id: id++, type: 'row', title: row.title, collapsed: false, gridPos: { x: 0, y, w: GRID_WIDTH, h: 1 }, panels: [] });
    y += 1;
    let x = 0;
    for (const p of row.panels) {
      const w = p.width ?? 12;
      if (w < 1 || w > GRID_WIDTH) throw new RangeError(`panel ${p.title}: width ${w} is not 1..${GRID_WIDTH}`);
      if (x + w > GRID_WIDTH) {
        x = 0;
        y += 8;
      }
      panels.push(panelJson(p, id++, { x, y, w, h: 8 }));
      x += w;
    }
    y += 8;
  }
  return {
    uid: d.uid,
    title: d.title,
    description: d.description,
    tags: ['cellkv'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    annotations: { list: [] },
    links: [],
    templating: {
      list: [
        { name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus', current: {}, hide: 0, refresh: 1, options: [] },
        ...d.variables.map(variableJson),
      ],
    },
    panels,
  };
}
