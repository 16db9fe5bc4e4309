// The generic search, exercised through the register model (Jepsen semantics).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  type CheckResult,
  type RegisterInput,
  type RegisterOp,
  type RegisterOutput,
  type RegisterValue,
  checkOperations,
  formatDetails,
  parseJepsenLog,
  registerModel,
} from '../../../shared/lincheck/index.js';

// Compact op builders: `ret` null means the outcome is unknown.
function op(clientId: number, call: number, ret: number | null, input: RegisterInput, output?: RegisterOutput): RegisterOp {
  return { clientId, input, output: ret === null ? undefined : output, call, return: ret ?? Infinity };
}
const write = (c: number, call: number, ret: number | null, value: RegisterValue): RegisterOp =>
  op(c, call, ret, { f: 'write', value }, { ok: true });
const read = (c: number, call: number, ret: number, value: RegisterValue): RegisterOp =>
  op(c, call, ret, { f: 'read' }, { value });
const cas = (c: number, call: number, ret: number | null, from: RegisterValue, to: RegisterValue, ok = true): RegisterOp =>
  op(c, call, ret, { f: 'cas', from, to }, { ok });

function verdict(ops: RegisterOp[]): CheckResult['result'] {
  return checkOperations(registerModel, ops).result;
}

test('empty and trivial histories', () => {
  assert.equal(verdict([]), 'linearizable');
  assert.equal(verdict([read(0, 0, 1, null)]), 'linearizable');
  assert.equal(verdict([read(0, 0, 1, 3)]), 'not-linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), read(1, 2, 3, 1)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), read(1, 2, 3, 2)]), 'not-linearizable');
});

test('overlapping ops may be ordered either way', () => {
  assert.equal(verdict([write(0, 0, 10, 1), read(1, 1, 2, 1)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 10, 1), read(1, 1, 2, null)]), 'linearizable');
  // Once a read saw the new value, a later read cannot see the old one.
  assert.equal(verdict([write(0, 0, 10, 1), read(1, 1, 2, 1), read(2, 3, 4, null)]), 'not-linearizable');
  // Two concurrent writes observed in opposite orders by sequential readers.
  const ww = [write(0, 0, 10, 1), write(1, 0, 10, 2)];
  assert.equal(verdict([...ww, read(2, 1, 2, 1), read(2, 3, 4, 2)]), 'linearizable');
  assert.equal(verdict([...ww, read(2, 1, 2, 1), read(2, 3, 4, 2), read(3, 5, 6, 1)]), 'not-linearizable');
});

test('intervals are closed: an op returning at t overlaps one invoked at t', () => {
  assert.equal(verdict([write(0, 0, 5, 1), read(1, 5, 6, null)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 5, 1), read(1, 6, 7, null)]), 'not-linearizable');
  assert.equal(verdict([read(1, 0, 5, 1), write(0, 5, 6, 1)]), 'linearizable');
  assert.equal(verdict([read(1, 0, 4, 1), write(0, 5, 6, 1)]), 'not-linearizable');
});

test('unknown writes may take effect any time after invocation, or never', () => {
  assert.equal(verdict([write(0, 0, null, 1), read(1, 10, 11, 1)]), 'linearizable');
  assert.equal(verdict([write(0, 0, null, 1), read(1, 10, 11, null)]), 'linearizable');
  assert.equal(verdict([write(0, 0, null, 1), read(1, 10, 11, null), read(1, 12, 13, 1)]), 'linearizable');
  assert.equal(verdict([write(0, 0, null, 1), read(1, 10, 11, 1), read(1, 12, 13, null)]), 'not-linearizable');
  // Not before its invocation.
  assert.equal(verdict([read(1, 0, 1, 1), write(0, 5, null, 1)]), 'not-linearizable');
  // Many unknown writes that are never observed are all allowed to vanish.
  const ghosts = Array.from({ length: 30 }, (_, i) => write(i + 1, i, null, 100 + i));
  assert.equal(verdict([...ghosts, read(0, 50, 51, null)]), 'linearizable');
  assert.equal(verdict([...ghosts, read(0, 50, 51, 117), read(0, 52, 53, 105)]), 'linearizable');
  assert.equal(verdict([...ghosts, read(0, 50, 51, 117), read(0, 52, 53, 117), read(0, 54, 55, null)]), 'not-linearizable');
});

test('cas: ok swaps, a definite fail must find another value, unknown may swap or not', () => {
  assert.equal(verdict([cas(0, 0, 1, 1, 2, false)]), 'linearizable');
  assert.equal(verdict([cas(0, 0, 1, null, 2, false)]), 'not-linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2, false)]), 'not-linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 1, 2), read(0, 4, 5, 2)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, 3, 3, 2), read(0, 4, 5, 2)]), 'not-linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, null, 1, 2), read(0, 4, 5, 2)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, null, 1, 2), read(0, 4, 5, 1)]), 'linearizable');
  assert.equal(verdict([write(0, 0, 1, 1), cas(1, 2, null, 3, 2), read(0, 4, 5, 2)]), 'not-linearizable');
});

test('a violation reports the shortest illegal prefix with its culprit', () => {
  const ops = [
    write(0, 0, 2, 1),
    read(1, 3, 4, 1),
    write(2, 5, 20, 2), // still pending when the culprit completes
    read(1, 6, 7, 3), // impossible: nobody wrote 3
    read(0, 8, 9, 1),
    read(0, 30, 31, 5),
  ];
  const res = checkOperations(registerModel, ops);
  assert.equal(res.result, 'not-linearizable');
  if (res.result !== 'not-linearizable') return;
  assert.equal(res.key, undefined);
  assert.equal(res.minimal, true);
  assert.deepEqual(
    res.prefix.map((e) => [e.clientId, e.call, e.return, e.status, e.culprit]),
    [
      [0, 0, 2, 'completed', false],
      [1, 3, 4, 'completed', false],
      [2, 5, 20, 'pending', false],
      [1, 6, 7, 'completed', true],
    ],
  );
  assert.equal(res.prefix[3]!.description, 'read -> 3');
  const lines = formatDetails(res);
  assert.match(lines[0]!, /shortest illegal prefix, 4 ops/);
  assert.match(lines.at(-1)!, /read -> 3 +<-- cannot be linearized/);
});

test('a budget overrun gives unknown, never linearizable', () => {
  // Linearizable, but needs more than one step.
  const ops = [write(0, 0, 10, 1), write(1, 0, 10, 2), read(2, 11, 12, 2)];
  assert.equal(checkOperations(registerModel, ops).result, 'linearizable');
  const res = checkOperations(registerModel, ops, { maxSteps: 2 });
  assert.equal(res.result, 'unknown');
  if (res.result === 'unknown') assert.match(res.reason, /step limit of 2/);
  // A hard, non-linearizable history: many concurrent writes, then contradicting reads.
  const hard: RegisterOp[] = Array.from({ length: 24 }, (_, i) => write(i, 0, 100, i));
  hard.push(read(99, 101, 102, 3), read(99, 103, 104, 4));
  const timed = checkOperations(registerModel, hard, { timeoutMs: 0 });
  assert.equal(timed.result, 'unknown');
  if (timed.result === 'unknown') assert.match(timed.reason, /time limit of 0 ms/);
});

test('invalid intervals are rejected', () => {
  assert.throws(() => checkOperations(registerModel, [read(0, 5, 4, null)]), RangeError);
  assert.throws(() => checkOperations(registerModel, [read(0, Number.NaN, 4, null)]), RangeError);
});

test('Jepsen log parsing', () => {
  const log = [
    'some unrelated line',
    'INFO  jepsen.util - 0\t:invoke\t:write\t3',
    'INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]',
    'INFO  jepsen.util - 2   :invoke   :read   nil',
    'INFO  jepsen.util - 0\t:ok\t:write\t3',
    'INFO  jepsen.util - 1\t:info\t:cas\t:timed-out',
    'INFO  jepsen.util - 2\t:fail\t:read\t:timed-out',
    'INFO  jepsen.util - 3\t:invoke\t:cas\t[1 2]',
    'INFO  jepsen.util - 3\t:fail\t:cas\t[1 2]',
    'INFO  jepsen.util - 4\t:invoke\t:read\tnil',
    'INFO  jepsen.util - 4\t:ok\t:read\t4',
    'INFO  jepsen.util - 5\t:invoke\t:write\t0',
  ].join('\n');
  const ops = parseJepsenLog(log);
  assert.deepEqual(ops, [
    { clientId: 0, input: { f: 'write', value: 3 }, output: { ok: true }, call: 2, return: 5 },
    { clientId: 1, input: { f: 'cas', from: 3, to: 4 }, output: undefined, call: 3, return: Infinity },
    { clientId: 3, input: { f: 'cas', from: 1, to: 2 }, output: { ok: false }, call: 8, return: 9 },
    { clientId: 4, input: { f: 'read' }, output: { value: 4 }, call: 10, return: 11 },
    { clientId: 5, input: { f: 'write', value: 0 }, output: undefined, call: 12, return: Infinity },
  ]);
  assert.equal(checkOperations(registerModel, ops).result, 'linearizable');
  assert.throws(() => parseJepsenLog('INFO  jepsen.util - 0\t:ok\t:write\t3'), /line 1: process 0 completes/);
  assert.throws(
    () => parseJepsenLog('x\nINFO  jepsen.util - 0\t:invoke\t:write\t3\nINFO  jepsen.util - 0\t:invoke\t:read\tnil'),
    /line 3: process 0 invoked again/,
  );
  assert.throws(() => parseJepsenLog('INFO  jepsen.util - 0\t:invoke\t:write\t{}'), /line 1: unsupported value/);
});
