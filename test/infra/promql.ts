// Metric names referenced by a PromQL expression, for checking dashboards and alert rules
// against what the processes expose. A small tokenizer, not a parser: it skips strings,
// comments, label matchers in `{}`, ranges and subqueries in `[]`, label lists after
// by / without / on / ignoring / group_left / group_right, Grafana variables ($x, ${x}),
// numbers and durations; an identifier followed by `(` is a function or aggregation.

const KEYWORDS = new Set(['and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'offset', 'bool', 'atan2', 'inf', 'nan']);
const LABEL_LIST_KEYWORDS = new Set(['by', 'without', 'on', 'ignoring', 'group_left', 'group_right']);
const IDENT_START = /[A-Za-z_:]/;
const IDENT_PART = /[A-Za-z0-9_:]/;

export class PromqlSyntaxError extends Error {
  readonly code = 'PROMQL_SYNTAX';
}

/** The distinct metric names (and recording-rule names) an expression selects, in order of appearance. */
export function metricNames(expr: string): string[] {
  const names: string[] = [];
  let i = 0;
  const n = expr.length;
  const skipSpace = (): void => {
    while (i < n && /\s/.test(expr[i]!)) i++;
  };
  const skipString = (): void => {
    const quote = expr[i]!;
    i++;
    while (i < n && expr[i] !== quote) i += expr[i] === '\\' && quote !== '`' ? 2 : 1;
    if (i >= n) throw new PromqlSyntaxError(`unterminated string in: ${expr}`);
    i++;
  };
  /** Skips a balanced group opened at expr[i], strings inside included. */
  const skipGroup = (open: string, close: string): void => {
    let depth = 0;
    do {
      const ch = expr[i]!;
      if (ch === '"' || ch === "'" || ch === '`') {
        skipString();
        continue;
      }
      if (ch === open) depth++;
      else if (ch === close) depth--;
      i++;
    } while (depth > 0 && i < n);
    if (depth > 0) throw new PromqlSyntaxError(`unbalanced '${open}' in: ${expr}`);
  };
  const readIdent = (): string => {
    const start = i;
    while (i < n && IDENT_PART.test(expr[i]!)) i++;
    return expr.slice(start, i);
  };
  /** `sum by (le) (...)`: a by/without list and then a call; the position is left unchanged. */
  const aggregationModifierFollows = (): boolean => {
    const at = i;
    try {
      const word = IDENT_START.test(expr[i] ?? '') ? readIdent().toLowerCase() : '';
      if (word !== 'by' && word !== 'without') return false;
      skipSpace();
      if (expr[i] !== '(') return false;
      skipGroup('(', ')');
      skipSpace();
      return expr[i] === '(';
    } finally {
      i = at;
    }
  };
  while (i < n) {
    const ch = expr[i]!;
    if (/\s/.test(ch)) {
      i++;
    } else if (ch === '#') {
      while (i < n && expr[i] !== '\n') i++;
    } else if (ch === '"' || ch === "'" || ch === '`') {
      skipString();
    } else if (ch === '{') {
      skipGroup('{', '}');
    } else if (ch === '[') {
      skipGroup('[', ']');
    } else if (ch === '$') {
      i++;
      if (expr[i] === '{') skipGroup('{', '}');
      else readIdent();
    } else if (/[0-9.]/.test(ch)) {
      // Numbers, durations (5m, 1h30m), hex and exponents: nothing in them is a name.
      while (i < n && /[0-9A-Za-z_.]/.test(expr[i]!)) i++;
    } else if (IDENT_START.test(ch)) {
      const word = readIdent();
      skipSpace();
      const lower = word.toLowerCase();
      if (LABEL_LIST_KEYWORDS.has(lower)) {
        if (expr[i] === '(') skipGroup('(', ')');
      } else if (KEYWORDS.has(lower) || expr[i] === '(' || aggregationModifierFollows()) {
        // keyword, or a function / aggregation call: its arguments are scanned next
      } else if (!names.includes(word)) {
        names.push(word);
      }
    } else {
      i++;
    }
  }
  return names;
}
