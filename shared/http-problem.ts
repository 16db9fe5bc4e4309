// RFC 9457 problem details for the public API: one shape for HTTP responses and for NATS
// front-door error replies, so clients of either door parse errors the same way.

import { ERROR_HTTP_STATUS, KvError, type ErrorCode } from './errors.js';

/** HTTP-only codes that have no KvError counterpart (routing, not the data model). */
export type HttpOnlyCode = 'METHOD_NOT_ALLOWED';
export type ProblemCode = ErrorCode | HttpOnlyCode;

export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ProblemCode;
  readonly detail: string;
  /** Extension members (e.g. currentVersion on 412), string/number/null only. */
  readonly [extension: string]: string | number | null;
}

const TITLES: Record<ProblemCode, string> = {
  INVALID_ARGUMENT: 'Invalid argument',
  UNAUTHENTICATED: 'Unauthenticated',
  PERMISSION_DENIED: 'Permission denied',
  NOT_FOUND: 'Not found',
  VERSION_MISMATCH: 'Version mismatch',
  ALREADY_EXISTS: 'Already exists',
  PAYLOAD_TOO_LARGE: 'Payload too large',
  RATE_LIMITED: 'Rate limited',
  QUOTA_EXCEEDED: 'Quota exceeded',
  UNAVAILABLE: 'Service unavailable',
  OUTCOME_UNKNOWN: 'Outcome unknown',
  NOT_LEADER: 'Service unavailable',
  WRONG_RANGE: 'Service unavailable',
  OVERLOADED: 'Service unavailable',
  INTERNAL: 'Internal error',
  METHOD_NOT_ALLOWED: 'Method not allowed',
};

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Seconds a client should wait before retrying 429/503 answers. */
export const DEFAULT_RETRY_AFTER_S = 1;

/** Cell-internal codes are retried inside the gateway; if one still escapes it is UNAVAILABLE. */
export function publicCode(code: ErrorCode): ErrorCode {
  return code === 'NOT_LEADER' || code === 'WRONG_RANGE' || code === 'OVERLOADED' ? 'UNAVAILABLE' : code;
}

export function problemStatus(code: ProblemCode): number {
  return code === 'METHOD_NOT_ALLOWED' ? 405 : ERROR_HTTP_STATUS[code];
}

export function problem(code: ProblemCode, detail: string, extensions: Readonly<Record<string, string | number | null>> = {}): Problem {
  const core = {
    type: `urn:cellkv:problem:${code.toLowerCase().replace(/_/g, '-')}`,
    title: TITLES[code],
    status: problemStatus(code),
    code,
    detail,
  };
  // Extensions follow the standard members and can never overwrite them.
  const out: Record<string, string | number | null> = { ...core };
  for (const [k, v] of Object.entries(extensions)) if (!(k in core)) out[k] = v;
  return out as unknown as Problem;
}

/** The problem for a KvError, with internal codes folded into UNAVAILABLE. */
export function problemOfError(e: KvError): Problem {
  const code = publicCode(e.code);
  const detail = code === e.code ? e.message : `${e.message} (retried; try again later)`;
  // Routing hints are internal; everything else in details is meant for the caller.
  const { leaderHint: _hint, ...ext } = e.details;
  return problem(code, detail, ext);
}

/** Whether answers with this status must carry Retry-After. */
export function needsRetryAfter(status: number): boolean {
  return status === 429 || status === 503;
}
