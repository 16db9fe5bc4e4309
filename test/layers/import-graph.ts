// Reads the import specifiers of TypeScript sources and checks them against layer rules and
// for import cycles.
// The TypeScript parser (not a regex) finds the specifiers, so imports quoted inside strings,
// template literals or comments (e.g. the fake files of the negative test) are not counted.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import ts from 'typescript';

/** One import edge: `from` imports `specifier`; `target` is the repo-relative file for a
 * relative specifier, or the specifier itself for a package or `node:` module. */
export interface ImportEdge {
  readonly from: string;
  readonly specifier: string;
  readonly target: string;
  readonly relative: boolean;
}

export interface LayerRule {
  readonly name: string;
  /** Files the rule applies to (repo-relative, forward slashes). */
  readonly appliesTo: (file: string) => boolean;
  /** True when the edge breaks the rule. */
  readonly forbids: (edge: ImportEdge) => boolean;
}

export interface LayerException {
  readonly rule: string;
  readonly from: string;
  readonly target: string;
  readonly reason: string;
}

export interface Violation {
  readonly edge: ImportEdge;
  readonly rule: string;
}

/** Every module specifier of one source: static imports and re-exports (type-only included),
 * `import('x')` calls and `import('x').T` type references. */
export function moduleSpecifiers(fileName: string, source: string): string[] {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const found: string[] = [];
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      found.push(node.moduleSpecifier.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined &&
      ts.isStringLiteralLike(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    } else if (
      ts.isImportTypeNode(node) &&
      ts.isLiteralTypeNode(node.argument) &&
      ts.isStringLiteral(node.argument.literal)
    ) {
      found.push(node.argument.literal.text);
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push(node.moduleReference.expression.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return found;
}

/** Import edges of a set of files (repo-relative path -> source). A relative `.js`
 * specifier names the `.ts` file beside it (NodeNext resolution of TypeScript sources). */
export function importEdges(files: ReadonlyMap<string, string>): ImportEdge[] {
  const edges: ImportEdge[] = [];
  for (const [from, source] of files) {
    for (const specifier of moduleSpecifiers(from, source)) {
      const relative = specifier.startsWith('./') || specifier.startsWith('../');
      let target = specifier;
      if (relative) {
        target = path.posix.normalize(path.posix.join(path.posix.dirname(from), specifier));
        if (target.endsWith('.js')) target = `${target.slice(0, -'.js'.length)}.ts`;
      }
      edges.push({ from, specifier, target, relative });
    }
  }
  return edges;
}

export const UNRESOLVED_RULE = 'a relative import names a .ts file of the tree';

/** Edges that break a rule (or name a missing file) and are not listed as exceptions. */
export function checkLayers(
  files: ReadonlyMap<string, string>,
  rules: readonly LayerRule[],
  exceptions: readonly LayerException[] = [],
): Violation[] {
  const violations: Violation[] = [];
  for (const edge of importEdges(files)) {
    // A moved file leaves importers pointing nowhere; say so here rather than at run time.
    if (edge.relative && edge.target.endsWith('.ts') && !files.has(edge.target)) {
      violations.push({ edge, rule: UNRESOLVED_RULE });
    }
    for (const rule of rules) {
      if (!rule.appliesTo(edge.from) || !rule.forbids(edge)) continue;
      const excused = exceptions.some(
        (e) => e.rule === rule.name && e.from === edge.from && e.target === edge.target,
      );
      if (!excused) violations.push({ edge, rule: rule.name });
    }
  }
  return violations;
}

export function formatViolation(v: Violation): string {
  return `${v.edge.from}: imports ${v.edge.specifier} (${v.rule})`;
}

const SKIPPED_DIRS = new Set(['node_modules', '.git', '.cellkv']);

/** Every `.ts` file under `root` (repo-relative, forward slashes) with its source. */
export async function readTypeScriptTree(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) {
        if (!SKIPPED_DIRS.has(entry.name) && !entry.name.startsWith('.')) await walk(path.join(dir, entry.name));
      } else if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
        const full = path.join(dir, entry.name);
        files.set(path.relative(root, full).split(path.sep).join('/'), await readFile(full, 'utf8'));
      }
    }
  };
  await walk(root);
  return files;
}

/** Files that reach each other through imports (a strongly connected component of the graph). */
export interface ImportCycle {
  /** Every file of the component, sorted. */
  readonly members: readonly string[];
  /** One shortest loop through the first member, for the message: [a, b, ..., a]. */
  readonly loop: readonly string[];
}

/** A known cycle, allowed only while its component is exactly `members` (so a file joining it fails). */
export interface CycleException {
  readonly members: readonly string[];
  readonly reason: string;
}

/**
 * The import cycles among the files `inScope` accepts: every strongly connected component of
 * their relative imports (type-only ones included) with two or more files, or one file that
 * imports itself. Sorted by first member.
 */
export function importCycles(files: ReadonlyMap<string, string>, inScope: (file: string) => boolean): ImportCycle[] {
  const next = new Map<string, Set<string>>();
  for (const e of importEdges(files)) {
    if (!e.relative || !files.has(e.target) || !inScope(e.from) || !inScope(e.target)) continue;
    let out = next.get(e.from);
    if (!out) next.set(e.from, (out = new Set()));
    out.add(e.target);
  }
  // Tarjan's algorithm (recursion depth is bounded by the number of files, a few hundred).
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: ImportCycle[] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || next.get(v)?.has(v)) {
      const members = component.sort();
      cycles.push({ members, loop: shortestLoop(members[0]!, new Set(members), next) });
    }
  };
  for (const f of [...files.keys()].filter(inScope).sort()) if (!index.has(f)) visit(f);
  return cycles.sort((a, b) => (a.members[0]! < b.members[0]! ? -1 : 1));
}

/** Breadth-first: the shortest path from `start` back to itself within `component`. */
function shortestLoop(start: string, component: ReadonlySet<string>, next: ReadonlyMap<string, ReadonlySet<string>>): string[] {
  const cameFrom = new Map<string, string>();
  let frontier = [start];
  while (frontier.length > 0) {
    const following: string[] = [];
    for (const v of frontier) {
      for (const w of next.get(v) ?? []) {
        if (!component.has(w) || cameFrom.has(w)) continue;
        cameFrom.set(w, v);
        if (w === start) {
          const loop = [start];
          for (let at = cameFrom.get(start)!; at !== start; at = cameFrom.get(at)!) loop.unshift(at);
          return [start, ...loop];
        }
        following.push(w);
      }
    }
    frontier = following;
  }
  throw new Error(`no loop through ${start}: not a cycle`);
}

/** Cycles in scope that no exception names exactly. */
export function checkCycles(
  files: ReadonlyMap<string, string>,
  inScope: (file: string) => boolean,
  exceptions: readonly CycleException[] = [],
): ImportCycle[] {
  return importCycles(files, inScope).filter((c) => !exceptions.some((e) => sameMembers(e.members, c.members)));
}

/** Whether two lists name the same files (in any order). */
export function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  const set = new Set(a);
  return set.size === a.length && a.length === b.length && b.every((f) => set.has(f));
}

export function formatCycle(c: ImportCycle): string {
  const loop = c.loop.join(' -> ');
  return c.members.length === c.loop.length - 1 ? `import cycle: ${loop}` : `import cycle: ${loop} (component: ${c.members.join(', ')})`;
}
