// The project's own history format (JSON Lines), written by the simulation and the chaos
// harness and read by the checker:
//   {"format":"cellkv-history/1","seed":42,"command":"npm run sim -- --seed 42"}   (optional header)
//   {"client":1,"key":"k","op":"put","value":"v1","invoke":10,"complete":14,"outcome":"ok","output":{"version":"7"}}
// Versions are unsigned 64-bit integers written as decimal strings.
// Times are compared as closed intervals: an op completing at t and one invoked at t are
// concurrent, so give ops that must be ordered distinct times (a global event counter works).

import { HistoryParseError } from './model.js';

export const HISTORY_FORMAT = 'cellkv-history/1';

export interface HistoryHeader {
  readonly format: typeof HISTORY_FORMAT;
  readonly seed?: number;
  readonly command?: string;
  readonly [extra: string]: unknown;
}

export type HistoryOpName = 'get' | 'put' | 'delete' | 'cas';

/**
 * `ok`: completed with `output`; `fail`: definitely not applied (dropped before checking);
 * `unknown`: may or may not have been applied, at any time after `invoke` (timeout, crash).
 */
export type HistoryOutcome = 'ok' | 'fail' | 'unknown';

export type GetOutput = { readonly found: false } | { readonly found: true; readonly value: string; readonly version: string };
export interface PutOutput {
  readonly version: string;
}
export interface DeleteOutput {
  readonly existed: boolean;
}
/** A refused cas (version mismatch, or key absent: currentVersion null) is an `ok` outcome. */
export type CasOutput =
  | { readonly swapped: true; readonly version: string }
  | { readonly swapped: false; readonly currentVersion: string | null };
export type HistoryOutput = GetOutput | PutOutput | DeleteOutput | CasOutput;

export interface HistoryRecord {
  readonly client: number;
  readonly key: string;
  readonly op: HistoryOpName;
  /** Required for put and cas. */
  readonly value?: string;
  /** Required for cas (decimal string). */
  readonly ifVersion?: string;
  readonly invoke: number;
  /** Completion time; null when not known (only allowed for `unknown`). */
  readonly complete: number | null;
  readonly outcome: HistoryOutcome;
  /** Required when outcome is `ok`; its shape depends on `op`. */
  readonly output?: HistoryOutput;
}

export interface ParsedHistory {
  readonly header: HistoryHeader | null;
  readonly records: HistoryRecord[];
}

const MAX_U64 = (1n << 64n) - 1n;

export function isVersionString(v: unknown): v is string {
  return typeof v === 'string' && /^(0|[1-9][0-9]*)$/.test(v) && BigInt(v) <= MAX_U64;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkOutput(op: HistoryOpName, out: unknown): HistoryOutput {
  const bad = (what: string): never => {
    throw new Error(`output of ${op} must be ${what}, got ${JSON.stringify(out)}`);
  };
  if (!isObj(out)) return bad('an object');
  switch (op) {
    case 'get':
      if (out.found === false) return { found: false };
      if (out.found === true && typeof out.value === 'string' && isVersionString(out.version)) {
        return { found: true, value: out.value, version: out.version };
      }
      return bad('{found:false} or {found:true, value, version}');
    case 'put':
      return isVersionString(out.version) ? { version: out.version } : bad('{version}');
    case 'delete':
      return typeof out.existed === 'boolean' ? { existed: out.existed } : bad('{existed: boolean}');
    case 'cas':
      if (out.swapped === true && isVersionString(out.version)) return { swapped: true, version: out.version };
      if (out.swapped === false && (out.currentVersion === null || isVersionString(out.currentVersion))) {
        return { swapped: false, currentVersion: out.currentVersion };
      }
      return bad('{swapped:true, version} or {swapped:false, currentVersion: string|null}');
  }
}

/** Validates one record (e.g. decoded JSON) and returns it typed; throws Error on problems. */
export function validateRecord(v: unknown): HistoryRecord {
  if (!isObj(v)) throw new Error('a record must be a JSON object');
  const { client, key, op, value, ifVersion, invoke, complete, outcome, output } = v;
  if (typeof client !== 'number' || !Number.isInteger(client)) throw new Error('"client" must be an integer');
  if (typeof key !== 'string') throw new Error('"key" must be a string');
  if (op !== 'get' && op !== 'put' && op !== 'delete' && op !== 'cas') throw new Error('"op" must be get, put, delete or cas');
  if (outcome !== 'ok' && outcome !== 'fail' && outcome !== 'unknown') throw new Error('"outcome" must be ok, fail or unknown');
  if (typeof invoke !== 'number' || !Number.isFinite(invoke)) throw new Error('"invoke" must be a finite number');
  if (complete !== null && (typeof complete !== 'number' || !Number.isFinite(complete))) {
    throw new Error('"complete" must be a finite number or null');
  }
  if (complete !== null && complete < invoke) throw new Error('"complete" is before "invoke"');
  if (outcome !== 'unknown' && complete === null) throw new Error(`an "${outcome}" record needs "complete"`);
  if ((op === 'put' || op === 'cas') && typeof value !== 'string') throw new Error(`${op} needs a string "value"`);
  if (op === 'cas' && !isVersionString(ifVersion)) throw new Error('cas needs "ifVersion" as a decimal string');
  const rec: { -readonly [K in keyof HistoryRecord]: HistoryRecord[K] } = { client, key, op, invoke, complete, outcome };
  if (op === 'put' || op === 'cas') rec.value = value as string;
  if (op === 'cas') rec.ifVersion = ifVersion as string;
  if (outcome === 'ok') rec.output = checkOutput(op, output);
  else if (output !== undefined) rec.output = checkOutput(op, output);
  return rec;
}

/** Reads a history file's text; throws HistoryParseError naming the 1-based line. */
export function parseHistory(text: string): ParsedHistory {
  const lines = text.split('\n');
  let header: HistoryHeader | null = null;
  const records: HistoryRecord[] = [];
  let first = true;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch (e) {
      throw new HistoryParseError(i + 1, `invalid JSON: ${(e as Error).message}`);
    }
    if (first && isObj(v) && 'format' in v) {
      if (v.format !== HISTORY_FORMAT) throw new HistoryParseError(i + 1, `unsupported format ${JSON.stringify(v.format)}`);
      if (v.seed !== undefined && typeof v.seed !== 'number') throw new HistoryParseError(i + 1, '"seed" must be a number');
      if (v.command !== undefined && typeof v.command !== 'string') throw new HistoryParseError(i + 1, '"command" must be a string');
      header = v as HistoryHeader;
      first = false;
      continue;
    }
    first = false;
    try {
      records.push(validateRecord(v));
    } catch (e) {
      throw new HistoryParseError(i + 1, (e as Error).message);
    }
  }
  return { header, records };
}

/** One JSON line (no newline) for a record, fields in a stable order. */
export function formatRecord(r: HistoryRecord): string {
  const o: Obj = { client: r.client, key: r.key, op: r.op };
  if (r.value !== undefined) o.value = r.value;
  if (r.ifVersion !== undefined) o.ifVersion = r.ifVersion;
  o.invoke = r.invoke;
  o.complete = r.complete;
  o.outcome = r.outcome;
  if (r.output !== undefined) o.output = r.output;
  return JSON.stringify(o);
}

/** A whole history file: the header line (if any), then one line per record. */
export function formatHistory(header: HistoryHeader | null, records: readonly HistoryRecord[]): string {
  const lines = records.map(formatRecord);
  if (header !== null) lines.unshift(JSON.stringify(header));
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}
