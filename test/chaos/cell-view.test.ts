// The harness's view of which nodes host a cell (chaos/cell-view.ts), from status answers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { viewOf, type ReplicaStatus } from '../../chaos/cell-view.js';

const conf = (voters: string[], learners: string[] = [], votersOutgoing: string[] = []) => ({ voters, learners, votersOutgoing, learnersNext: [] });
const rep = (role: string, term: number, epoch: number, c: ReturnType<typeof conf>, cell = 'c1'): ReplicaStatus => ({
  cell, role, term, leader: null, commit: 10 * epoch, applied: 10 * epoch, lastIndex: 10 * epoch, epoch, confState: c,
});

test("the highest-term leader's configuration names the members; a removed replica is a host, not a member", () => {
  const all = new Map<string, ReplicaStatus[] | null>([
    ['n1', [rep('leader', 3, 1, conf(['n1', 'n2', 'n3']))]], // deposed, not yet told
    ['n2', [rep('leader', 5, 2, conf(['n2', 'n3', 'n4']))]],
    ['n3', [rep('follower', 5, 2, conf(['n2', 'n3', 'n4']))]],
    ['n4', null],
  ]);
  const v = viewOf('c1', all)!;
  assert.equal(v.leader, 'n2');
  assert.deepEqual(v.voters, ['n2', 'n3', 'n4']);
  assert.deepEqual(v.members, ['n2', 'n3', 'n4']);
  assert.deepEqual(v.hosts, ['n1', 'n2', 'n3']);
  assert.equal(v.joint, false);
});

test('without a leader the highest epoch decides; learners and joint configurations show', () => {
  const all = new Map<string, ReplicaStatus[] | null>([
    ['n1', [rep('follower', 4, 3, conf(['n1', 'n2', 'n3'], ['n4']))]],
    ['n2', [rep('candidate', 6, 4, conf(['n2', 'n3', 'n4'], [], ['n1', 'n2', 'n3']))]],
    ['n3', [rep('follower', 4, 3, conf(['n1', 'n2', 'n3'], ['n4'])), rep('leader', 2, 1, conf(['n1', 'n2', 'n3']), 'c2')]],
  ]);
  const v = viewOf('c1', all)!;
  assert.equal(v.leader, null);
  assert.equal(v.joint, true);
  assert.deepEqual(v.voters, ['n1', 'n2', 'n3', 'n4']);
  assert.deepEqual(v.learners, []);
  const l = viewOf('c1', new Map([['n1', all.get('n1')!]]))!;
  assert.deepEqual([l.voters, l.learners, l.members], [['n1', 'n2', 'n3'], ['n4'], ['n1', 'n2', 'n3', 'n4']]);
  assert.equal(viewOf('c2', all)!.leader, 'n3');
  assert.equal(viewOf('c9', all), null);
});
