// Recognizes the history formats the CLI accepts and checks a file's text with the right model.

import { type CheckOptions, type CheckResult, checkOperations } from './checker.js';
import { checkCellkvHistory } from './check-cellkv.js';
import { parseHistory } from './history.js';
import { HistoryParseError } from './model.js';
import { kvAppendModel } from './models/kv-append.js';
import { registerModel } from './models/register.js';
import { parseJepsenLog } from './parse-jepsen.js';
import { parsePorcupineKv } from './parse-porcupine-kv.js';

export type HistoryFormat = 'jepsen' | 'porcupine-kv' | 'cellkv';

/** Guesses the format from the content; null when it is none of the known ones. */
export function detectFormat(text: string): HistoryFormat | null {
  if (text.includes('jepsen.util')) return 'jepsen';
  const first = text.split('\n').find((l) => l.trim() !== '')?.trim();
  if (first === undefined) return 'cellkv'; // an empty history is a valid (empty) cellkv file
  if (first.startsWith('{:')) return 'porcupine-kv';
  if (first.startsWith('{"')) return 'cellkv';
  return null;
}

export interface TextCheck {
  readonly format: HistoryFormat;
  readonly result: CheckResult;
}

/** Parses and checks one history file's text. Throws HistoryParseError on bad input. */
export function checkHistoryText(text: string, options: CheckOptions = {}): TextCheck {
  const format = detectFormat(text);
  switch (format) {
    case 'jepsen':
      return { format, result: checkOperations(registerModel, parseJepsenLog(text), options) };
    case 'porcupine-kv':
      return { format, result: checkOperations(kvAppendModel, parsePorcupineKv(text), options) };
    case 'cellkv':
      return { format, result: checkCellkvHistory(parseHistory(text).records, options) };
    case null:
      throw new HistoryParseError(1, 'unrecognized history format (expected a Jepsen log, Porcupine kv EDN or cellkv JSONL)');
  }
}
