import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from './harness.js';

test('three nodes elect a leader and replicate', () => {
  const c = new TestCluster(['a', 'b', 'c']);
  const l = c.elect();
  c.propose('x');
  c.propose('y');
  for (const id of ['a', 'b', 'c']) assert.deepEqual(c.appliedTexts(id), ['x', 'y'], id);
  assert.equal(c.leader(), l);
});
