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

/** Default permissions of each role. */
export const DEFAULT_ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  viewer: ['read_pump_status'],
  operator: ['read_pump_status', 'emergency_stop', 'clear_emergency_stop'],
  engineer: ['read_pump_status', 'emergency_stop', 'clear_emergency_stop', 'manage_setpoints', 'view_audit_log'],
  administrator: PERMISSIONS,
};

export function roleHasPermission(role: string, permission: Permission): boolean {
  return (DEFAULT_ROLE_PERMISSIONS as Record<string, readonly Permission[] | undefined>)[role]?.includes(permission) ?? false;
}
