// CI budget, part 3: seeds that pick their own fault mix (see ci-budget.ts for all groups).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CI_GROUPS, runGroup } from './ci-budget.js';
import { FAULT_TYPES } from './nemesis.js';

test('sim: the CI groups cover every fault type and at least 300 seeds', () => {
  const covered = new Set(CI_GROUPS.flatMap((g) => g.faults ?? FAULT_TYPES));
  assert.deepEqual([...FAULT_TYPES].filter((f) => !covered.has(f)), []);
  for (const f of FAULT_TYPES) {
    assert.ok(CI_GROUPS.some((g) => g.faults?.includes(f)), `no CI group is dedicated to fault "${f}"`);
  }
  assert.ok(CI_GROUPS.reduce((n, g) => n + g.count, 0) >= 300);
});

for (const group of CI_GROUPS.slice(4)) {
  test(`sim: ${group.count} seeds, ${group.name}`, async () => {
    const out = await runGroup(group);
    assert.deepEqual(out.failures, [], `failing seeds:\n${out.failures.join('\n')}`);
  });
}
