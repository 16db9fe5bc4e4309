// Reader for Jepsen client logs of a single register (the etcd corpus). Only lines containing
// `jepsen.util` matter:  INFO  jepsen.util - <process>  :<type>  :<f>  <value>
// Times are line numbers, so every event has a distinct time and the file line is visible in
// reports.

import { HistoryParseError } from './model.js';
import type { RegisterInput, RegisterOp, RegisterValue } from './models/register.js';

type Raw = { kind: 'value'; value: RegisterValue } | { kind: 'pair'; a: RegisterValue; b: RegisterValue } | { kind: 'keyword'; name: string };

const LINE = /jepsen\.util\s+-\s+(\d+)\s+:([\w-]+)\s+:([\w-]+)(?:\s+(.*?))?\s*$/;

function parseScalar(tok: string, line: number): RegisterValue {
  if (tok === 'nil') return null;
  if (/^-?\d+$/.test(tok)) return Number(tok);
  if (/^"(?:[^"\\]|\\.)*"$/.test(tok)) return JSON.parse(tok) as string;
  throw new HistoryParseError(line, `unsupported value ${JSON.stringify(tok)}`);
}

function parseValue(text: string | undefined, line: number): Raw {
  const t = (text ?? 'nil').trim();
  if (t.startsWith(':')) return { kind: 'keyword', name: t.slice(1) };
  const pair = /^\[\s*(\S+)\s+(\S+)\s*\]$/.exec(t);
  if (pair) return { kind: 'pair', a: parseScalar(pair[1]!, line), b: parseScalar(pair[2]!, line) };
  return { kind: 'value', value: parseScalar(t, line) };
}

function toInput(f: string, raw: Raw, line: number): RegisterInput {
  if (f === 'read') return { f: 'read' };
  if (f === 'write' && raw.kind === 'value') return { f: 'write', value: raw.value };
  if (f === 'cas' && raw.kind === 'pair') return { f: 'cas', from: raw.a, to: raw.b };
  throw new HistoryParseError(line, `unsupported operation :${f} with this value`);
}

interface Pending {
  readonly line: number;
  readonly input: RegisterInput;
}

/**
 * Converts a log to register ops. `:fail` of a read or write and every read without a
 * result are dropped (no effect); `:fail` of a cas is kept as a definite "did not swap";
 * `:info` writes and cas, and ops never completed, have an unknown outcome.
 */
export function parseJepsenLog(text: string): RegisterOp[] {
  const lines = text.split('\n');
  const pending = new Map<number, Pending>();
  const ops: RegisterOp[] = [];
  const unknown = (clientId: number, p: Pending): void => {
    if (p.input.f !== 'read') ops.push({ clientId, input: p.input, output: undefined, call: p.line, return: Infinity });
  };
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const text = lines[i]!;
    if (!text.includes('jepsen.util')) continue;
    const m = LINE.exec(text);
    if (!m) throw new HistoryParseError(lineNo, 'unrecognized jepsen.util line');
    const proc = Number(m[1]);
    const type = m[2]!;
    const f = m[3]!;
    const raw = parseValue(m[4], lineNo);
    if (type === 'invoke') {
      if (pending.has(proc)) throw new HistoryParseError(lineNo, `process ${proc} invoked again before completing`);
      pending.set(proc, { line: lineNo, input: toInput(f, raw, lineNo) });
      continue;
    }
    const p = pending.get(proc);
    if (p === undefined) throw new HistoryParseError(lineNo, `process ${proc} completes an operation it never invoked`);
    if (p.input.f !== f) throw new HistoryParseError(lineNo, `process ${proc} invoked :${p.input.f} but completes :${f}`);
    pending.delete(proc);
    const done = { clientId: proc, input: p.input, call: p.line, return: lineNo };
    if (type === 'ok') {
      if (f === 'read') {
        if (raw.kind !== 'value') throw new HistoryParseError(lineNo, 'a successful read needs a value');
        ops.push({ ...done, output: { value: raw.value } });
      } else {
        ops.push({ ...done, output: { ok: true } });
      }
    } else if (type === 'fail') {
      if (f === 'cas') ops.push({ ...done, output: { ok: false } });
    } else if (type === 'info') {
      unknown(proc, p);
    } else {
      throw new HistoryParseError(lineNo, `unknown operation type :${type}`);
    }
  }
  for (const [proc, p] of pending) unknown(proc, p);
  return ops;
}
