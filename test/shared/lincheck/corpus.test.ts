// The public corpus (Jepsen etcd register histories, Porcupine kv histories): every verdict
// must be reproduced, quickly, and never as `unknown`.
// The corpus lives in shared/ beside the repository root (../shared in CI).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { checkHistoryText } from '../../../shared/lincheck/index.js';

const CORPUS = new URL('../../../../shared/testdata/linearizability/', import.meta.url);
const verdicts = (JSON.parse(readFileSync(new URL('verdicts.json', CORPUS), 'utf8')) as { linearizable: Record<string, boolean> })
  .linearizable;
// Generous enough for a slow CI machine; the whole corpus takes about a second locally.
const PER_FILE_MS = 5000;

test('the corpus is complete', () => {
  const files = Object.keys(verdicts);
  assert.equal(files.filter((f) => f.startsWith('jepsen-etcd/')).length, 82);
  assert.equal(files.filter((f) => f.startsWith('kv/')).length, 6);
});

for (const [file, linearizable] of Object.entries(verdicts)) {
  test(`corpus ${file} is ${linearizable ? '' : 'not '}linearizable`, () => {
    const { result } = checkHistoryText(readFileSync(new URL(file, CORPUS), 'utf8'), { timeoutMs: PER_FILE_MS });
    assert.notEqual(result.result, 'unknown', result.result === 'unknown' ? result.reason : '');
    assert.equal(result.result, linearizable ? 'linearizable' : 'not-linearizable');
    if (result.result === 'not-linearizable') {
      // The report is the shortest illegal prefix and names the op that could not be placed.
      assert.ok(result.minimal);
      assert.ok(result.prefix.some((e) => e.culprit));
    }
  });
}
