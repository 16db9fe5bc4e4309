// The layer rules of the tree (see test/layers/README.md). Paths are repo-relative with
// forward slashes; a rule names what a folder may not import (or the only things it may).

import type { CycleException, ImportEdge, LayerException, LayerRule } from './import-graph.js';

const under = (...dirs: string[]) => (file: string): boolean => dirs.some((d) => file.startsWith(`${d}/`));
const into = (edge: ImportEdge, ...dirs: string[]): boolean => edge.relative && under(...dirs)(edge.target);

/** Folders that ship (everything but test/). */
const PRODUCTION = ['bench', 'canary', 'cell', 'chaos', 'cli', 'gateway', 'infra', 'scripts', 'shared'];

export const LAYER_RULES: readonly LayerRule[] = [
  {
    name: 'raft core imports only cell/raft/ and shared/assert.ts, no packages or node: modules',
    appliesTo: under('cell/raft'),
    forbids: (e) => !e.relative || !(under('cell/raft')(e.target) || e.target === 'shared/assert.ts'),
  },
  {
    name: 'shared/ imports no other folder of the tree',
    appliesTo: under('shared'),
    forbids: (e) => e.relative && !under('shared')(e.target),
  },
  {
    name: 'the linearizability checker is standalone',
    appliesTo: under('shared/lincheck'),
    forbids: (e) => e.relative && !under('shared/lincheck')(e.target),
  },
  {
    name: 'gateway/ imports only gateway/ and shared/',
    appliesTo: under('gateway'),
    forbids: (e) => e.relative && !under('gateway', 'shared')(e.target),
  },
  {
    name: 'cell/ imports only cell/ and shared/',
    appliesTo: under('cell'),
    forbids: (e) => e.relative && !under('cell', 'shared')(e.target),
  },
  {
    name: 'cell/placement/ is pure decision logic: imports only cell/placement/, shared/, cell/node/random.ts and zod; no node: modules or I/O packages',
    appliesTo: under('cell/placement'),
    forbids: (e) => (e.relative ? !(under('cell/placement', 'shared')(e.target) || e.target === 'cell/node/random.ts') : e.target !== 'zod'),
  },
  {
    name: 'canary/ is a black-box client: imports only canary/ and shared/',
    appliesTo: under('canary'),
    forbids: (e) => e.relative && !under('canary', 'shared')(e.target),
  },
  {
    name: 'no production folder imports test/',
    appliesTo: under(...PRODUCTION),
    forbids: (e) => into(e, 'test'),
  },
  {
    name: 'the simulation runs the Raft core alone: test/sim/ imports only test/sim/, cell/raft/, shared/assert.ts, shared/lincheck/',
    appliesTo: (file) => under('test/sim')(file) && !under('test/sim/node')(file),
    forbids: (e) =>
      e.relative && !(under('test/sim', 'cell/raft', 'shared/lincheck')(e.target) || e.target === 'shared/assert.ts'),
  },
  {
    name: 'the whole-node simulation runs production code over simulated ports: test/sim/node/ imports only test/sim/, cell/, shared/',
    appliesTo: under('test/sim/node'),
    forbids: (e) => e.relative && !under('test/sim', 'cell', 'shared')(e.target),
  },
  {
    name: 'the whole-node simulation never touches real I/O: test/sim/node/ imports no NATS, LevelDB or network module (its command line may write failure files)',
    appliesTo: (file) => under('test/sim/node')(file) && file !== 'test/sim/node/node-cli.ts',
    forbids: (e) => !e.relative && /^(@nats-io\/|classic-level|level|node:net|node:http|node:fs|node:child_process)/.test(e.target),
  },
];

/** Each exception names one edge and why it is allowed. */
export const LAYER_EXCEPTIONS: readonly LayerException[] = ['binary', 'checksum', 'crc32'].map((helper) => ({
  rule: LAYER_RULES[0]!.name,
  from: 'cell/raft/codec.ts',
  target: `shared/codec/${helper}.ts`,
  reason:
    'the Raft codec encodes the core types for the node and storage (the core itself never calls it) ' +
    'and takes the pure byte-level helpers (reader/writer, CRC-32C) from shared/codec/, which do no I/O',
}));

/** Where import cycles are forbidden: every production module (test/ has none today either). */
export const CYCLE_SCOPE = under(...PRODUCTION);

/**
 * Cycles that predate the check, each allowed only with exactly these files (a file joining one,
 * or a new cycle, fails). Type-only imports count: see README.md.
 */
export const CYCLE_EXCEPTIONS: readonly CycleException[] = [
];
