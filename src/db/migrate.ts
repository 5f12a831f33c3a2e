import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdapterError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { PRIVILEGES_DOCUMENT } from './connection-errors.js';
import type { Database } from './database.js';

export const MIGRATIONS_DIR = join(PACKAGE_ROOT, 'src', 'db', 'migrations');

/** Any constant works; it only has to be the same in every adapter instance. */
const MIGRATION_LOCK_KEY = 4_102_021_337;

interface Migration {
  version: number;
  name: string;
  sql: string;
}

/** Reads `NNNN_name.sql` files in version order. */
export function readMigrations(directory = MIGRATIONS_DIR): Migration[] {
  return readdirSync(directory)
    .filter((file) => file.endsWith('.sql'))
    .sort()
    .map((file) => {
      const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
      if (!match?.[1] || !match[2]) {
        throw new AdapterError('MIGRATION_FAILED', `invalid migration file name ${file}; use NNNN_name.sql`);
      }
      return { version: Number(match[1]), name: match[2], sql: readFileSync(join(directory, file), 'utf8') };
    });
}

/**
 * Applies the migrations not yet recorded in schema_migrations, each in its own transaction. The
 * advisory lock makes concurrent adapter instances apply each migration once. A hand-written runner
 * is used because the migration libraries for Node drive node-postgres only, not PGlite.
 *
 * A database with every migration applied is only read (SELECT on schema_migrations), so a role
 * without the right to create tables can run the adapter once the owner has migrated it.
 */
export async function migrate(database: Database, migrations = readMigrations()): Promise<number[]> {
  const { tableExists, pending } = await readMigrationState(database, migrations);
  if (pending.length === 0) return [];
  if (!tableExists) await createMigrationsTable(database, pending);

  const applied: number[] = [];
  for (const migration of pending) {
    const wasApplied = await database.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const existing = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (existing.rowCount > 0) return false;
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        const step = `migration ${migrationName(migration)}`;
        if (isPermissionDenied(error)) throw pendingMigrationsError(error, pending, step);
        throw new AdapterError('MIGRATION_FAILED', `${step} failed: ${(error as Error).message}`, { cause: error });
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (wasApplied) applied.push(migration.version);
  }
  return applied;
}

/**
 * Returns whether schema_migrations exists and the migrations it does not list, without writing
 * anything. Another instance may apply some of them meanwhile, so migrate() checks each again
 * under the lock.
 */
async function readMigrationState(database: Database, migrations: Migration[]): Promise<{ tableExists: boolean; pending: Migration[] }> {
  const table = await database.query<{ found: boolean }>(`SELECT to_regclass('schema_migrations') IS NOT NULL AS found`);
  if (!table.rows[0]?.found) return { tableExists: false, pending: migrations };
  const recorded = await database.query<{ version: number }>('SELECT version FROM schema_migrations');
  const applied = new Set(recorded.rows.map((row) => row.version));
  return { tableExists: true, pending: migrations.filter((migration) => !applied.has(migration.version)) };
}

async function createMigrationsTable(database: Database, pending: Migration[]): Promise<void> {
  try {
    await database.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  } catch (error) {
    // Without USAGE on any schema of its search_path, the user gets 3F000 "no schema has been
    // selected to create in" instead of a permission error.
    const code = (error as { code?: unknown }).code;
    if (code !== '42501' && code !== '3F000') throw error;
    throw (await isSchemaMigrationsHidden(database)) ? hiddenTableError(error) : pendingMigrationsError(error, pending, 'creating the table schema_migrations');
  }
}

function migrationName(migration: Migration): string {
  return `${String(migration.version).padStart(4, '0')}_${migration.name}`;
}

function isPermissionDenied(error: unknown): boolean {
  return (error as { code?: unknown }).code === '42501';
}

/**
 * Tells whether schema_migrations exists in a schema that the database user cannot use, so that
 * to_regclass() did not find it. pg_class is readable by every role.
 */
async function isSchemaMigrationsHidden(database: Database): Promise<boolean> {
  const stored = await database.query<{ found: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_class WHERE relname = 'schema_migrations' AND relkind = 'r') AS found`);
  return stored.rows[0]?.found === true;
}

function hiddenTableError(error: unknown): AdapterError {
  return new AdapterError(
    'DATABASE_REJECTED',
    `the database user of DATABASE_URL cannot read the table schema_migrations (${(error as Error).message}); grant it USAGE on the schema and ${PRIVILEGES_DOCUMENT}`,
    { cause: error },
  );
}

function pendingMigrationsError(error: unknown, pending: Migration[], step: string): AdapterError {
  const names = pending.map(migrationName).join(', ');
  return new AdapterError(
    'MIGRATION_FAILED',
    `${step} failed: ${(error as Error).message}. The database user of DATABASE_URL cannot apply the pending migrations (${names}); ` +
      `start the adapter once with the DATABASE_URL of the tables' owner to apply them, then run it as a role with ${PRIVILEGES_DOCUMENT}`,
    { cause: error },
  );
}
