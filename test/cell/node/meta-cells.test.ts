// The meta cell's `cells` command: descriptors published by the cells themselves after a
// split; each replaces an older epoch of its id and never a newer one, deterministically.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MetaState } from '../../../cell/node/meta.js';
import type { BatchOp } from '../../../cell/kv/kv-db.js';
import type { CellDescriptor } from '../../../shared/directory.js';

const replicas = [{ node: 'n1', az: 'az1', role: 'voter' as const }];
const cell = (id: string, start: string, end: string | null, epoch: number): CellDescriptor => ({ id, start, end, epoch, replicas });

function apply(m: MetaState, json: unknown): BatchOp[] {
  const ops: BatchOp[] = [];
  m.apply(JSON.stringify(json), ops);
  return ops;
}

test('a split publishes both halves; an older epoch never overwrites a newer one', () => {
  const m = new MetaState('meta');
  apply(m, { op: 'init', cells: [cell('c1', '', null, 1)], nodes: [{ id: 'n1', az: 'az1' }] });
  const ops = apply(m, { op: 'cells', cells: [cell('c1', '', '6d', 2), cell('c2', '6d', null, 2)] });
  assert.equal(ops.length, 1, 'one write of the cells document');
  assert.deepEqual(
    m.directory().cells.map((c) => [c.id, c.start, c.end, c.epoch]),
    [
      ['c1', '', '6d', 2],
      ['c2', '6d', null, 2],
    ],
  );
  // A stale publication (epoch 1) changes nothing and writes nothing.
  assert.equal(apply(m, { op: 'cells', cells: [cell('c1', '', null, 1)] }).length, 0);
  assert.equal(m.directory().cells.find((c) => c.id === 'c1')!.end, '6d');
  // Cells stay ordered by start whatever order they were published in.
  apply(m, { op: 'cells', cells: [cell('c3', '62', '6d', 3), cell('c1', '', '62', 3)] });
  assert.deepEqual(
    m.directory().cells.map((c) => c.id),
    ['c1', 'c3', 'c2'],
  );
  // Malformed commands are skipped by every replica alike.
  assert.equal(apply(m, { op: 'cells', cells: [] }).length, 0);
});
