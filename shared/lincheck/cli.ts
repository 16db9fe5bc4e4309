// `npm run lincheck -- FILE...`: checks each history file and prints one verdict line per
// file (details indented below it). Exit 0: all linearizable; 1: some not linearizable;
// 2: some unknown or unreadable (the worst code wins, 2 over 1).

import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { DEFAULT_TIMEOUT_MS } from './checker.js';
import { checkHistoryText } from './formats.js';
import { HistoryParseError } from './model.js';
import { formatDetails, verdictText } from './report.js';

function positiveInt(text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

interface CliOptions {
  readonly timeoutMs: number;
  readonly maxLines: number;
}

function checkFile(file: string, opts: CliOptions): number {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    console.log(`${file}: error: cannot read file: ${(e as Error).message}`);
    return 2;
  }
  try {
    const { result } = checkHistoryText(text, { timeoutMs: opts.timeoutMs });
    console.log(`${file}: ${verdictText(result)}${result.result === 'unknown' ? ` (${result.reason})` : ''}`);
    if (result.result === 'not-linearizable') {
      for (const line of formatDetails(result, { maxLines: opts.maxLines })) console.log(`    ${line}`);
      return 1;
    }
    return result.result === 'linearizable' ? 0 : 2;
  } catch (e) {
    // HistoryParseError messages start with "line N:"; anything else that escapes a parser
    // (e.g. an impossible interval) is bad input too.
    const kind = e instanceof HistoryParseError ? 'parse error' : 'error';
    console.log(`${file}: ${kind}: ${(e as Error).message}`);
    return 2;
  }
}

const program = new Command()
  .name('lincheck')
  .description('Check histories for linearizability (Jepsen register logs, Porcupine kv EDN, cellkv JSONL).')
  .argument('<files...>', 'history files')
  .option('--timeout-ms <n>', 'time budget per file; past it the verdict is "unknown"', positiveInt, DEFAULT_TIMEOUT_MS)
  .option('--max-lines <n>', 'most prefix lines printed for a violation', positiveInt, 40)
  .action((files: string[], opts: CliOptions) => {
    let code = 0;
    for (const file of files) code = Math.max(code, checkFile(file, opts));
    process.exitCode = code;
  });

program.parse();
