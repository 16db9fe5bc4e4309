// The one error type of the public client: every failure, from the server (a problem document
// over HTTP or NATS) or from the client itself (network, timeout, bad input), is a CellkvError
// with a stable code, so callers branch on `code`, never on message text.

/** Codes the server sends (DESIGN.md, HTTP API v1). */
export type ServerErrorCode =
  | 'INVALID_ARGUMENT'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED'
  | 'NOT_FOUND'
  | 'VERSION_MISMATCH'
  | 'ALREADY_EXISTS'
  | 'PAYLOAD_TOO_LARGE'
  | 'RATE_LIMITED'
  | 'QUOTA_EXCEEDED'
  | 'UNAVAILABLE'
  | 'OUTCOME_UNKNOWN'
  | 'METHOD_NOT_ALLOWED'
  | 'INTERNAL';

/** Client-side only: the call was aborted through its AbortSignal. */
export type ClientErrorCode = 'CANCELLED';

/** Known codes; a newer server may send others, which arrive unchanged. */
export type CellkvErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

export interface CellkvErrorInit {
  readonly code: CellkvErrorCode;
  /** HTTP status (also carried over NATS); 0 when no server answer was received. */
  readonly status: number;
  readonly detail: string;
  /** Seconds the server asked us to wait (Retry-After), null when it did not say. */
  readonly retryAfter?: number | null;
  /** VERSION_MISMATCH / ALREADY_EXISTS: the key's current version, null when absent. */
  readonly currentVersion?: bigint | null;
  /** The idempotency key the write was sent with: retry with it after OUTCOME_UNKNOWN. */
  readonly idempotencyKey?: string | null;
  /** How many attempts were made before giving up. */
  readonly attempts?: number;
  /** Other members of the problem document. */
  readonly extensions?: Readonly<Record<string, string | number | boolean | null>>;
  readonly cause?: unknown;
}

export class CellkvError extends Error {
  readonly code: CellkvErrorCode;
  readonly status: number;
  readonly detail: string;
  readonly retryAfter: number | null;
  readonly currentVersion: bigint | null;
  readonly idempotencyKey: string | null;
  readonly attempts: number;
  readonly extensions: Readonly<Record<string, string | number | boolean | null>>;

  constructor(init: CellkvErrorInit) {
    super(`${init.code}${init.status ? ` (${init.status})` : ''}: ${init.detail}`, init.cause !== undefined ? { cause: init.cause } : undefined);
    this.name = 'CellkvError';
    this.code = init.code;
    this.status = init.status;
    this.detail = init.detail;
    this.retryAfter = init.retryAfter ?? null;
    this.currentVersion = init.currentVersion ?? null;
    this.idempotencyKey = init.idempotencyKey ?? null;
    this.attempts = init.attempts ?? 1;
    this.extensions = init.extensions ?? {};
  }

  /** The same error with more context (attempt count, idempotency key). */
  with(more: Partial<CellkvErrorInit>): CellkvError {
    return new CellkvError({
      code: this.code,
      status: this.status,
      detail: this.detail,
      retryAfter: this.retryAfter,
      currentVersion: this.currentVersion,
      idempotencyKey: this.idempotencyKey,
      attempts: this.attempts,
      extensions: this.extensions,
      cause: this.cause,
      ...more,
    });
  }
}

const STATUS_CODES: Record<number, ServerErrorCode> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  412: 'VERSION_MISMATCH',
  413: 'PAYLOAD_TOO_LARGE',
  429: 'RATE_LIMITED',
  503: 'UNAVAILABLE',
  504: 'OUTCOME_UNKNOWN',
};

const STANDARD_MEMBERS = new Set(['type', 'title', 'status', 'code', 'detail', 'ok', 'currentVersion']);

/**
 * A CellkvError from a problem document (or whatever a proxy sent instead): the code comes
 * from the body when it has one, else from the status.
 */
export function errorFromProblem(status: number, body: unknown, retryAfter: number | null): CellkvError {
  const p = typeof body === 'object' && body !== null && !Array.isArray(body) ? (body as Record<string, unknown>) : {};
  const code = typeof p['code'] === 'string' ? p['code'] : (STATUS_CODES[status] ?? (status >= 500 ? 'UNAVAILABLE' : 'INTERNAL'));
  const detail = typeof p['detail'] === 'string' ? p['detail'] : `HTTP ${status} without a problem document`;
  const cv = p['currentVersion'];
  const extensions: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(p)) {
    if (!STANDARD_MEMBERS.has(k) && (v === null || ['string', 'number', 'boolean'].includes(typeof v))) extensions[k] = v as string | number | boolean | null;
  }
  const ra = retryAfter ?? (typeof p['retryAfter'] === 'number' ? p['retryAfter'] : null);
  return new CellkvError({
    code,
    status: typeof p['status'] === 'number' ? p['status'] : status,
    detail,
    retryAfter: ra,
    currentVersion: typeof cv === 'string' && /^[0-9]+$/.test(cv) ? BigInt(cv) : null,
    extensions,
  });
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(h: string | null | undefined, now = Date.now()): number | null {
  if (h === null || h === undefined || h.trim() === '') return null;
  const t = h.trim();
  if (/^[0-9]+$/.test(t)) return Number(t);
  const at = Date.parse(t);
  return Number.isNaN(at) ? null : Math.max(0, Math.ceil((at - now) / 1000));
}

export function invalidArgument(detail: string): CellkvError {
  return new CellkvError({ code: 'INVALID_ARGUMENT', status: 0, detail });
}
