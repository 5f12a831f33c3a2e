import { AdapterError } from '../errors.js';

/**
 * Rejects with DATABASE_UNAVAILABLE when `work` has not settled within `ms`. A hung database
 * connection (packets dropped, server frozen) never errors by itself, and the callers of this
 * helper must respond anyway: an emergency stop, a health probe. The query itself keeps running
 * until the pool gives up on it.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, operation: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new AdapterError('DATABASE_UNAVAILABLE', `${operation} timed out after ${ms} ms; the database is not responding`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
