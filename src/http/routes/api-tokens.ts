import type Router from '@koa/router';
import { z } from 'zod';
import { writeAuditEvent } from '../../audit/audit-log.js';
import { generateApiToken, hashApiToken } from '../../auth/api-tokens.js';
import { AdapterError } from '../../errors.js';
import { findUser } from '../../users/user-store.js';
import { requirePermission } from '../authenticate.js';
import { requireDatabase } from '../require-database.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { afterIdentityWrite } from '../identity-writes.js';
import { parseBody, requestText } from '../validate.js';

export const createTokenSchema = z
  .object({
    name: requestText(100).pipe(z.string().min(1, 'name the script or system that will use the token')),
    /** The user the token acts as; its role decides what the token may do. */
    user_id: requestText(64),
    expires_in_days: z.number().int().min(1).max(3650).optional(),
  })
  .strict();

interface TokenRow {
  token_id: string;
  name: string;
  user_id: string;
  created_by: string;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
  last_used_at: Date | null;
}

function tokenBody(row: TokenRow) {
  return {
    token_id: row.token_id,
    name: row.name,
    user_id: row.user_id,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}


const TOKEN_COLUMNS = 'token_id, name, user_id, created_by, created_at, expires_at, revoked_at, last_used_at';

/** Long-lived tokens for scripts, created and revoked by administrators. */
export function registerApiTokenRoutes(router: Router, dependencies: HttpDependencies): void {
  const manageUsers = requirePermission(dependencies, 'manage_users');

  router.get('/api/v1/api-tokens', manageUsers, async (context) => {
    const result = await requireDatabase(dependencies, 'API tokens cannot be read or changed').query<TokenRow>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at`);
    context.body = { tokens: result.rows.map(tokenBody) };
  });

  router.post('/api/v1/api-tokens', manageUsers, async (context) => {
    const body = parseBody(createTokenSchema, context.request.body);
    const database = requireDatabase(dependencies, 'API tokens cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    const owner = await findUser(database, body.user_id);
    if (!owner.active) throw new AdapterError('CONFLICT', `user "${body.user_id}" is deactivated; reactivate it or choose an active user`);

    const { tokenId, token } = generateApiToken();
    const row = await database.transaction(async (tx) => {
      const inserted = await tx.query<TokenRow>(
        `INSERT INTO api_tokens (token_id, name, user_id, token_hash, created_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, CASE WHEN $6::integer IS NULL THEN NULL ELSE now() + make_interval(days => $6::integer) END)
         RETURNING ${TOKEN_COLUMNS}`,
        [tokenId, body.name, owner.user_id, hashApiToken(token), caller.username, body.expires_in_days ?? null],
      );
      await writeAuditEvent(tx, {
        eventType: 'API_TOKEN_CREATED',
        severity: 'HIGH',
        source: 'rest',
        actor: caller.username,
        actorRole: caller.role,
        sourceAddress: context.ip,
        details: { token_id: tokenId, name: body.name, user_id: owner.user_id, role: owner.role },
      });
      return inserted.rows[0];
    });
    if (!row) throw new AdapterError('INTERNAL', 'the token row was not returned after insert');
    context.status = 201;
    // The secret is returned this once; only its digest is stored.
    context.body = { ...tokenBody(row), token };
  });

  router.delete('/api/v1/api-tokens/:id', manageUsers, async (context) => {
    const database = requireDatabase(dependencies, 'API tokens cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    const tokenId = context.params.id ?? '';
    const row = await afterIdentityWrite(dependencies, () => database.transaction(async (tx) => {
      const revoked = await tx.query<TokenRow>(
        `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE token_id = $1 RETURNING ${TOKEN_COLUMNS}`,
        [tokenId],
      );
      const found = revoked.rows[0];
      if (!found) throw new AdapterError('TOKEN_NOT_FOUND', `API token "${tokenId}" not found; GET /api/v1/api-tokens lists them`);
      await writeAuditEvent(tx, {
        eventType: 'API_TOKEN_REVOKED',
        severity: 'MEDIUM',
        source: 'rest',
        actor: caller.username,
        actorRole: caller.role,
        sourceAddress: context.ip,
        details: { token_id: tokenId, name: found.name, user_id: found.user_id },
      });
      return found;
    }));
    context.body = tokenBody(row);
  });
}
