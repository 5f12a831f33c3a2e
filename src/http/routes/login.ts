import type Router from '@koa/router';
import { z } from 'zod';
import { AdapterError } from '../../errors.js';
import { verifyPassword } from '../../auth/passwords.js';
import { writeAuditEvent } from '../../audit/audit-log.js';
import type { HttpDependencies } from '../dependencies.js';
import { parseBody, requestText } from '../validate.js';

const loginSchema = z
  .object({
    username: requestText(128).pipe(z.string().min(1)),
    password: requestText(1024).pipe(z.string().min(1)),
  })
  .strict();

/**
 * A fixed scrypt hash checked when the user does not exist, so that the response time does not
 * reveal which usernames are valid.
 */
const DUMMY_HASH = 'scrypt$32768$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=';

export function registerLoginRoute(router: Router, dependencies: HttpDependencies): void {
  router.post('/api/v1/auth/login', async (context) => {
    const body = parseBody(loginSchema, context.request.body);
    const database = dependencies.getDatabase();
    if (!database) {
      throw new AdapterError('DATABASE_UNAVAILABLE', 'cannot log in while the database is not connected; retry shortly');
    }

    const result = await database.query<{ user_id: string; username: string; role: string; active: boolean; password_hash: string | null }>(
      'SELECT user_id, username, role, active, password_hash FROM users WHERE username = $1',
      [body.username],
    );
    const user = result.rows[0];
    const passwordMatches = await verifyPassword(body.password, user?.password_hash ?? DUMMY_HASH);

    if (!user || !user.active || !passwordMatches) {
      let reason = 'wrong_password';
      if (!user) reason = 'unknown_user';
      else if (!user.active) reason = 'user_deactivated';
      await writeAuditEvent(database, {
        eventType: 'INVALID_AUTHENTICATION',
        severity: 'MEDIUM',
        source: 'rest',
        actor: body.username,
        sourceAddress: context.ip,
        details: { reason },
      });
      throw new AdapterError('INVALID_CREDENTIALS', 'invalid username or password');
    }

    const issued = await dependencies.tokens.issue({ userId: user.user_id, role: user.role });
    await writeAuditEvent(database, {
      eventType: 'LOGIN_SUCCEEDED',
      severity: 'LOW',
      source: 'rest',
      actor: user.username,
      actorRole: user.role,
      sourceAddress: context.ip,
    });
    context.body = { token: issued.token, expires_at: issued.expiresAt.toISOString() };
  });
}
