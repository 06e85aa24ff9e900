import { DbaasError } from '../errors.js';
import { roleHas, type Permission, type Role } from './permissions.js';
import { DEFAULT_PROJECT } from './project.js';

/**
 * Who is asking. The CLI run on the host, with the registry and the Docker socket in reach, is
 * the host operator and an admin without a token (DESIGN.md, trust boundaries); everyone else
 * is a token, with a role and, unless an admin, one project.
 */
export type Principal =
  | { kind: 'local'; role: 'admin'; project: null; name: 'local' }
  | { kind: 'token'; tokenId: string; name: string; role: Role; project: string | null }
  /** The caller of a public route (GET /health): no permission, no project. */
  | { kind: 'anonymous'; role: null; project: null; name: 'anonymous' };

export const LOCAL_ADMIN: Principal = { kind: 'local', role: 'admin', project: null, name: 'local' };
export const ANONYMOUS: Principal = { kind: 'anonymous', role: null, project: null, name: 'anonymous' };

export function can(principal: Principal, permission: Permission): boolean {
  return principal.role !== null && roleHas(principal.role, permission);
}

/** Whether an instance of `project` exists for this principal at all (others answer 404, not 403). */
export function sees(principal: Principal, project: string): boolean {
  if (principal.kind === 'anonymous') return false;
  return principal.project === null || principal.project === project;
}

export function forbidden(principal: Principal, permission: Permission): DbaasError {
  return new DbaasError('FORBIDDEN', `the token "${principal.name}" (role ${principal.role}) lacks the permission ${permission}`, {
    permission,
    role: principal.role,
  });
}

/** The project a new instance lands in: the token's own, or the one an admin names. */
export function projectForCreate(principal: Principal, requested: string | undefined): string {
  if (principal.kind === 'anonymous') throw forbidden(principal, 'instances:create');
  if (principal.project === null) return requested ?? DEFAULT_PROJECT;
  if (requested !== undefined && requested !== principal.project) {
    throw new DbaasError('FORBIDDEN', `the token "${principal.name}" belongs to the project ${principal.project} and cannot create in ${requested}`, {
      permission: 'instances:create',
      project: requested,
    });
  }
  return principal.project;
}
