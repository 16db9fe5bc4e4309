// Reads the import specifiers of TypeScript sources and checks them against layer rules.
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
