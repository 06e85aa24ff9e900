import { z } from 'zod';

/**
 * What a token may do: permissions, and the four roles as sets of them. Every route declares the
 * one permission it needs (src/api/routeTable.ts); this table is the only place that says which
 * role holds which permission, so the README's roles table and the permission tests read it.
 */
export const PERMISSIONS = [
  'instances:read', // list, info without secrets, logs, stats, connection without the password
  'instances:secrets', // the application password (connection strings with it)
  'instances:create',
  'instances:update', // resize, settings, start, stop, restart, the agent
  'instances:delete',
  'data:read', // the data API's reads (tables, rows)
  'data:write', // the data API's writes, DDL and SQL
  'metrics:read',
  'backups:read', // backups, their status and schedule, operations
  'backups:create', // take and verify backups, set schedules
  'backups:restore', // restore and clone
  'backups:delete',
  'system:admin', // the doctor, tokens, the audit log: the whole installation
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ['admin', 'owner', 'developer', 'viewer'] as const;
export const RoleSchema = z.enum(ROLES).meta({ description: 'admin, owner, developer or viewer' });
export type Role = (typeof ROLES)[number];

const VIEWER: Permission[] = ['instances:read', 'data:read', 'metrics:read', 'backups:read'];
const DEVELOPER: Permission[] = [...VIEWER, 'instances:secrets', 'data:write'];
const OWNER: Permission[] = [
  ...DEVELOPER,
  'instances:create',
  'instances:update',
  'instances:delete',
  'backups:create',
  'backups:restore',
  'backups:delete',
];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  owner: new Set(OWNER),
  developer: new Set(DEVELOPER),
  viewer: new Set(VIEWER),
};

/** What each role is for, in the words of the README's roles table and `dbaas token create --help`. */
export const ROLE_SUMMARY: Record<Role, string> = {
  admin: 'everything, in every project: tokens, the audit log, the doctor',
  owner: "create, resize, delete, back up and restore the project's instances; read their passwords; write data",
  developer: 'data API reads and writes, connection strings with the password, metrics; no create, delete, resize or restore',
  viewer: 'list, info without secrets, metrics, data API reads',
};

export function roleHas(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].has(permission);
}
