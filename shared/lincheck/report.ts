// Human-readable rendering of check results (used by the CLI, tests and the simulation).

import type { CheckResult, PrefixEntry } from './checker.js';

export interface ReportOptions {
  /** Most prefix lines to print; the earliest ops are elided first. Default 40. */
  readonly maxLines?: number;
}

function interval(e: PrefixEntry): string {
  if (e.return === null) return `[${e.call}, ?)`;
  return `[${e.call}, ${e.return}]`;
}

export function formatPrefixEntry(e: PrefixEntry): string {
  const note = e.culprit ? '   <-- cannot be linearized' : e.status === 'pending' ? '   (completes after this point)' : '';
  return `client ${e.clientId}  ${interval(e)}  ${e.description}${note}`;
}

/** Lines explaining a result: empty for `linearizable`, the reason for `unknown`. */
export function formatDetails(result: CheckResult, options: ReportOptions = {}): string[] {
  if (result.result === 'linearizable') return [];
  if (result.result === 'unknown') return [result.reason];
  const maxLines = options.maxLines ?? 40;
  const where = result.key === undefined ? '' : `key ${JSON.stringify(result.key)}: `;
  const what = result.minimal ? 'shortest illegal prefix' : 'illegal prefix (budget ran out while shrinking it)';
  const lines = [`${where}${what}, ${result.prefix.length} ops in invoke order [invoke, complete]:`];
  const shown = result.prefix.slice(Math.max(0, result.prefix.length - maxLines));
  if (shown.length < result.prefix.length) lines.push(`... ${result.prefix.length - shown.length} earlier ops omitted`);
  for (const e of shown) lines.push(formatPrefixEntry(e));
  return lines;
}

/** The one-word-ish verdict used by the CLI: `linearizable`, `not linearizable`, `unknown`. */
export function verdictText(result: CheckResult): string {
  return result.result === 'not-linearizable' ? 'not linearizable' : result.result;
}
