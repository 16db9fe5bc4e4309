// CI budget, part 1: lossy networks and partitions (see ci-budget.ts for all groups).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CI_GROUPS, runGroup } from './ci-budget.js';

for (const group of CI_GROUPS.slice(0, 2)) {
  test(`sim: ${group.count} seeds, ${group.name}`, async () => {
    const out = await runGroup(group);
    assert.deepEqual(out.failures, [], `failing seeds:\n${out.failures.join('\n')}`);
    assert.ok(out.ops > out.seeds * 50, `clients did too little work: ${out.ops} ops over ${out.seeds} seeds`);
  });
}
