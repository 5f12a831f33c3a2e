import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { describeDatabaseFailure, embeddedDatabaseError, isDatabaseConnectionFailure, permanentPostgresError } from '../../src/db/connection-errors.js';
import { AdapterError, isAdapterError } from '../../src/errors.js';

const TARGET = 'postgres 10.0.0.5:5432/calejo';

function systemError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function serverError(message: string, sqlState: string): pg.DatabaseError {
  const error = new pg.DatabaseError(message, message.length, 'error');
  error.code = sqlState;
  error.severity = 'FATAL';
  return error;
}

describe('PostgreSQL failures that are retried', () => {
  it.each([
    ['refused', systemError('connect ECONNREFUSED 10.0.0.5:5432', 'ECONNREFUSED')],
    ['reset', systemError('read ECONNRESET', 'ECONNRESET')],
    ['unreachable host', systemError('connect EHOSTUNREACH 10.0.0.5:5432', 'EHOSTUNREACH')],
    ['unresolved host', systemError('getaddrinfo ENOTFOUND postgres', 'ENOTFOUND')],
    ['refused on every address', Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' })],
    ['closed connection', new Error('Connection terminated unexpectedly')],
    ['connection timeout', new Error('Connection terminated due to connection timeout')],
    ['query timeout', new Error('Query read timeout')],
    ['server starting up', serverError('the database system is starting up', '57P03')],
    ['server shutting down', serverError('terminating connection due to administrator command', '57P01')],
    ['too many connections', serverError('sorry, too many clients already', '53300')],
    ['deadlock', serverError('deadlock detected', '40P01')],
    ['adapter deadline', new AdapterError('DATABASE_UNAVAILABLE', 'the database probe timed out after 2000 ms')],
    ['unknown error', new Error('something no list names')],
    ['unknown server error', serverError('internal error', 'XX000')],
  ])('retries %s', (_case, error) => {
    expect(permanentPostgresError(error, TARGET)).toBeNull();
  });

  it('retries migration cut off by lost connection', () => {
    const cause = new Error('Connection terminated unexpectedly');
    const error = new AdapterError('MIGRATION_FAILED', 'migration 0003_modbus_feedback failed', { cause });
    expect(permanentPostgresError(error, TARGET)).toBeNull();
  });
});

describe('PostgreSQL failures that stop the adapter', () => {
  it.each([
    ['wrong password', serverError('password authentication failed for user "calejo"', '28P01'), 'correct the user name and password in DATABASE_URL'],
    ['unknown role', serverError('role "calejo" does not exist', '28000'), "pg_hba.conf"],
    ['missing database', serverError('database "calejo" does not exist', '3D000'), 'create the database, or correct the database name in DATABASE_URL'],
    ['missing privilege', serverError('permission denied for table stations', '42501'), '"Running as a least-privilege role" in docs/security.md'],
    ['schema mismatch', serverError('column "in_config" does not exist', '42703'), 'does not match this adapter'],
    ['missing password', new Error('SASL: SCRAM-SERVER-FIRST-MESSAGE: client password must be a string'), 'add the password to DATABASE_URL'],
    ['server without TLS', new Error('The server does not support SSL connections'), 'correct sslmode'],
    ['untrusted certificate', systemError('self-signed certificate', 'DEPTH_ZERO_SELF_SIGNED_CERT'), 'sslrootcert'],
  ])('stops on %s', (_case, error, fix) => {
    const permanent = permanentPostgresError(error, TARGET);
    expect(isAdapterError(permanent, 'DATABASE_REJECTED')).toBe(true);
    expect(permanent!.message).toContain(TARGET);
    expect(permanent!.message).toContain(describeDatabaseFailure(error));
    expect(permanent!.message).toContain(fix);
    expect(permanent!.cause).toBe(error);
  });

  it('keeps failed migration as it is', () => {
    const cause = serverError('permission denied for schema public', '42501');
    const error = new AdapterError('MIGRATION_FAILED', 'migration 0008_x failed', { cause });
    expect(permanentPostgresError(error, TARGET)).toBe(error);
  });
});

describe('embedded database failures', () => {
  it('keeps locked data directory', () => {
    const error = new AdapterError('DATA_DIR_LOCKED', 'data directory /data is in use by adapter process 42');
    expect(embeddedDatabaseError(error, '/data/pglite')).toBe(error);
  });

  it('stops on any other failure', () => {
    const error = systemError("EACCES: permission denied, open '/data/pglite/PG_VERSION'", 'EACCES');
    const permanent = embeddedDatabaseError(error, '/data/pglite');
    expect(isAdapterError(permanent, 'EMBEDDED_DATABASE_FAILED')).toBe(true);
    expect(permanent.message).toContain('/data/pglite');
    expect(permanent.message).toContain('EACCES: permission denied');
    expect(permanent.message).toContain('check that CALEJO_DATA_DIR is writable');
  });
});

describe('failure description', () => {
  it('uses code when message is empty', () => {
    expect(describeDatabaseFailure(Object.assign(new AggregateError([], ''), { code: 'ECONNREFUSED' }))).toBe('ECONNREFUSED');
  });

  it('uses message otherwise', () => {
    expect(describeDatabaseFailure(systemError('connect ECONNREFUSED 10.0.0.5:5432', 'ECONNREFUSED'))).toBe('connect ECONNREFUSED 10.0.0.5:5432');
  });
});

describe('isDatabaseConnectionFailure', () => {
  it('accepts a query timeout', () => {
    expect(isDatabaseConnectionFailure(new Error('Query read timeout'))).toBe(true);
  });

  it('accepts a refused connection in the cause chain', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(isDatabaseConnectionFailure(new Error('storing the override failed', { cause: refused }))).toBe(true);
  });

  it('rejects an error the server returned', () => {
    const duplicate = new pg.DatabaseError('duplicate key value violates unique constraint', 0, 'error');
    duplicate.code = '23505';
    expect(isDatabaseConnectionFailure(duplicate)).toBe(false);
  });

  it('rejects a programming error', () => {
    expect(isDatabaseConnectionFailure(new TypeError('cannot read properties of undefined'))).toBe(false);
  });
});
