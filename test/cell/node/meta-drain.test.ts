// The meta cell's node records: `drain` marks a known node draining (or clears it), a heartbeat
// keeps the mark, an unknown node is not created by a drain.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetaState } from '../../../cell/node/meta.js';
import type { BatchOp } from '../../../cell/kv/kv-db.js';

function apply(m: MetaState, json: unknown): BatchOp[] {
  const ops: BatchOp[] = [];
  m.apply(JSON.stringify(json), ops);
  return ops;
}

test('drain and undrain a node; heartbeats keep the mark; an unknown node stays unknown', () => {
  const m = new MetaState('meta');
  apply(m, { op: 'heartbeat', node: 'n4', az: 'az1', atMs: 10 });
  assert.equal(apply(m, { op: 'drain', node: 'n4', draining: true }).length, 1);
  apply(m, { op: 'heartbeat', node: 'n4', az: 'az1', atMs: 20 });
  assert.deepEqual(m.directory().nodes, [{ id: 'n4', az: 'az1', lastHeartbeatMs: 20, draining: true }]);
  apply(m, { op: 'drain', node: 'n4', draining: false });
  assert.deepEqual(m.directory().nodes, [{ id: 'n4', az: 'az1', lastHeartbeatMs: 20 }]);
  assert.deepEqual(apply(m, { op: 'drain', node: 'n9', draining: true }), []);
  assert.deepEqual(m.directory().nodes.map((n) => n.id), ['n4']);
});
