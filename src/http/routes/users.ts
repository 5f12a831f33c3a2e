import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import { z } from 'zod';
import { writeAuditEvent } from '../../audit/audit-log.js';
import { hashPassword } from '../../auth/passwords.js';
import { ROLES } from '../../auth/roles.js';
import { AdapterError } from '../../errors.js';
import { passwordProblem } from '../../users/password-policy.js';
import { findUser, insertUser, listUsers, newUserId, withAdministratorGuard } from '../../users/user-store.js';
import { requirePermission } from '../authenticate.js';
import { requireDatabase } from '../require-database.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { afterIdentityWrite } from '../identity-writes.js';
import { parseBody, requestText } from '../validate.js';

const usernameSchema = requestText(64).pipe(
  z.string().regex(/^[A-Za-z0-9._@-]{3,64}$/, 'use 3 to 64 letters, digits, dots, dashes, underscores or @'),
);
const roleSchema = z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` });
const emailSchema = requestText(254).pipe(z.email('must be an email address such as user@example.com'));

export const createUserSchema = z
  .object({
    username: usernameSchema,
    role: roleSchema,
    email: emailSchema.optional(),
    full_name: requestText(200).optional(),
    password: requestText(1024).optional(),
  })
  .strict();

export const updateUserSchema = z
  .object({
    role: roleSchema.optional(),
    email: emailSchema.nullable().optional(),
    full_name: requestText(200).nullable().optional(),
    password: requestText(1024).optional(),
    /** true reactivates a deactivated user; deactivation is DELETE. */
    active: z.literal(true, { error: 'only true is accepted; deactivate with DELETE /api/v1/users/:id' }).optional(),
    /** true lifts a lockout after failed logins before it expires. */
    unlock: z.literal(true, { error: 'only true is accepted' }).optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'send at least one of role, email, full_name, password, active, unlock');


function checkPassword(password: string, username: string, dependencies: HttpDependencies): void {
  const problem = passwordProblem(password, username, dependencies.security);
  if (problem) {
    throw new AdapterError('VALIDATION_FAILED', `invalid field password: ${problem}`, { details: { invalid_params: [{ name: 'password', reason: problem }] } });
  }
}

export function registerUserRoutes(router: Router, dependencies: HttpDependencies): void {
  const manageUsers = requirePermission(dependencies, 'manage_users');

  router.get('/api/v1/users', manageUsers, async (context) => {
    context.body = { users: await listUsers(requireDatabase(dependencies, 'users cannot be read or changed')) };
  });

  router.get('/api/v1/users/:id', manageUsers, async (context) => {
    context.body = await findUser(requireDatabase(dependencies, 'users cannot be read or changed'), context.params.id ?? '');
  });

  router.post('/api/v1/users', manageUsers, async (context) => {
    const body = parseBody(createUserSchema, context.request.body);
    const database = requireDatabase(dependencies, 'users cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    // Without a password in the request, a random one is generated and shown once in the response.
    const generated = body.password === undefined ? randomBytes(15).toString('base64url') : null;
    const password = body.password ?? generated ?? '';
    checkPassword(password, body.username, dependencies);

    const passwordHash = await hashPassword(password);
    // The change and its audit row commit together or not at all.
    const user = await database.transaction(async (tx) => {
      const inserted = await insertUser(tx, {
        userId: newUserId(),
        username: body.username,
        role: body.role,
        email: body.email ?? null,
        fullName: body.full_name ?? null,
        passwordHash,
      });
      await writeAuditEvent(tx, {
        eventType: 'USER_CREATED',
        severity: 'HIGH',
        source: 'rest',
        actor: caller.username,
        actorRole: caller.role,
        sourceAddress: context.ip,
        details: { user_id: inserted.user_id, username: inserted.username, role: inserted.role },
      });
      return inserted;
    });
    context.status = 201;
    context.set('Location', `/api/v1/users/${user.user_id}`);
    context.body = generated ? { ...user, initial_password: generated } : user;
  });

  router.patch('/api/v1/users/:id', manageUsers, async (context) => {
    const body = parseBody(updateUserSchema, context.request.body);
    const database = requireDatabase(dependencies, 'users cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    const userId = context.params.id ?? '';
    const existing = await findUser(database, userId);
    if (body.password !== undefined) checkPassword(body.password, existing.username, dependencies);
    const passwordHash = body.password === undefined ? null : await hashPassword(body.password);

    await afterIdentityWrite(dependencies, () => withAdministratorGuard(database, async (tx) => {
      // The users_end_sessions trigger ends the user's login tokens when password_hash changes.
      await tx.query(
        `UPDATE users SET
           role = COALESCE($2, role),
           email = CASE WHEN $3::boolean THEN $4 ELSE email END,
           full_name = CASE WHEN $5::boolean THEN $6 ELSE full_name END,
           password_hash = COALESCE($7, password_hash),
           active = active OR $8::boolean,
           deactivated_at = CASE WHEN $8::boolean THEN NULL ELSE deactivated_at END,
           locked_until = CASE WHEN $9::boolean THEN NULL ELSE locked_until END,
           failed_login_count = CASE WHEN $9::boolean THEN 0 ELSE failed_login_count END,
           updated_at = now()
         WHERE user_id = $1`,
        [
          userId,
          body.role ?? null,
          body.email !== undefined,
          body.email ?? null,
          body.full_name !== undefined,
          body.full_name ?? null,
          passwordHash,
          body.active === true,
          body.unlock === true,
        ],
      );
      const changed = Object.keys(body);
      await writeAuditEvent(tx, {
        eventType: body.unlock && changed.length === 1 ? 'ACCOUNT_UNLOCKED' : 'USER_UPDATED',
        severity: body.role || body.password || body.active ? 'HIGH' : 'MEDIUM',
        source: 'rest',
        actor: caller.username,
        actorRole: caller.role,
        sourceAddress: context.ip,
        details: { user_id: userId, changed, role: body.role ?? existing.role },
      });
    }));
    context.body = await findUser(database, userId);
  });

  router.delete('/api/v1/users/:id', manageUsers, async (context) => {
    const database = requireDatabase(dependencies, 'users cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    const userId = context.params.id ?? '';
    const existing = await findUser(database, userId);
    if (existing.active) {
      await afterIdentityWrite(dependencies, () => withAdministratorGuard(database, async (tx) => {
        // The users_end_sessions and users_revoke_api_tokens triggers end the user's login tokens and revoke the API tokens.
        await tx.query(`UPDATE users SET active = false, deactivated_at = now(), updated_at = now() WHERE user_id = $1`, [userId]);
        await writeAuditEvent(tx, {
          eventType: 'USER_DEACTIVATED',
          severity: 'HIGH',
          source: 'rest',
          actor: caller.username,
          actorRole: caller.role,
          sourceAddress: context.ip,
          details: { user_id: userId, username: existing.username, role: existing.role },
        });
      }));
    }
    context.body = await findUser(database, userId);
  });
}
