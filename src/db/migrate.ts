import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AdapterError } from '../errors.js';
import { PACKAGE_ROOT } from '../paths.js';
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
 */
export async function migrate(database: Database, migrations = readMigrations()): Promise<number[]> {
  await database.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);

  const applied: number[] = [];
  for (const migration of migrations) {
    const wasApplied = await database.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
      const existing = await tx.query('SELECT 1 FROM schema_migrations WHERE version = $1', [migration.version]);
      if (existing.rowCount > 0) return false;
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw new AdapterError(
          'MIGRATION_FAILED',
          `migration ${migration.version}_${migration.name} failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [migration.version, migration.name]);
      return true;
    });
    if (wasApplied) applied.push(migration.version);
  }
  return applied;
}
