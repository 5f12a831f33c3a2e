import { createHash, randomBytes } from 'node:crypto';
import type { Queryable } from '../db/database.js';

/** Every API token starts with this, so the middleware can distinguish it from a JWT without trying both. */
export const API_TOKEN_PREFIX = 'calejo_';

export function isApiToken(bearer: string): boolean {
  return bearer.startsWith(API_TOKEN_PREFIX);
}

/** Only this digest is stored; the token itself is shown once, when it is created. */
export function hashApiToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Generates a token of 32 random bytes, so a SHA-256 digest without salt is as strong as a password hash. */
export function generateApiToken(): { tokenId: string; token: string } {
  return { tokenId: `tok_${randomBytes(6).toString('hex')}`, token: `${API_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}` };
}

/** Grant of an API token, as read from its row: the token id, its user and its expiry. */
export interface ApiTokenGrant {
  tokenId: string;
  userId: string;
  expiresAt: Date | null;
}

/** Returns what the token with this digest grants, or null when it is unknown, revoked or expired. */
export async function readApiToken(database: Queryable, digest: string): Promise<ApiTokenGrant | null> {
  const result = await database.query<{ token_id: string; user_id: string; expires_at: Date | null }>(
    `SELECT token_id, user_id, expires_at FROM api_tokens
      WHERE token_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())`,
    [digest],
  );
  const row = result.rows[0];
  return row ? { tokenId: row.token_id, userId: row.user_id, expiresAt: row.expires_at } : null;
}

/** Stamps the token's last use; callers limit how often, since it is a write. */
export async function recordApiTokenUse(database: Queryable, tokenId: string): Promise<void> {
  await database.query('UPDATE api_tokens SET last_used_at = now() WHERE token_id = $1', [tokenId]);
}
