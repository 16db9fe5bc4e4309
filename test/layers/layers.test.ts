// The tree's folders are its architecture: every import of every .ts file is checked against
// the layer rules in rules.ts, production modules may not import each other in a cycle, and
// fake trees show the checkers catch each kind of break.

import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import {
  UNRESOLVED_RULE,
  checkCycles,
  checkLayers,
  formatCycle,
  formatViolation,
  importCycles,
  importEdges,
  moduleSpecifiers,
  readTypeScriptTree,
  sameMembers,
} from './import-graph.js';
import { CYCLE_EXCEPTIONS, CYCLE_SCOPE, LAYER_EXCEPTIONS, LAYER_RULES } from './rules.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
let tree: Promise<Map<string, string>> | undefined;
const readTree = (): Promise<Map<string, string>> => (tree ??= readTypeScriptTree(ROOT));

describe('layer rules of the tree', () => {
  it('every import of every .ts file keeps to the rules', async () => {
    const files = await readTree();
    // A wrong root or a walk that finds nothing would pass vacuously.
    assert.ok(files.has('cell/raft/raft.ts') && files.has('test/layers/layers.test.ts'), 'tree walk missed known files');
    assert.ok(files.size > 200, `only ${files.size} .ts files found under ${ROOT}`);
    assert.ok(!Array.from(files.keys()).some((f) => f.includes('node_modules/')), 'node_modules was scanned');
    const edges = importEdges(files);
    assert.ok(edges.filter((e) => e.relative).length > 500, 'too few relative imports parsed');

    const violations = checkLayers(files, LAYER_RULES, LAYER_EXCEPTIONS).map(formatViolation);
    assert.deepEqual(violations, [], `layer rules broken:\n${violations.join('\n')}`);
  });

  it('every exception still names an import the tree has and the rule forbids', async () => {
    const files = await readTree();
    const edges = importEdges(files);
    for (const ex of LAYER_EXCEPTIONS) {
      const rule = LAYER_RULES.find((r) => r.name === ex.rule);
      assert.ok(rule, `exception names an unknown rule: ${ex.rule}`);
      const edge = edges.find((e) => e.from === ex.from && e.target === ex.target);
      assert.ok(edge, `stale exception: ${ex.from} no longer imports ${ex.target}; remove it`);
      assert.ok(rule.appliesTo(edge.from) && rule.forbids(edge), `needless exception: ${ex.from} -> ${ex.target}`);
      assert.ok(ex.reason.length > 20, 'an exception says why');
    }
  });

  it('no production module is part of an import cycle, but the listed ones', async () => {
    const files = await readTree();
    const cycles = checkCycles(files, CYCLE_SCOPE, CYCLE_EXCEPTIONS).map(formatCycle);
    assert.deepEqual(cycles, [], `import cycles (move the shared types to a ports file, as gateway/ports.ts does):\n${cycles.join('\n')}`);
  });

  it('every cycle exception is still exactly one cycle of the tree, and none is in the gateway', async () => {
    const cycles = importCycles(await readTree(), CYCLE_SCOPE);
    for (const ex of CYCLE_EXCEPTIONS) {
      const now = cycles.filter((c) => c.members.some((f) => ex.members.includes(f))).map(formatCycle);
      assert.ok(
        cycles.some((c) => sameMembers(c.members, ex.members)),
        `stale cycle exception [${ex.members.join(', ')}]; now: ${now.length ? now.join('; ') : 'no cycle'}: update or remove it`,
      );
      assert.ok(ex.reason.length > 20, 'an exception says why');
      // Issue 13 made the gateway acyclic; keep it so rather than excuse a new cycle there.
      assert.ok(!ex.members.some((f) => f.startsWith('gateway/')), `gateway/ may not have a cycle exception: ${ex.members.join(', ')}`);
    }
  });
});

describe('the checker itself', () => {
  it('finds static imports, re-exports, dynamic and type imports, not quoted text', () => {
    const source = [
      "import a from './a.js';",
      "import type { B } from './b.js';",
      "import './side-effect.js';",
      "export { c } from './c.js';",
      "export * from './d.js';",
      "const e = await import('./e.js');",
      "type F = import('./f.js').F;",
      "// import g from './g.js';",
      "const h = `import h from './h.js'`;",
      "const i = \"export * from './i.js'\";",
    ].join('\n');
    assert.deepEqual(moduleSpecifiers('x.ts', source), [
      './a.js', './b.js', './side-effect.js', './c.js', './d.js', './e.js', './f.js',
    ]);
  });

  it('reports each kind of break in a fake tree, as "file: imports X (rule)"', () => {
    const fake = new Map<string, string>([
      ['cell/raft/raft.ts', "import { readFile } from 'node:fs/promises';\nimport { x } from '../node/replica.js';\nimport { assert } from '../../shared/assert.js';"],
      ['cell/raft/codec.ts', "import { BinaryReader } from '../../shared/codec/binary.js';"],
      ['cell/node/replica.ts', "import { AdminLink } from '../../gateway/admin-link.js';\nimport { keys } from '../../shared/keys.js';"],
      ['shared/keys.ts', "export type { Entry } from '../cell/raft/raft.js';"],
      ['shared/assert.ts', 'export const assert = 1;'],
      ['shared/codec/binary.ts', 'export const BinaryReader = 1;'],
      ['shared/lincheck/check.ts', "import { keys } from '../keys.js';"],
      ['gateway/admin-link.ts', "const m = await import('../cell/node/replica.js');"],
      ['canary/probe.ts', "import { AdminLink } from '../gateway/admin-link.js';"],
      ['bench/run.ts', "import { CellCluster } from '../test/support/cell-cluster.js';"],
      ['test/support/cell-cluster.ts', "import { keys } from '../../shared/keys.js';"],
      ['test/sim/cluster.ts', "import { replica } from '../../cell/node/replica.js';\nimport { gone } from './moved-away.js';"],
    ]);
    const exceptions = [{ rule: LAYER_RULES[0]!.name, from: 'cell/raft/codec.ts', target: 'shared/codec/binary.ts', reason: 'test' }];
    const found = checkLayers(fake, LAYER_RULES, exceptions).map(formatViolation).sort();
    const rule = (prefix: string): string => {
      const r = LAYER_RULES.find((x) => x.name.startsWith(prefix));
      assert.ok(r, `no rule starting ${prefix}`);
      return r.name;
    };
    assert.deepEqual(found, [
      `bench/run.ts: imports ../test/support/cell-cluster.js (${rule('no production folder')})`,
      `canary/probe.ts: imports ../gateway/admin-link.js (${rule('canary/')})`,
      `cell/node/replica.ts: imports ../../gateway/admin-link.js (${rule('cell/')})`,
      `cell/raft/raft.ts: imports ../node/replica.js (${rule('raft core')})`,
      `cell/raft/raft.ts: imports node:fs/promises (${rule('raft core')})`,
      `gateway/admin-link.ts: imports ../cell/node/replica.js (${rule('gateway/')})`,
      `shared/keys.ts: imports ../cell/raft/raft.js (${rule('shared/')})`,
      `shared/lincheck/check.ts: imports ../keys.js (${rule('the linearizability')})`,
      `test/sim/cluster.ts: imports ../../cell/node/replica.js (${rule('the simulation')})`,
      `test/sim/cluster.ts: imports ./moved-away.js (${UNRESOLVED_RULE})`,
    ].sort());
  });

  it('without the exception, the codec edge is reported', () => {
    const fake = new Map([
      ['cell/raft/codec.ts', "import { BinaryReader } from '../../shared/codec/binary.js';"],
      ['shared/codec/binary.ts', 'export const BinaryReader = 1;'],
    ]);
    assert.deepEqual(checkLayers(fake, LAYER_RULES).map(formatViolation), [
      `cell/raft/codec.ts: imports ../../shared/codec/binary.js (${LAYER_RULES[0]!.name})`,
    ]);
  });
});

describe('the cycle detector itself', () => {
  // core -> quota -> core, and core -> link -> log -> trace -> core through a type-only import,
  // a dynamic import and an import('...').T type; plain.ts imports into the cycle but is not in it.
  const gatewayCycle: [string, string][] = [
    ['gateway/core.ts', "import { link } from './link.js';\nimport { q } from './quota.js';"],
    ['gateway/link.ts', "import type { Logger } from './log.js';"],
    ['gateway/log.ts', "const t = await import('./trace.js');"],
    ['gateway/trace.ts', "type Access = import('./core.js').Access;"],
    ['gateway/quota.ts', "import type { Outcome } from './core.js';"],
    ['gateway/ports.ts', 'export type Access = 1;'],
    ['gateway/plain.ts', "import type { Access } from './ports.js';\nimport { q } from './quota.js';"],
  ];
  const fake = new Map<string, string>([
    ...gatewayCycle,
    ['shared/self.ts', "export * from './self.js';"],
    ['shared/a.ts', "import { b } from './b.js';"],
    ['shared/b.ts', "import type { A } from './a.js';"],
    ['shared/leaf.ts', "import { a } from './a.js';"],
    ['test/x.ts', "import { y } from './y.js';"],
    ['test/y.ts', "import { x } from './x.js';"],
  ]);
  const inScope = (f: string): boolean => f.startsWith('gateway/') || f.startsWith('shared/');
  const GATEWAY = 'gateway/core.ts, gateway/link.ts, gateway/log.ts, gateway/quota.ts, gateway/trace.ts';

  it('reports each cycle in scope with its shortest loop and its whole component', () => {
    assert.deepEqual(checkCycles(fake, inScope).map(formatCycle), [
      `import cycle: gateway/core.ts -> gateway/quota.ts -> gateway/core.ts (component: ${GATEWAY})`,
      'import cycle: shared/a.ts -> shared/b.ts -> shared/a.ts',
      'import cycle: shared/self.ts -> shared/self.ts',
    ]);
  });

  it('an exception excuses its exact component only: a file joining a known cycle fails', () => {
    const exceptions = [
      { members: ['shared/b.ts', 'shared/a.ts'], reason: 'test' },
      { members: ['gateway/core.ts', 'gateway/link.ts', 'gateway/log.ts', 'gateway/trace.ts'], reason: 'the cycle before quota.ts joined' },
    ];
    assert.deepEqual(checkCycles(fake, inScope, exceptions).map(formatCycle), [
      `import cycle: gateway/core.ts -> gateway/quota.ts -> gateway/core.ts (component: ${GATEWAY})`,
      'import cycle: shared/self.ts -> shared/self.ts',
    ]);
  });

  it('types moved to a ports file end the gateway cycle', () => {
    const fixed = new Map(fake);
    fixed.set('gateway/trace.ts', "import type { Access } from './ports.js';");
    fixed.set('gateway/quota.ts', "import type { Outcome } from './ports.js';");
    assert.deepEqual(importCycles(fixed, (f) => f.startsWith('gateway/')), []);
  });
});
