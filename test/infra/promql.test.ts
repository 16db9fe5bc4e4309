// The PromQL metric-name tokenizer the dashboard and alert checks rely on.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { metricNames, PromqlSyntaxError } from './promql.js';

test('a plain selector and one with label matchers', () => {
  assert.deepEqual(metricNames('up'), ['up']);
  assert.deepEqual(metricNames('cellkv_is_leader{cell="c1", job=~"cellkv-.*"}'), ['cellkv_is_leader']);
});

test('functions, aggregations, by/without label lists and durations are not names', () => {
  const e = 'histogram_quantile(0.99, sum by (le, op) (rate(cellkv_gateway_request_duration_seconds_bucket{door="http"}[5m])))';
  assert.deepEqual(metricNames(e), ['cellkv_gateway_request_duration_seconds_bucket']);
  assert.deepEqual(metricNames('sum(rate(a_total[1h30m])) without (instance, pod)'), ['a_total']);
  assert.deepEqual(metricNames('max_over_time(x[10m:1m]) offset 5m'), ['x']);
});

test('binary operators with on / ignoring / group_left keep both sides and skip their label lists', () => {
  const e = 'a / on (cell) group_left (az) b > bool 0.5 and ignoring (le) c unless d or e';
  assert.deepEqual(metricNames(e), ['a', 'b', 'c', 'd', 'e']);
});

test('strings, Grafana variables, comments, numbers and keywords are skipped', () => {
  const e = 'label_replace(rate(m_total{tenant=~"$tenant"}[$__rate_interval]), "dst", "$1 (x)", "src", "(.*)") # a comment with fake_metric\n + ${offset_var} * 1e3 + Inf - NaN';
  assert.deepEqual(metricNames(e), ['m_total']);
  assert.deepEqual(metricNames('count_values("v", build_info) > 0x1f'), ['build_info']);
});

test('recording-rule names with colons are names; repeats are reported once', () => {
  assert.deepEqual(metricNames('cellkv:errors:ratio_rate5m > (14.4 * 0.001) and cellkv:errors:ratio_rate5m'), ['cellkv:errors:ratio_rate5m']);
});

test('a function name used without a call is a name (as Prometheus would read it)', () => {
  // `rate` alone selects a metric called rate: the tokenizer must not drop names by spelling.
  assert.deepEqual(metricNames('rate + sum'), ['rate', 'sum']);
});

test('malformed expressions are rejected with a code', () => {
  assert.throws(() => metricNames('rate(x{job="a}[5m])'), (e: unknown) => e instanceof PromqlSyntaxError && e.code === 'PROMQL_SYNTAX');
  assert.throws(() => metricNames('x{job="a"'), PromqlSyntaxError);
});
