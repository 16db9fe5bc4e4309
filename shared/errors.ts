// Stable error codes shared by cells, gateways and clients. Each maps to one HTTP status.

export const ERROR_HTTP_STATUS = {
  INVALID_ARGUMENT: 400,
  UNAUTHENTICATED: 401,
  PERMISSION_DENIED: 403,
  NOT_FOUND: 404,
  VERSION_MISMATCH: 412,
  ALREADY_EXISTS: 412,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  QUOTA_EXCEEDED: 429,
  UNAVAILABLE: 503,
  OUTCOME_UNKNOWN: 504,
  // Internal to the cell protocol; a gateway retries or re-routes rather than surfacing them.
  NOT_LEADER: 503,
  WRONG_RANGE: 503,
  OVERLOADED: 503,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_HTTP_STATUS;

export const ERROR_CODES = Object.keys(ERROR_HTTP_STATUS) as ErrorCode[];

/** A typed error value: a stable code, a message that says what to do next, optional details. */
export class KvError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Readonly<Record<string, string | number | null>> = {},
  ) {
    super(message);
    this.name = 'KvError';
  }

  get httpStatus(): number {
    return ERROR_HTTP_STATUS[this.code];
  }
}
