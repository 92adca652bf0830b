// Roles and rights of HES users (docs/HOST.md "Roles"): the one table of who may do what, used by
// the CLI and the HTTP API alike. Identity comes from authentication (users.ts: password or token);
// the HES checks rights and audits every refusal.

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const RIGHTS = ['view', 'read', 'config', 'clock', 'relay', 'firmware', 'key_update', 'import', 'users'] as const;
export type Right = (typeof RIGHTS)[number];

const GRANTS: Record<Role, readonly Right[]> = {
  viewer: ['view'],
  operator: ['view', 'read', 'config', 'clock'],
  admin: ['view', 'read', 'config', 'clock', 'relay', 'firmware', 'key_update', 'import', 'users'],
};

/** True when the role holds the right. */
export function roleHas(role: Role, right: Right): boolean {
  return GRANTS[role].includes(right);
}

/** The lower of two roles (ROLES is ordered viewer < operator < admin): a token scoped below its user's role. */
export function lowerRole(a: Role, b: Role): Role {
  return ROLES.indexOf(a) <= ROLES.indexOf(b) ? a : b;
}

/** Every right of a role (what the console shows buttons for). */
export function rightsOf(role: Role): readonly Right[] {
  return GRANTS[role];
}

/** True for one of the role names. */
export function isRole(s: string): s is Role {
  return (ROLES as readonly string[]).includes(s);
}

/** Thrown when an actor lacks a right; the HES has already audited the refusal. */
export class PermissionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PermissionError';
  }
}
