/**
 * The adapter's error catalog. Each code is stable: tests, API clients and log searches match on
 * it, so the wording of a message may change but a code may not.
 */
export const ERROR_CODES = {
  CONFIG_INVALID: { status: 500 },
  CONFIG_NOT_FOUND: { status: 500 },
  LISTEN_FAILED: { status: 500 },
  CERTIFICATE_INVALID: { status: 500 },
  DATA_DIR_LOCKED: { status: 500 },
  DATABASE_UNAVAILABLE: { status: 503 },
  /** PostgreSQL rejected the login, the database name, a privilege or the TLS settings. */
  DATABASE_REJECTED: { status: 500 },
  /** The embedded database (PGlite) in the data directory cannot be opened or prepared. */
  EMBEDDED_DATABASE_FAILED: { status: 500 },
  MIGRATION_FAILED: { status: 500 },
  VALIDATION_FAILED: { status: 400 },
  MALFORMED_REQUEST: { status: 400 },
  AUTHENTICATION_REQUIRED: { status: 401 },
  INVALID_CREDENTIALS: { status: 401 },
  FORBIDDEN: { status: 403 },
  STATION_NOT_FOUND: { status: 404 },
  USER_NOT_FOUND: { status: 404 },
  ROLE_NOT_FOUND: { status: 404 },
  TOKEN_NOT_FOUND: { status: 404 },
  CONFLICT: { status: 409 },
  TOO_MANY_REQUESTS: { status: 429 },
  PUMP_NOT_FOUND: { status: 404 },
  OVERRIDE_NOT_FOUND: { status: 404 },
  SETPOINT_OUT_OF_RANGE: { status: 422 },
  ROUTE_NOT_FOUND: { status: 404 },
  INVALID_STATE_TRANSITION: { status: 409 },
  METHOD_NOT_ALLOWED: { status: 405 },
  PAYLOAD_TOO_LARGE: { status: 413 },
  UNSUPPORTED_MEDIA_TYPE: { status: 415 },
  INTERNAL: { status: 500 },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AdapterError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** Extra fields for API problem documents, such as the invalid field's name. */
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, { cause: options.cause });
    this.name = 'AdapterError';
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options.details ?? {};
  }
}

export function isAdapterError(error: unknown, code?: ErrorCode): error is AdapterError {
  return error instanceof AdapterError && (code === undefined || error.code === code);
}
