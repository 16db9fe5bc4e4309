// Tests mirror the source tree (test/README.md): a test file outside the cross-cutting suites
// must sit in test/<folder>/ for a <folder> of the source tree, so its module's tests are found
// by path. A source folder that is moved or renamed fails here until its tests follow.

import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { readTypeScriptTree } from './import-graph.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Suites that span modules and so have no source folder of their own (see test/README.md). */
const CROSS_CUTTING = ['test/sim', 'test/layers', 'test/support', 'test/telemetry'];

/** The test files (repo-relative) whose folder, less `test/`, is not a folder of the source tree. */
function misplacedTests(files: Iterable<string>, isSourceFolder: (folder: string) => boolean): string[] {
  const misplaced: string[] = [];
  for (const file of files) {
    if (!file.startsWith('test/') || !file.endsWith('.test.ts')) continue;
    if (CROSS_CUTTING.some((dir) => file.startsWith(`${dir}/`))) continue;
    const folder = path.posix.dirname(file).slice('test/'.length);
    if (folder === '' || !isSourceFolder(folder)) misplaced.push(file);
  }
  return misplaced;
}

const isDirectory = (folder: string): boolean => statSync(path.join(ROOT, folder), { throwIfNoEntry: false })?.isDirectory() ?? false;

describe('test layout', () => {
  it('every test outside the cross-cutting suites sits in test/<source folder>/', async () => {
    const files = [...(await readTypeScriptTree(ROOT)).keys()];
    const tests = files.filter((f) => f.startsWith('test/') && f.endsWith('.test.ts'));
    assert.ok(tests.length > 50, `only ${tests.length} test files found under ${ROOT}`);
    const misplaced = misplacedTests(tests, isDirectory);
    assert.deepEqual(misplaced, [], `tests outside a mirrored source folder (see test/README.md):\n${misplaced.join('\n')}`);
  });

  it('flags a folder the source tree lacks and a test directly in test/, and skips the cross-cutting suites', () => {
    const source = new Set(['cell', 'cell/raft', 'gateway']);
    const misplaced = misplacedTests(
      ['test/cell/raft/a.test.ts', 'test/gateway/b.test.ts', 'test/raft/c.test.ts', 'test/d.test.ts', 'test/sim/e.test.ts', 'test/cell/raft/harness.ts'],
      (folder) => source.has(folder),
    );
    assert.deepEqual(misplaced, ['test/raft/c.test.ts', 'test/d.test.ts']);
  });
});
