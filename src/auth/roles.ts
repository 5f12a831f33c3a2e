/** Permissions that endpoints check. Each endpoint names exactly one. */
export const PERMISSIONS = [
  'read_pump_status',
  'emergency_stop',
  'clear_emergency_stop',
  'manage_setpoints',
  'manage_users',
  'manage_roles',
  'view_audit_log',
  'manage_backups',
] as const;

export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['viewer', 'operator', 'engineer', 'administrator'] as const;
export type Role = (typeof ROLES)[number];

/** Permissions each role has in a new database; `PUT /api/v1/roles/:role` changes them at run time. */
export const DEFAULT_ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ['read_pump_status'],
  operator: ['read_pump_status', 'emergency_stop', 'clear_emergency_stop'],
  engineer: ['read_pump_status', 'emergency_stop', 'clear_emergency_stop', 'manage_setpoints', 'view_audit_log'],
  administrator: PERMISSIONS,
};

export function isPermission(value: string): value is Permission {
  return (PERMISSIONS as readonly string[]).includes(value);
}

/** Keeps the known permissions of a stored list; a role row never grants a name the code does not check. */
export function toPermissions(stored: readonly string[] | null | undefined): Permission[] {
  return (stored ?? []).filter(isPermission);
}
