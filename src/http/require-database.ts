import type { Database } from '../db/database.js';
import { AdapterError } from '../errors.js';
import type { HttpDependencies } from './dependencies.js';

/** Returns the connected database, or throws a 503 naming what cannot be done until it returns. */
export function requireDatabase(dependencies: HttpDependencies, what: string): Database {
  const database = dependencies.getDatabase();
  if (!database) throw new AdapterError('DATABASE_UNAVAILABLE', `${what} while the database is not connected; retry shortly`);
  return database;
}
