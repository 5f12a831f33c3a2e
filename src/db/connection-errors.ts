import pg from 'pg';
import { AdapterError, isAdapterError, type ErrorCode } from '../errors.js';

/*
 * Which failures to connect to PostgreSQL, or to prepare it (migrations, configuration mirror,
 * first administrator), the database child retries, and which stop the adapter.
 *
 * Retried with backoff for as long as they last, because the server or the network can come back:
 * - network and DNS errors: refused, reset, timed out, unreachable. A host name that does not
 *   resolve is retried too, because in docker-compose the database's name resolves only once its
 *   container runs, so a misspelt host name shows as one log line per attempt instead of an exit;
 * - node-postgres errors of a closed or timed-out connection;
 * - SQLSTATE classes 08 (connection exception), 40 (deadlock, serialization failure),
 *   53 (too many connections, disk full), 55 (lock not available), 57 (server shutting down or
 *   starting up) and 58 (I/O error on the server);
 * - every error not listed below. While the child waits, each station publishes its stop image
 *   and /health names the error, which is safer than a process that exits and restarts in a loop.
 *
 * Stopping the adapter, with a message that names the value and the fix:
 * - an invalid DATABASE_URL, which the configuration loader rejects before any attempt;
 * - SQLSTATE class 28 and node-postgres's SASL errors: wrong password, unknown role, no
 *   pg_hba.conf entry, no password in DATABASE_URL;
 * - SQLSTATE 3D000: the database in DATABASE_URL does not exist;
 * - SQLSTATE class 42: a missing privilege, or a schema that does not match the migrations;
 * - MIGRATION_FAILED, unless its cause is a retried error such as a lost connection;
 * - TLS errors: DATABASE_URL requires TLS and the server has none, or the server's certificate is
 *   untrusted, expired or for another host;
 * - for the embedded database, every failure (DATA_DIR_LOCKED included), because there is no
 *   server that could come back.
 * These stop the adapter even when they first occur on a reconnect, for example after the
 * password was changed on the server.
 */

/**
 * The section of docs/security.md that lists the privileges of a role that runs the adapter on a
 * migrated database. Errors about a missing privilege name it.
 */
export const PRIVILEGES_DOCUMENT = 'the privileges listed under "Running as a least-privilege role" in docs/security.md';

const RETRIED_SYSTEM_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
]);

const RETRIED_SQLSTATE_CLASSES: ReadonlySet<string> = new Set(['08', '40', '53', '55', '57', '58']);

/** Messages node-postgres and pg-pool use for a connection that closed or timed out. */
const RETRIED_CLIENT_MESSAGES: readonly RegExp[] = [
  /^Connection terminated/,
  /^timeout expired$/,
  /^timeout exceeded when trying to connect$/,
  /^Query read timeout$/,
  /is not queryable$/,
];

const TLS_ERROR_CODES: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Adapter error codes that already name the value and the fix, and that a retry cannot fix. */
const PERMANENT_CODES: ReadonlySet<ErrorCode> = new Set(['MIGRATION_FAILED', 'DATA_DIR_LOCKED', 'DATABASE_REJECTED', 'EMBEDDED_DATABASE_FAILED']);

/**
 * Returns the error's message, or its code when the message is empty: Node reports a refused
 * connection to a host name with several addresses as an AggregateError without a message.
 */
export function describeDatabaseFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return error.message || code || error.name;
}

/**
 * Returns true when the failure, or one of its causes, is a lost, refused or timed-out database
 * connection, which a later attempt may overcome, rather than a fault in the request.
 */
export function isDatabaseConnectionFailure(error: unknown): boolean {
  return causeChain(error).some((cause) => !(cause instanceof pg.DatabaseError) && isRetried(cause));
}

/**
 * Returns the error that stops the adapter for a failure of PostgreSQL at `target` (a description
 * without the password), or null when a later attempt may succeed.
 */
export function permanentPostgresError(error: unknown, target: string): AdapterError | null {
  const chain = causeChain(error);
  if (chain.some(isRetried)) return null;

  for (const cause of chain) {
    if (isAdapterError(cause) && PERMANENT_CODES.has(cause.code)) return cause;
  }
  for (const cause of chain) {
    const rejection = describeRejection(cause, target);
    if (rejection) return new AdapterError('DATABASE_REJECTED', rejection, { cause: error });
  }
  return null;
}

/**
 * Returns the error that stops the adapter for a failure of the embedded database in `directory`.
 * Every failure counts, because the embedded database has no server that could come back.
 */
export function embeddedDatabaseError(error: unknown, directory: string): AdapterError {
  if (isAdapterError(error) && PERMANENT_CODES.has(error.code)) return error;
  return new AdapterError(
    'EMBEDDED_DATABASE_FAILED',
    `the embedded database in ${directory} failed: ${describeDatabaseFailure(error)}; check that CALEJO_DATA_DIR is writable and not full, and restore the directory from a backup if its files are damaged`,
    { cause: error },
  );
}

function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  let current: unknown = error;
  // The bound guards against a cause that refers back to an earlier error.
  while (current !== undefined && current !== null && chain.length < 8) {
    chain.push(current);
    current = current instanceof Error ? current.cause : undefined;
  }
  return chain;
}

function isRetried(error: unknown): boolean {
  if (isAdapterError(error, 'DATABASE_UNAVAILABLE')) return true;
  if (error instanceof pg.DatabaseError) return RETRIED_SQLSTATE_CLASSES.has((error.code ?? '').slice(0, 2));
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  if (code !== undefined && RETRIED_SYSTEM_CODES.has(code)) return true;
  return RETRIED_CLIENT_MESSAGES.some((pattern) => pattern.test(error.message));
}

/** Returns the message for a failure that needs the operator, or null for any other failure. */
function describeRejection(error: unknown, target: string): string | null {
  if (!(error instanceof Error)) return null;
  const message = describeDatabaseFailure(error);

  if (error instanceof pg.DatabaseError) {
    const sqlState = error.code ?? '';
    if (sqlState.startsWith('28')) {
      return `${target} rejected the login from DATABASE_URL: ${message}; correct the user name and password in DATABASE_URL, or allow this client in the server's pg_hba.conf`;
    }
    if (sqlState === '3D000') return `${target}: ${message}; create the database, or correct the database name in DATABASE_URL`;
    if (sqlState === '42501') {
      return `${target} denied a statement the adapter needs: ${message}; grant the user of DATABASE_URL ${PRIVILEGES_DOCUMENT}`;
    }
    if (sqlState.startsWith('42')) {
      return `the schema of ${target} does not match this adapter: ${message}; check that schema_migrations lists every file in src/db/migrations and that no table was changed outside them`;
    }
    return null;
  }

  // node-postgres raises these before it sends a password, when DATABASE_URL has none or a non-string one.
  if (message.startsWith('SASL:')) {
    return `${target} requires a password and DATABASE_URL has none that node-postgres can send (${message}); add the password to DATABASE_URL`;
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (message === 'The server does not support SSL connections' || (code !== undefined && TLS_ERROR_CODES.has(code))) {
    return `the TLS connection to ${target} failed: ${message}; correct sslmode, sslrootcert or the host name in DATABASE_URL, or turn on ssl on the server`;
  }
  return null;
}
