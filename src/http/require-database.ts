import type { Database } from '../db/database.js';
import { AdapterError } from '../errors.js';
import type { HttpDependencies } from './dependencies.js';

/** The connected database, or a 503 that says what cannot be done until it returns. */
export function requireDatabase(dependencies: HttpDependencies, what: string): Database {
  const database = dependencies.getDatabase();
  if (!database) throw new AdapterError('DATABASE_UNAVAILABLE', `${what} while the database is not connected; retry shortly`);
  return database;
}
