// CI budget, part 2: crashes (losing unpersisted state), slow disks, snapshots, membership
// changes and leader transfers (see ci-budget.ts for all groups).

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CI_GROUPS, runGroup } from './ci-budget.js';

for (const group of CI_GROUPS.slice(2, 4)) {
  test(`sim: ${group.count} seeds, ${group.name}`, async () => {
    const out = await runGroup(group);
    assert.deepEqual(out.failures, [], `failing seeds:\n${out.failures.join('\n')}`);
    assert.ok(out.ops > out.seeds * 50, `clients did too little work: ${out.ops} ops over ${out.seeds} seeds`);
  });
}
