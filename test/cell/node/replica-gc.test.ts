// Unit: when a destroyed replica's data keys stay (another local replica owns part of its range).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rangesOverlap } from '../../../cell/node/replica-gc.js';

const b = (s: string) => new TextEncoder().encode(s);

test('ranges overlap when they share a key; end is exclusive, null unbounded', () => {
  assert.equal(rangesOverlap({ start: b('a'), end: b('m') }, { start: b('m'), end: null }), false);
  assert.equal(rangesOverlap({ start: b('a'), end: b('n') }, { start: b('m'), end: null }), true);
  assert.equal(rangesOverlap({ start: b(''), end: null }, { start: b('x'), end: b('y') }), true);
  assert.equal(rangesOverlap({ start: b('c'), end: b('d') }, { start: b('a'), end: b('c') }), false);
  assert.equal(rangesOverlap({ start: b('b'), end: b('c') }, { start: b('a'), end: b('z') }), true);
});
