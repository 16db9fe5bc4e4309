// The Porcupine kv model (get / put / append) and its EDN reader.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type KvAppendOp, checkOperations, kvAppendModel, parsePorcupineKv } from '../../../shared/lincheck/index.js';

const get = (c: number, call: number, ret: number, key: string, value: string): KvAppendOp => ({
  clientId: c, call, return: ret, input: { f: 'get', key }, output: { value },
});
const put = (c: number, call: number, ret: number | null, key: string, value: string): KvAppendOp => ({
  clientId: c, call, return: ret ?? Infinity, input: { f: 'put', key, value }, output: ret === null ? undefined : {},
});
const append = (c: number, call: number, ret: number | null, key: string, value: string): KvAppendOp => ({
  clientId: c, call, return: ret ?? Infinity, input: { f: 'append', key, value }, output: ret === null ? undefined : {},
});
const verdict = (ops: KvAppendOp[]): string => checkOperations(kvAppendModel, ops).result;

test('get, put and append semantics', () => {
  assert.equal(verdict([get(0, 0, 1, 'a', '')]), 'linearizable');
  assert.equal(verdict([append(0, 0, 1, 'a', 'x'), append(0, 2, 3, 'a', 'y'), get(1, 4, 5, 'a', 'xy')]), 'linearizable');
  assert.equal(verdict([append(0, 0, 1, 'a', 'x'), append(0, 2, 3, 'a', 'y'), get(1, 4, 5, 'a', 'yx')]), 'not-linearizable');
  assert.equal(verdict([append(0, 0, 1, 'a', 'x'), put(0, 2, 3, 'a', 'p'), append(0, 4, 5, 'a', 'q'), get(1, 6, 7, 'a', 'pq')]), 'linearizable');
  // Concurrent appends in either order, but every reader must agree.
  const conc = [append(0, 0, 10, 'a', 'x'), append(1, 0, 10, 'a', 'y')];
  assert.equal(verdict([...conc, get(2, 11, 12, 'a', 'yx')]), 'linearizable');
  assert.equal(verdict([...conc, get(2, 5, 6, 'a', 'y'), get(3, 11, 12, 'a', 'xy')]), 'not-linearizable');
});

test('keys are checked independently and the failing key is reported', () => {
  const ops = [append(0, 0, 1, 'a', 'x'), append(1, 0, 1, 'b', 'z'), get(2, 2, 3, 'a', 'x'), get(2, 4, 5, 'b', 'x')];
  const res = checkOperations(kvAppendModel, ops);
  assert.equal(res.result, 'not-linearizable');
  if (res.result === 'not-linearizable') {
    assert.equal(res.key, 'b');
    assert.deepEqual(res.prefix.map((e) => e.description), ['append "b" "z"', 'get "b" -> "x"']);
  }
});

test('unknown appends may apply late or never', () => {
  const lost = append(0, 0, null, 'a', 'x');
  assert.equal(verdict([lost, get(1, 5, 6, 'a', '')]), 'linearizable');
  assert.equal(verdict([lost, get(1, 5, 6, 'a', ''), get(1, 7, 8, 'a', 'x')]), 'linearizable');
  assert.equal(verdict([lost, get(1, 5, 6, 'a', 'x'), get(1, 7, 8, 'a', '')]), 'not-linearizable');
  assert.equal(verdict([lost, append(2, 1, 2, 'a', 'y'), get(1, 5, 6, 'a', 'yx')]), 'linearizable');
  assert.equal(verdict([lost, put(2, 1, null, 'a', 'p'), get(1, 5, 6, 'a', 'px')]), 'linearizable');
});

test('EDN parsing', () => {
  const text = [
    '{:process 0, :type :invoke, :f :append, :key "0", :value "x 0 0 y"}',
    '{:process 1, :type :invoke, :f :get, :key "0", :value nil}',
    '{:process 0, :type :ok, :f :append, :key "0", :value "x 0 0 y"}',
    '{:process 1, :type :ok, :f :get, :key "0", :value "x 0 0 y"}',
    '',
    '{:process 2, :type :invoke, :f :put, :key "k\\"q", :value "v"}',
    '{:process 3, :type :invoke, :f :put, :key "1", :value "w"}',
    '{:process 3, :type :fail, :f :put, :key "1", :value "w"}',
  ].join('\n');
  assert.deepEqual(parsePorcupineKv(text), [
    { clientId: 0, input: { f: 'append', key: '0', value: 'x 0 0 y' }, output: {}, call: 1, return: 3 },
    { clientId: 1, input: { f: 'get', key: '0' }, output: { value: 'x 0 0 y' }, call: 2, return: 4 },
    { clientId: 2, input: { f: 'put', key: 'k"q', value: 'v' }, output: undefined, call: 6, return: Infinity },
  ]);
  assert.throws(() => parsePorcupineKv('{:process 0, :type :invoke, :f :get, :key "0"'), /line 1: unterminated map/);
  assert.throws(() => parsePorcupineKv('\n{:process 0, :type :ok, :f :get, :key "0", :value ""}'), /line 2: process 0 completes/);
  assert.throws(() => parsePorcupineKv('{:process 0, :type :invoke, :f :cas, :key "0"}'), /line 1: unknown :f :cas/);
});
