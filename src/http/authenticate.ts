import type { Context, Next } from 'koa';
import { AdapterError } from '../errors.js';
import { DEFAULT_ROLE_PERMISSIONS, type Permission, type Role } from '../auth/roles.js';
import { isApiToken } from '../auth/api-tokens.js';
import type { UserIdentity } from '../auth/credentials.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { AuthenticatedUser, HttpDependencies } from './dependencies.js';
import { withDeadline } from '../db/with-deadline.js';

/**
 * How long a request waits for the user row before it is authorized from what was last read.
 * Short, because an emergency stop waits behind it.
 */
const IDENTITY_DEADLINE_MS = 500;

/**
 * Requires a valid bearer token (a login JWT or an API token) and an active user. The user's role
 * and permissions are cached, and every write to users, roles or API tokens marks the cache stale
 * (see IdentityCache). So a deactivated user's token, or a permission taken from a role, stops
 * working at once, and an emergency stop does not wait for a database read.
 */
export function authenticate(dependencies: HttpDependencies) {
  const { credentials } = dependencies;
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
      if (!dependencies.getDatabase()) throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot check an API token while the database is not connected; retry shortly');
      const grant = await withDeadline(credentials.resolveApiToken(bearer), IDENTITY_DEADLINE_MS, 'checking the API token');
      if (!grant) throw new AdapterError('AUTHENTICATION_REQUIRED', 'API token unknown, revoked or expired; ask an administrator for a new one');
      const identity = credentials.freshIdentity(grant.userId) ?? (await withDeadline(credentials.currentIdentity(grant.userId), IDENTITY_DEADLINE_MS, 'reading the user'));
      if (!identity) throw new AdapterError('AUTHENTICATION_REQUIRED', 'the API token belongs to a deactivated user; ask an administrator for a new one');
      lastKnownPermissions.set(identity.role, identity.permissions);
      context.state.user = { ...identity, tokenId: grant.tokenId } satisfies AuthenticatedUser;
      await next();
      return;
    }

    const claims = await dependencies.tokens.verify(bearer);
    let identity: UserIdentity | null | undefined = credentials.freshIdentity(claims.userId);
    if (identity === undefined) {
      try {
        identity = await withDeadline(credentials.currentIdentity(claims.userId), IDENTITY_DEADLINE_MS, 'reading the user');
      } catch (error) {
        // An emergency stop must stay possible during a database outage, so the user is authorized
        // from the identity last read for them, or from the signed, short-lived token's claims when
        // this process has not read them yet. The last-read identity wins, so a user demoted before
        // the outage does not regain the old role from an older token.
        // NOTE: a user deactivated or demoted during the outage keeps that access until the database returns or the token expires.
        const log = context.state.log as typeof dependencies.logger | undefined;
        const known = credentials.lastKnownIdentity(claims.userId);
        log?.warning({ err: error, user_id: claims.userId, from: known ? 'last read' : 'token claims' }, 'user table unreadable; authorizing from what was last known');
        if (known) {
          context.state.user = { ...known, tokenId: null } satisfies AuthenticatedUser;
        } else {
          const permissions = lastKnownPermissions.get(claims.role) ?? (DEFAULT_ROLE_PERMISSIONS as Partial<Record<string, readonly Permission[]>>)[claims.role as Role] ?? [];
          context.state.user = { userId: claims.userId, username: claims.userId, role: claims.role, permissions, tokenId: null } satisfies AuthenticatedUser;
        }
        await next();
        return;
      }
    }
    if (!identity) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'user is deactivated or no longer exists; log in with an active account');
    }
    if (identity.tokensValidAfter && (claims.issuedAtMs ?? 0) < identity.tokensValidAfter.getTime()) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'token issued before the password changed or the account was deactivated; log in again');
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
