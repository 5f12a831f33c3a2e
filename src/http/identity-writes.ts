import type { HttpDependencies } from './dependencies.js';

/**
 * Runs a write to users, roles or API tokens, then marks the cached identities stale. The mark
 * comes after the commit, so that no request can cache the old row as current in between, and
 * also after a failure, since a lost COMMIT reply does not prove that nothing changed.
 */
export async function afterIdentityWrite<T>(dependencies: Pick<HttpDependencies, 'credentials'>, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } finally {
    dependencies.credentials.identitiesChanged();
  }
}
