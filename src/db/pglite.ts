import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import type { Database, Queryable } from './database.js';
import { lockDataDir } from './data-dir-lock.js';

/**
 * Opens the embedded database in `<dataDir>/pglite`. PGlite is a single connection inside this
 * process, so it needs no pool and never loses its connection.
 * The data directory is locked for this process, because PGlite takes no file lock of its own.
 */
export async function openPglite(dataDir: string): Promise<Database> {
  const directory = join(dataDir, 'pglite');
  mkdirSync(directory, { recursive: true });
  const unlock = lockDataDir(dataDir);
  let database: PGlite;
  try {
    database = await PGlite.create(directory);
  } catch (error) {
    unlock();
    throw error;
  }

  const wrap = (target: Pick<PGlite, 'query' | 'exec'>): Queryable => ({
    async query<Row>(sql: string, params?: unknown[]) {
      const result = await target.query<Row>(sql, params);
      // PGlite reports affectedRows 0 for a SELECT, where node-postgres reports the rows returned.
      return { rows: result.rows, rowCount: Math.max(result.rows.length, result.affectedRows ?? 0) };
    },
    async exec(sql: string) {
      await target.exec(sql);
    },
  });
  const root = wrap(database);

  return {
    kind: 'pglite',
    description: `embedded PGlite ${directory}`,
    query: root.query,
    exec: root.exec,
    transaction: (work) => database.transaction((tx) => work(wrap(tx))),
    async listen(channel, onNotification) {
      const unsubscribe = await database.listen(channel, onNotification);
      return async () => unsubscribe();
    },
    onConnectionLost() {
      // An in-process database has no connection to lose.
    },
    async close() {
      try {
        await database.close();
      } finally {
        unlock();
      }
    },
  };
}
