// Reader for Porcupine's key-value histories: one EDN map per line,
//   {:process P, :type :invoke|:ok|:fail|:info, :f :get|:put|:append, :key "K", :value "V"}
// Times are line numbers.

import { HistoryParseError } from './model.js';
import type { KvAppendInput, KvAppendOp } from './models/kv-append.js';

type EdnScalar = string | number | null | { keyword: string };

/** Parses one flat EDN map of keywords to scalars (all this format uses). */
export function parseEdnMap(text: string, line: number): Map<string, EdnScalar> {
  let i = 0;
  const fail = (msg: string): never => {
    throw new HistoryParseError(line, `${msg} at column ${i + 1}`);
  };
  const skip = (): void => {
    while (i < text.length && /[\s,]/.test(text[i]!)) i++;
  };
  const token = (): EdnScalar => {
    skip();
    const c = text[i];
    if (c === '"') {
      let out = '';
      for (i++; i < text.length && text[i] !== '"'; i++) {
        if (text[i] === '\\') {
          i++;
          const e = text[i];
          out += e === 'n' ? '\n' : e === 't' ? '\t' : e === 'r' ? '\r' : (e ?? fail('unterminated escape'));
        } else {
          out += text[i];
        }
      }
      if (text[i] !== '"') fail('unterminated string');
      i++;
      return out;
    }
    const m = /^[^\s,{}\[\]"]+/.exec(text.slice(i));
    if (!m) return fail('expected a value');
    i += m[0].length;
    const t = m[0];
    if (t === 'nil') return null;
    if (t.startsWith(':')) return { keyword: t.slice(1) };
    if (/^-?\d+(\.\d+)?$/.test(t)) return Number(t);
    return fail(`unsupported token ${JSON.stringify(t)}`);
  };
  skip();
  if (text[i] !== '{') fail('expected "{"');
  i++;
  const map = new Map<string, EdnScalar>();
  for (;;) {
    skip();
    if (text[i] === '}') break;
    if (i >= text.length) fail('unterminated map');
    const k = token();
    if (k === null || typeof k !== 'object') return fail('map keys must be keywords');
    map.set(k.keyword, token());
  }
  i++;
  skip();
  if (i < text.length) fail('trailing characters');
  return map;
}

function keyword(map: Map<string, EdnScalar>, name: string, line: number): string {
  const v = map.get(name);
  if (v === null || typeof v !== 'object') throw new HistoryParseError(line, `:${name} must be a keyword`);
  return v.keyword;
}

function str(map: Map<string, EdnScalar>, name: string, line: number): string {
  const v = map.get(name);
  if (typeof v !== 'string') throw new HistoryParseError(line, `:${name} must be a string`);
  return v;
}

interface Pending {
  readonly line: number;
  readonly input: KvAppendInput;
}

/** Converts a history to kv-append ops. `:fail` ops are dropped; `:info` ones are unknown. */
export function parsePorcupineKv(text: string): KvAppendOp[] {
  const lines = text.split('\n');
  const pending = new Map<number, Pending>();
  const ops: KvAppendOp[] = [];
  const unknown = (clientId: number, p: Pending): void => {
    if (p.input.f !== 'get') ops.push({ clientId, input: p.input, output: undefined, call: p.line, return: Infinity });
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    if (lines[i]!.trim() === '') continue;
    const map = parseEdnMap(lines[i]!, lineNo);
    const proc = map.get('process');
    if (typeof proc !== 'number') throw new HistoryParseError(lineNo, ':process must be a number');
    const type = keyword(map, 'type', lineNo);
    const f = keyword(map, 'f', lineNo);
    const key = str(map, 'key', lineNo);
    if (type === 'invoke') {
      if (pending.has(proc)) throw new HistoryParseError(lineNo, `process ${proc} invoked again before completing`);
      let input: KvAppendInput;
      if (f === 'get') input = { f, key };
      else if (f === 'put' || f === 'append') input = { f, key, value: str(map, 'value', lineNo) };
      else throw new HistoryParseError(lineNo, `unknown :f :${f}`);
      pending.set(proc, { line: lineNo, input });
      continue;
    }
    const p = pending.get(proc);
    if (p === undefined) throw new HistoryParseError(lineNo, `process ${proc} completes an operation it never invoked`);
    if (p.input.f !== f || p.input.key !== key) throw new HistoryParseError(lineNo, `completion does not match the invocation of process ${proc}`);
    pending.delete(proc);
    if (type === 'ok') {
      const output = f === 'get' ? { value: str(map, 'value', lineNo) } : {};
      ops.push({ clientId: proc, input: p.input, output, call: p.line, return: lineNo });
    } else if (type === 'info') {
      unknown(proc, p);
    } else if (type !== 'fail') {
      throw new HistoryParseError(lineNo, `unknown :type :${type}`);
    }
  }
  for (const [proc, p] of pending) unknown(proc, p);
  return ops;
}
