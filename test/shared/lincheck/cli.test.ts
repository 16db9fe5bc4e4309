// Smoke test of `npm run lincheck`: verdict lines and exit codes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HISTORY_FORMAT, type HistoryRecord, formatHistory } from '../../../shared/lincheck/index.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CORPUS = fileURLToPath(new URL('../../../../shared/testdata/linearizability/', import.meta.url));

function lincheck(...args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'shared/lincheck/cli.ts', ...args], { cwd: ROOT }, (err, stdout) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout });
    });
  });
}

test('lincheck CLI', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'lincheck-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const good: HistoryRecord[] = [
    { client: 1, key: 'k', op: 'put', value: 'a', invoke: 0, complete: 1, outcome: 'ok', output: { version: '3' } },
    { client: 2, key: 'k', op: 'put', value: 'b', invoke: 2, complete: null, outcome: 'unknown' },
    { client: 1, key: 'k', op: 'get', invoke: 3, complete: 4, outcome: 'ok', output: { found: true, value: 'b', version: '9' } },
  ];
  const goodFile = join(dir, 'good.jsonl');
  writeFileSync(goodFile, formatHistory({ format: HISTORY_FORMAT, seed: 7 }, good));
  const badFile = join(dir, 'bad.jsonl');
  writeFileSync(badFile, formatHistory(null, [...good, { ...good[2]!, invoke: 5, complete: 6, output: { found: true, value: 'a', version: '3' } }]));
  const brokenFile = join(dir, 'broken.jsonl');
  writeFileSync(brokenFile, `${JSON.stringify(good[0])}\n{"client":1,"key":"k","op":"nope"}\n`);
  const okLog = join(CORPUS, 'jepsen-etcd/etcd_002.log');
  const badLog = join(CORPUS, 'jepsen-etcd/etcd_001.log');
  const okKv = join(CORPUS, 'kv/c10-ok.txt');

  await t.test('all linearizable: exit 0, one line per file', async () => {
    const { code, stdout } = await lincheck(okLog, okKv, goodFile);
    assert.equal(code, 0);
    assert.deepEqual(stdout.trimEnd().split('\n'), [`${okLog}: linearizable`, `${okKv}: linearizable`, `${goodFile}: linearizable`]);
  });

  await t.test('a violation: exit 1, with the prefix indented below', async () => {
    const { code, stdout } = await lincheck(badFile, badLog, okLog);
    assert.equal(code, 1);
    const lines = stdout.trimEnd().split('\n');
    const verdicts = lines.filter((l) => !l.startsWith(' '));
    assert.deepEqual(verdicts, [`${badFile}: not linearizable`, `${badLog}: not linearizable`, `${okLog}: linearizable`]);
    assert.match(lines[1]!, /^ {4}key "k": shortest illegal prefix, 4 ops/);
    assert.match(lines[5]!, /get "k" -> "a" v3 +<-- cannot be linearized/);
  });

  await t.test('parse errors and budget overruns: exit 2', async () => {
    const { code, stdout } = await lincheck('--timeout-ms', '1', brokenFile, goodFile);
    assert.equal(code, 2);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `${brokenFile}: parse error: line 2: "op" must be get, put, delete or cas`,
      `${goodFile}: linearizable`,
    ]);
    const slow = await lincheck('--timeout-ms', '1', join(CORPUS, 'kv/c50-ok.txt'));
    assert.equal(slow.code, 2);
    assert.match(slow.stdout, /: unknown \(time limit of 1 ms reached/);
  });
});
