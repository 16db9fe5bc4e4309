// The simulation's independent model of joint consensus (conf-model.ts) agrees with the core
// on every valid change, and its check flags a configuration the core got wrong.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { applyConfChangeTo, validateConfChange } from '../../cell/raft/confchange.js';
import type { ConfChange, ConfChangeSingle, ConfState } from '../../cell/raft/types.js';
import { checkConfChange, expectedConf } from './conf-model.js';
import { SimFailure } from './invariants.js';

const NODES = ['n1', 'n2', 'n3', 'n4', 'n5', 'n6'];
const single = fc.record({ type: fc.constantFrom<ConfChangeSingle['type']>('addVoter', 'addLearner', 'removeNode'), node: fc.constantFrom(...NODES) });
const START: ConfState = { voters: ['n1', 'n2', 'n3'], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

test('conf model: agrees with the core on every valid sequence of changes', () => {
  fc.assert(
    fc.property(fc.array(fc.array(single, { maxLength: 3 }), { maxLength: 12 }), (steps) => {
      let cs = START;
      for (const changes of steps) {
        // Alternate: a change enters joint, the next step leaves it.
        const cc: ConfChange = cs.votersOutgoing.length > 0 ? { changes: [] } : { changes };
        if (validateConfChange(cs, cc) !== null) continue;
        const core = applyConfChangeTo(cs, cc);
        checkConfChange('n1', 1, cs, cc, core); // throws SimFailure on disagreement
        cs = core;
      }
    }),
    { numRuns: 500, seed: 14 },
  );
});

test('conf model: a joint configuration whose outgoing half is wrong is flagged', () => {
  const cc: ConfChange = { changes: [{ type: 'addVoter', node: 'n4' }, { type: 'removeNode', node: 'n1' }] };
  const right = expectedConf(START, cc);
  assert.deepEqual(right.votersOutgoing, ['n1', 'n2', 'n3']);
  assert.deepEqual(right.voters, ['n2', 'n3', 'n4']);
  const wrong = { ...right, votersOutgoing: right.voters };
  assert.throws(() => checkConfChange('n1', 7, START, cc, wrong), (e: unknown) => e instanceof SimFailure && e.kind === 'membership');
  const lostLearner = { ...expectedConf(START, { changes: [{ type: 'addLearner', node: 'n5' }] }), learners: [] };
  assert.throws(() => checkConfChange('n1', 8, START, { changes: [{ type: 'addLearner', node: 'n5' }] }, lostLearner), SimFailure);
});
