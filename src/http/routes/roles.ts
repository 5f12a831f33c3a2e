import type Router from '@koa/router';
import { z } from 'zod';
import { writeAuditEvent } from '../../audit/audit-log.js';
import { PERMISSIONS, ROLES, isPermission, toPermissions, type Permission } from '../../auth/roles.js';
import type { Queryable } from '../../db/database.js';
import { AdapterError } from '../../errors.js';
import { requirePermission } from '../authenticate.js';
import { requireDatabase } from '../require-database.js';
import type { AuthenticatedUser, HttpDependencies } from '../dependencies.js';
import { afterIdentityWrite } from '../identity-writes.js';
import { parseBody } from '../validate.js';

export const rolePermissionsSchema = z
  .object({
    permissions: z.array(z.string().max(64)).max(PERMISSIONS.length * 2),
  })
  .strict();

/** Without these the administrator role could lock every administrator out of user and role management. */
const ADMINISTRATOR_REQUIRED: readonly Permission[] = ['manage_users', 'manage_roles'];


async function readRoles(database: Queryable) {
  const result = await database.query<{ role: string; permissions: string[]; updated_at: Date }>('SELECT role, permissions, updated_at FROM roles');
  const order = (role: string) => (ROLES as readonly string[]).indexOf(role);
  return result.rows
    .sort((a, b) => order(a.role) - order(b.role))
    .map((row) => ({ role: row.role, permissions: toPermissions(row.permissions), updated_at: row.updated_at.toISOString() }));
}

export function registerRoleRoutes(router: Router, dependencies: HttpDependencies): void {
  const manageRoles = requirePermission(dependencies, 'manage_roles');

  router.get('/api/v1/roles', manageRoles, async (context) => {
    context.body = { roles: await readRoles(requireDatabase(dependencies, 'roles cannot be read or changed')), permissions: PERMISSIONS };
  });

  router.put('/api/v1/roles/:role', manageRoles, async (context) => {
    const role = context.params.role ?? '';
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new AdapterError('ROLE_NOT_FOUND', `role "${role}" not found; roles are ${ROLES.join(', ')}`, { details: { role } });
    }
    const body = parseBody(rolePermissionsSchema, context.request.body);
    const unknown = body.permissions.filter((permission) => !isPermission(permission));
    if (unknown.length > 0) {
      throw new AdapterError('VALIDATION_FAILED', `invalid field permissions: unknown ${unknown.map((each) => `"${each}"`).join(', ')}; valid permissions are ${PERMISSIONS.join(', ')}`, {
        details: { invalid_params: [{ name: 'permissions', reason: `unknown: ${unknown.join(', ')}` }], valid_permissions: PERMISSIONS },
      });
    }
    const permissions = PERMISSIONS.filter((permission) => body.permissions.includes(permission));
    if (role === 'administrator') {
      const missing = ADMINISTRATOR_REQUIRED.filter((permission) => !permissions.includes(permission));
      if (missing.length > 0) {
        throw new AdapterError('CONFLICT', `the administrator role must keep ${missing.join(' and ')}, or nobody could manage users and roles again`);
      }
    }

    const database = requireDatabase(dependencies, 'roles cannot be read or changed');
    const caller = context.state.user as AuthenticatedUser;
    await afterIdentityWrite(dependencies, () => database.transaction(async (tx) => {
      const previous = await tx.query<{ permissions: string[] }>('SELECT permissions FROM roles WHERE role = $1 FOR UPDATE', [role]);
      await tx.query('UPDATE roles SET permissions = $2, updated_at = now() WHERE role = $1', [role, permissions]);
      await writeAuditEvent(tx, {
        eventType: 'ROLE_PERMISSIONS_CHANGED',
        severity: 'HIGH',
        source: 'rest',
        actor: caller.username,
        actorRole: caller.role,
        sourceAddress: context.ip,
        details: { role, previous: previous.rows[0]?.permissions ?? [], permissions },
      });
    }));
    context.body = (await readRoles(database)).find((each) => each.role === role);
  });
}
