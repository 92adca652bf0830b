// Rights: users and their roles in the store, the cap an API token puts on its user's role for the
// call in progress (AsyncLocalStorage: concurrent requests never see each other's cap), and the
// audited refusal.
import { AsyncLocalStorage } from 'node:async_hooks';
import { roleHas, isRole, lowerRole, PermissionError } from './roles.ts';
import type { Role, Right } from './roles.ts';
import { nameProblem, printable, MAX_NAME_LEN } from '../cli/text.ts';
import { HesError } from './constants.ts';
import type { HesStore } from './store/types.ts';

/** A cap on one user's role: the credential in use may not do more than this role. */
export interface RoleCap {
  user: string;
  role: Role;
}

export class Access {
  private readonly calls = new AsyncLocalStorage<RoleCap>();
  /** A cap for the whole process (a CLI process acts as one principal); set by users.ts actAs(). */
  processCap: RoleCap | undefined;

  constructor(private readonly store: HesStore) {}

  /** Runs fn with rights checked for cap (it and every call it awaits). */
  withCap<T>(cap: RoleCap, fn: () => T): T {
    return this.calls.run(cap, fn);
  }

  /** Role of a user (capped by the credential in use), or undefined. */
  async roleOf(user: string): Promise<Role | undefined> {
    const r = await this.store.userRole(user);
    const role = r !== undefined && isRole(r) ? r : undefined;
    const cap = this.calls.getStore() ?? this.processCap;
    return role !== undefined && cap !== undefined && cap.user === user ? lowerRole(role, cap.role) : role;
  }

  /** Throws PermissionError (after auditing the refusal) unless the actor holds the right. */
  async require(actor: string, right: Right, subject: string): Promise<void> {
    const role = await this.roleOf(actor);
    if (role !== undefined && roleHas(role, right)) return;
    await this.store.appendAudit([
      { actor, action: 'policy.denied', subject, detail: { right, role: role ?? 'unknown user' }, tsMs: Date.now() },
    ]);
    const who = printable(actor, MAX_NAME_LEN);
    throw new PermissionError(role === undefined ? `unknown user "${who}"` : `user "${who}" (${role}) lacks the right "${right}"`);
  }

  /** Adds or changes a user (right: users). */
  async setUser(actor: string, name: string, role: Role): Promise<void> {
    await this.require(actor, 'users', printable(name, MAX_NAME_LEN));
    const bad = nameProblem(name, 'user name');
    if (bad !== null) throw new HesError(bad);
    if (!isRole(role)) throw new HesError(`unknown role ${printable(String(role), MAX_NAME_LEN)}`);
    const now = Date.now();
    await this.store.setUser(name, role, now, [{ actor, action: 'user.set', subject: name, detail: { role }, tsMs: now }]);
  }
}
