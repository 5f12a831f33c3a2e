import type { Context, Next } from 'koa';
import { AdapterError } from '../errors.js';
import { roleHasPermission, type Permission } from '../auth/roles.js';
import { writeAuditEvent } from '../audit/audit-log.js';
import type { AuthenticatedUser, HttpDependencies } from './dependencies.js';

/**
 * Requires a valid bearer token and an active user. The user's current role comes from the
 * database on every request, so a deactivated user's token stops working at once.
 */
export function authenticate(dependencies: HttpDependencies) {
  return async (context: Context, next: Next) => {
    const header = context.get('authorization');
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    if (!match?.[1]) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'missing bearer token; send Authorization: Bearer <token> from POST /api/v1/auth/login');
    }
    const claims = await dependencies.tokens.verify(match[1]);

    const user = await readUser(dependencies, claims.userId);
    if (user === 'unreachable') {
      // An emergency stop must stay possible during a database outage, so the signed, short-lived
      // token's claims stand in for the user row until the database returns.
      // NOTE: a user deactivated during the outage keeps access until the database returns or the token expires.
      (context.state.log as typeof dependencies.logger | undefined)?.warning({ user_id: claims.userId }, 'database unreachable; authorizing from token claims');
      context.state.user = { userId: claims.userId, username: claims.userId, role: claims.role } satisfies AuthenticatedUser;
      await next();
      return;
    }
    if (!user?.active) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'user is deactivated or no longer exists; log in with an active account');
    }
    const authenticated: AuthenticatedUser = { userId: user.user_id, username: user.username, role: user.role };
    context.state.user = authenticated;
    await next();
  };
}

async function readUser(dependencies: HttpDependencies, userId: string) {
  const database = dependencies.getDatabase();
  if (!database) return 'unreachable';
  try {
    const result = await database.query<{ user_id: string; username: string; role: string; active: boolean }>(
      'SELECT user_id, username, role, active FROM users WHERE user_id = $1',
      [userId],
    );
    return result.rows[0];
  } catch (error) {
    dependencies.logger.error({ err: error, user_id: userId }, 'reading the user failed');
    return 'unreachable';
  }
}

/** Requires one named permission of the authenticated user's role. */
export function requirePermission(dependencies: HttpDependencies, permission: Permission) {
  return async (context: Context, next: Next) => {
    const user = context.state.user as AuthenticatedUser | undefined;
    if (!user || !roleHasPermission(user.role, permission)) {
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
