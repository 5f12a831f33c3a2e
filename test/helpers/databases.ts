import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { Database } from '../../src/db/database.js';
import { openPostgres } from '../../src/db/postgres.js';
import { openPglite } from '../../src/db/pglite.js';

/**
 * The PostgreSQL server the tests create their databases on. Each test database is created fresh
 * and dropped afterwards, so runs and test files never share state.
 */
export const ADMIN_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

export interface TestDatabase {
  kind: 'postgres' | 'pglite';
  /** Connection string of the created database; null for PGlite. */
  url: string | null;
  /** Data directory for PGlite; a fresh temporary folder for both kinds. */
  dataDir: string;
  open(): Promise<Database>;
  drop(): Promise<void>;
}

export async function createPostgresDatabase(): Promise<TestDatabase> {
  const name = `calejo_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'calejo-test-'));
  return {
    kind: 'postgres',
    url: url.toString(),
    dataDir,
    open: () => openPostgres(url.toString()),
    async drop() {
      const dropper = new pg.Client({ connectionString: ADMIN_DATABASE_URL });
      await dropper.connect();
      try {
        await dropper.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await dropper.end();
      }
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export async function createPgliteDatabase(): Promise<TestDatabase> {
  const dataDir = mkdtempSync(join(tmpdir(), 'calejo-test-'));
  return {
    kind: 'pglite',
    url: null,
    dataDir,
    open: () => openPglite(dataDir),
    async drop() {
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Both database kinds, for `describe.each`: every database test runs on each. */
export const DATABASE_KINDS = [
  { kind: 'postgres', create: createPostgresDatabase },
  { kind: 'pglite', create: createPgliteDatabase },
] as const;
