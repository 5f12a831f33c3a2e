import { MAX_PLAN_ROWS } from './routes/plans.js';

/** Largest JSON request body the REST API parses, in bytes (64 KiB). Larger bodies get 413. */
export const JSON_BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Returns the 413 detail for a body over the limit. A plan upload is the one request whose body
 * grows with normal use, so its message names the fix.
 */
export function bodyTooLargeMessage(method: string, path: string): string {
  const limit = `request body too large; send at most ${JSON_BODY_LIMIT_BYTES} bytes (64 KiB) of JSON`;
  if (method === 'POST' && path === '/api/v1/plans') {
    return `${limit}. Up to ${MAX_PLAN_ROWS} rows are allowed, but rows with long values and offsets can pass the byte limit first; send fewer rows per request`;
  }
  return limit;
}
