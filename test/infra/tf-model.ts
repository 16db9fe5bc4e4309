// Loads a tree of Terraform configurations into a model the checks can query: every `.tf` file
// parsed with a real HCL parser (@cdktn/hcl2json, HashiCorp's hcl library compiled to WASM),
// grouped by directory (one Terraform module per directory). Expressions stay strings
// ("${var.x}"), which is what the reference checks read.

import { readdir, readFile } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';

// Loaded by a computed name so tsc does not read the package's typings: they pull in the DOM
// lib (/// <reference lib="dom" />), which changes Node's global types for the whole project.
const HCL2JSON: string = '@cdktn/hcl2json';
interface Hcl2Json {
  parse(filename: string, contents: string): Promise<Record<string, unknown>>;
}
let hcl2json: Promise<Hcl2Json> | undefined;
const parse = async (filename: string, contents: string) => (await (hcl2json ??= import(HCL2JSON) as Promise<Hcl2Json>)).parse(filename, contents);

/** One block body as hcl2json gives it: attributes and nested blocks (as arrays). */
export type Body = Record<string, unknown>;

export interface TfModule {
  /** Directory, relative to the root the tree was loaded from ('' for the root itself). */
  readonly dir: string;
  readonly absDir: string;
  readonly files: readonly string[];
  readonly variables: ReadonlyMap<string, Body>;
  readonly outputs: ReadonlyMap<string, Body>;
  readonly locals: ReadonlyMap<string, unknown>;
  /** "aws_instance.node" => body */
  readonly resources: ReadonlyMap<string, Body>;
  /** "aws_region.current" => body */
  readonly data: ReadonlyMap<string, Body>;
  readonly moduleCalls: ReadonlyMap<string, Body>;
  /** Everything but the variable blocks, as JSON text: where references are searched. */
  readonly referenceText: string;
}

export class TfParseError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = 'TfParseError';
  }
}

const MAX_FILES = 500;

async function tfFilesByDir(root: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  let count = 0;
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith('.tf')) {
        if (++count > MAX_FILES) throw new Error(`more than ${MAX_FILES} .tf files under ${root}`);
        const list = out.get(dir) ?? [];
        list.push(p);
        out.set(dir, list);
      }
    }
  };
  await walk(root);
  return out;
}

function blocks(parsed: Body, kind: string): [string, Body][] {
  const section = parsed[kind] as Record<string, Body[]> | undefined;
  if (!section) return [];
  return Object.entries(section).map(([name, list]) => [name, list[0] ?? {}]);
}

/** Parses one file; a syntax error is a TfParseError naming the file. */
export async function parseTfFile(file: string, text?: string): Promise<Body> {
  const src = text ?? (await readFile(file, 'utf8'));
  try {
    return (await parse(file, src)) as Body;
  } catch (e) {
    throw new TfParseError(file, e instanceof Error ? e.message : String(e));
  }
}

export async function loadTree(rootDir: string): Promise<TfModule[]> {
  const root = resolve(rootDir);
  const modules: TfModule[] = [];
  for (const [absDir, files] of [...(await tfFilesByDir(root))].sort(([a], [b]) => a.localeCompare(b))) {
    const variables = new Map<string, Body>();
    const outputs = new Map<string, Body>();
    const locals = new Map<string, unknown>();
    const resources = new Map<string, Body>();
    const data = new Map<string, Body>();
    const moduleCalls = new Map<string, Body>();
    const referenceParts: string[] = [];
    for (const file of files.sort()) {
      const parsed = await parseTfFile(file);
      for (const [n, b] of blocks(parsed, 'variable')) variables.set(n, b);
      for (const [n, b] of blocks(parsed, 'output')) outputs.set(n, b);
      for (const [n, b] of blocks(parsed, 'module')) moduleCalls.set(n, b);
      for (const l of (parsed['locals'] as Body[] | undefined) ?? []) for (const [k, v] of Object.entries(l)) locals.set(k, v);
      for (const kind of ['resource', 'data'] as const) {
        const section = (parsed[kind] as Record<string, Record<string, Body[]>> | undefined) ?? {};
        for (const [type, byName] of Object.entries(section)) {
          for (const [name, list] of Object.entries(byName)) (kind === 'resource' ? resources : data).set(`${type}.${name}`, list[0] ?? {});
        }
      }
      const { variable: _v, ...rest } = parsed;
      referenceParts.push(JSON.stringify(rest));
    }
    modules.push({ dir: relative(root, absDir), absDir, files, variables, outputs, locals, resources, data, moduleCalls, referenceText: referenceParts.join('\n') });
  }
  return modules;
}

/** "${expr}" -> "expr"; other strings are returned as they are. */
export function unwrap(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  const m = /^\$\{([\s\S]*)\}$/.exec(s);
  return m ? m[1]! : s;
}

/** The validation blocks of a variable. */
export function validations(v: Body): { condition: string; error_message: string }[] {
  return ((v['validation'] as Body[] | undefined) ?? []).map((b) => ({ condition: unwrap(b['condition']), error_message: String(b['error_message'] ?? '') }));
}

export function findModule(tree: readonly TfModule[], dir: string): TfModule {
  const m = tree.find((t) => t.dir === dir);
  if (!m) throw new Error(`no Terraform module in ${dir}`);
  return m;
}
