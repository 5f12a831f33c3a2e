import { EXIT } from '../exit-codes.js';

/**
 * Stable codes of the check's failures. The JSON report carries them, so scripts match on the
 * code and not on the wording. PASSWORD_MISSING, CLIENT_PKI_FAILED and UNEXPECTED_ERROR mean that
 * the check could not run or finish (exit 3). Every other code is a failure of the server or of
 * trust (exit 2).
 */
export type FailureCode =
  | 'PASSWORD_MISSING'
  | 'CLIENT_PKI_FAILED'
  | 'UNEXPECTED_ERROR'
  | 'CONNECTION_REFUSED'
  | 'HOST_UNREACHABLE'
  | 'HOST_NOT_FOUND'
  | 'TIMED_OUT'
  | 'CONNECTION_FAILED'
  | 'ENDPOINT_NOT_OFFERED'
  | 'SERVER_CERTIFICATE_UNTRUSTED'
  | 'CLIENT_CERTIFICATE_REJECTED'
  | 'USER_REJECTED'
  | 'STATUS_READ_FAILED';

const NOT_RUN: ReadonlySet<FailureCode> = new Set(['PASSWORD_MISSING', 'CLIENT_PKI_FAILED', 'UNEXPECTED_ERROR']);

/** A failed step of the check, with a message that names the value involved and the fix. */
export class CheckFailure extends Error {
  constructor(
    readonly code: FailureCode,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'CheckFailure';
  }

  get exitCode(): number {
    return NOT_RUN.has(this.code) ? EXIT.UNKNOWN : EXIT.CRITICAL;
  }
}

/**
 * Rejects with TIMED_OUT when `promise` has not settled within `timeoutMs`. node-opcua has its
 * own transport timeout, but a TCP connect to a host that drops packets waits for the kernel's
 * retries (minutes on Linux), so each step also gets this deadline.
 */
export async function withDeadline<T>(promise: Promise<T>, timeoutMs: number, step: string, url: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(timedOut(step, url, timeoutMs)), timeoutMs);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export function timedOut(step: string, url: string, timeoutMs: number): CheckFailure {
  return new CheckFailure(
    'TIMED_OUT',
    `${step} on ${url} timed out after ${timeoutMs / 1000} s: check that the port belongs to an OPC UA server and that no firewall drops the packets, or give a longer --timeout`,
  );
}
