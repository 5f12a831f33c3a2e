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

    const database = dependencies.getDatabase();
    if (!database) {
      throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot check the user while the database is not connected; retry shortly');
    }
    const result = await database.query<{ user_id: string; username: string; role: string; active: boolean }>(
      'SELECT user_id, username, role, active FROM users WHERE user_id = $1',
      [claims.userId],
    );
    const user = result.rows[0];
    if (!user?.active) {
      throw new AdapterError('AUTHENTICATION_REQUIRED', 'user is deactivated or no longer exists; log in with an active account');
    }
    const authenticated: AuthenticatedUser = { userId: user.user_id, username: user.username, role: user.role };
    context.state.user = authenticated;
    await next();
  };
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
