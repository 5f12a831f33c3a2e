import type { Context, Next } from 'koa';
import { AdapterError } from '../errors.js';
import { DEFAULT_ROLE_PERMISSIONS, type Permission, type Role } from '../auth/roles.js';
import { isApiToken, resolveApiToken } from '../auth/api-tokens.js';
import type { UserIdentity } from '../auth/credentials.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { AuthenticatedUser, HttpDependencies } from './dependencies.js';

/**
 * Requires a valid bearer token (a login JWT or an API token) and an active user. The user's role
 * and its permissions come from the database on every request, so a deactivated user's token, or a
 * permission taken from a role, stops working at once.
 */
export function authenticate(dependencies: HttpDependencies) {
  const lastKnownPermissions = new Map<string, readonly Permission[]>();

  return async (context: Context, next: Next) => {
    const header = context.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'missing bearer token; send Authorization: Bearer <token> from POST /api/v1/auth/login');
    }
    const bearer = match[1];

    if (isApiToken(bearer)) {
      // API tokens are only in the database, so there is nothing to fall back on when it is down.
      const database = dependencies.getDatabase();
      if (!database) throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot check an API token while the database is not connected; retry shortly');
      const resolved = await resolveApiToken(database, bearer);
      if (!resolved) throw new AdapterError('AUTHENTICATION_REQUIRED', 'API token unknown, revoked or expired; ask an administrator for a new one');
      const identity = await dependencies.credentials.currentIdentity(resolved.userId);
      if (!identity) throw new AdapterError('AUTHENTICATION_REQUIRED', 'the API token belongs to a deactivated user; ask an administrator for a new one');
      lastKnownPermissions.set(identity.role, identity.permissions);
      context.state.user = { ...identity, tokenId: resolved.tokenId } satisfies AuthenticatedUser;
      await next();
      return;
    }

    const claims = await dependencies.tokens.verify(bearer);
    let identity: UserIdentity | null;
    try {
      identity = await dependencies.credentials.currentIdentity(claims.userId);
    } catch (error) {
      // An emergency stop must stay possible during a database outage, so the signed, short-lived
      // token's claims stand in for the user row until the database returns, with the role's
      // permissions as last read.
      // NOTE: a user deactivated during the outage keeps access until the database returns or the token expires.
      const log = context.state.log as typeof dependencies.logger | undefined;
      log?.warning({ err: error, user_id: claims.userId }, 'user table unreadable; authorizing from token claims');
      const permissions = lastKnownPermissions.get(claims.role) ?? (DEFAULT_ROLE_PERMISSIONS as Partial<Record<string, readonly Permission[]>>)[claims.role as Role] ?? [];
      context.state.user = { userId: claims.userId, username: claims.userId, role: claims.role, permissions, tokenId: null } satisfies AuthenticatedUser;
      await next();
      return;
    }
    if (!identity) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'user is deactivated or no longer exists; log in with an active account');
    }
    lastKnownPermissions.set(identity.role, identity.permissions);
    context.state.user = { ...identity, tokenId: null } satisfies AuthenticatedUser;
    await next();
  };
}

/** Requires one named permission of the authenticated user's role; a refusal is audited. */
export function requirePermission(dependencies: HttpDependencies, permission: Permission) {
  return async (context: Context, next: Next) => {
    const user = context.state.user as AuthenticatedUser | undefined;
    if (!user?.permissions.includes(permission)) {
      const database = dependencies.getDatabase();
      if (database && user) {
        await writeAuditEvent(database, {
          eventType: 'ACCESS_DENIED',
          severity: 'MEDIUM',
          source: 'rest',
          actor: user.username,
          actorRole: user.role,
          sourceAddress: context.ip,
          details: { method: context.method, path: context.path, permission },
        }).catch((error: unknown) => dependencies.logger.error({ err: error }, 'writing the ACCESS_DENIED audit row failed'));
      }
      throw new AdapterError('FORBIDDEN', `role ${user?.role ?? '(none)'} lacks permission ${permission}`, { details: { permission } });
    }
    await next();
  };
}
