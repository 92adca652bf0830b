// Operators who log in (docs/HOST.md "Operators and authentication"): password hashes (scrypt),
// API tokens and browser sessions (stored as SHA-256 hashes, scoped to a role, revocable, expiring),
// and a rate limit on failed logins. Lives in the HES store (store/types.ts, users section); every
// change and every refusal is written to the HES audit log, never a password or a token.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Hes } from './hes.ts';
import type { HesStore, TokenRow } from './store/types.ts';
import { ROLES, isRole, lowerRole } from './roles.ts';
import type { Role, Right } from './roles.ts';

/** scrypt cost: N = 2^15, r = 8, p = 1 (32 MiB, ~50–100 ms here): RFC 7914's interactive-login figure, OWASP's minimum tier. */
export const SCRYPT = { logN: 15, r: 8, p: 1, saltLen: 16, keyLen: 32 } as const;
const SCRYPT_MAXMEM = 64 * 1024 * 1024;
/** Failed logins of one name within FAILURE_WINDOW_MS before the name is locked for LOCK_MS. */
export const MAX_FAILURES = 5;
export const FAILURE_WINDOW_MS = 15 * 60_000;
export const LOCK_MS = 15 * 60_000;
export const MIN_PASSWORD = 10;
const MAX_PASSWORD = 1024;
export const SESSION_MS = 12 * 3600_000;
export const DEFAULT_TOKEN_MS = 90 * 86400_000;
/** Token text: `vakt_` ‖ 16 hex digits of id ‖ `_` ‖ 43 base64url characters (32 random bytes). */
const TOKEN_RE = /^vakt_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
/** User names: lower-case, start with a letter, printable ASCII only (no control characters). */
export const USER_NAME_RE = /^[a-z][a-z0-9._-]{0,31}$/;

const INVALID_NAME = '(invalid name)';
const ANONYMOUS = '(anonymous)';

/** Who is acting: a user, the role this credential may use (token scope ∧ user role), and the credential. */
export interface Principal {
  user: string;
  role: Role;
  tokenId: string | null;
  via: 'password' | 'api' | 'session' | 'login';
}

/** Token kinds: 'api' (bearer, scripts), 'session' (browser cookie), 'login' (one-time: exchanged once for a session). */
export type TokenKind = 'api' | 'session' | 'login';

/** A refused login or credential: HTTP 401, CLI exit 1. The message never contains the secret. */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Thrown for bad input to user management (name, password, expiry): HTTP 400, CLI usage error. */
export class UserInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserInputError';
  }
}

/** C0 controls and DEL (terminal escapes, NUL, newlines): refused in passwords and labels. */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function checkUserName(name: string): string {
  if (!USER_NAME_RE.test(name))
    throw new UserInputError(`user name must be 1–32 of a-z 0-9 . _ - starting with a letter, got ${JSON.stringify(name.slice(0, 40))}`);
  return name;
}

export function checkPassword(pw: string): string {
  if (pw.length < MIN_PASSWORD) throw new UserInputError(`password must have at least ${MIN_PASSWORD} characters`);
  if (pw.length > MAX_PASSWORD) throw new UserInputError(`password must have at most ${MAX_PASSWORD} characters`);
  if (hasControlChar(pw)) throw new UserInputError('password must not contain control characters');
  return pw;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** `scrypt$logN$r$p$salt$key` (base64). */
export async function hashPassword(pw: string): Promise<string> {
  const salt = randomBytes(SCRYPT.saltLen);
  const key = await scryptAsync(pw, salt, SCRYPT.keyLen, SCRYPT.logN, SCRYPT.r, SCRYPT.p);
  return ['scrypt', SCRYPT.logN, SCRYPT.r, SCRYPT.p, salt.toString('base64'), key.toString('base64')].join('$');
}

function scryptAsync(pw: string, salt: Buffer, len: number, logN: number, r: number, p: number): Promise<Buffer> {
  return new Promise((res, rej) => scrypt(pw, salt, len, { N: 2 ** logN, r, p, maxmem: SCRYPT_MAXMEM }, (e, k) => (e ? rej(e) : res(k))));
}

/** Constant-time check of a password against a stored hash (an unparsable hash never matches). */
export async function verifyPassword(pw: string, stored: string): Promise<boolean> {
  const f = stored.split('$');
  if (f.length !== 6 || f[0] !== 'scrypt') return false;
  const [logN, r, p] = [Number(f[1]), Number(f[2]), Number(f[3])];
  if (!(logN >= 10 && logN <= 20 && r >= 1 && r <= 32 && p >= 1 && p <= 4)) return false;
  const want = Buffer.from(f[5]!, 'base64');
  const got = await scryptAsync(pw, Buffer.from(f[4]!, 'base64'), want.length, logN, r, p);
  return want.length === got.length && timingSafeEqual(want, got);
}

/** A hash no password matches, verified for unknown users so that their refusal takes as long. */
const DUMMY_HASH = [
  'scrypt',
  SCRYPT.logN,
  SCRYPT.r,
  SCRYPT.p,
  Buffer.alloc(16).toString('base64'),
  scryptSync('\u0000', Buffer.alloc(16), 32, { N: 2 ** SCRYPT.logN, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT_MAXMEM }).toString('base64'),
].join('$');

export interface TokenInfo {
  id: string;
  user: string;
  role: Role;
  kind: string;
  label: string;
  createdMs: number;
  expiresMs: number;
  revokedMs: number | null;
  lastUsedMs: number | null;
}

/** A session as opened for a browser: the principal, the session token (cookie), the CSRF token. */
export interface Session {
  principal: Principal;
  token: string;
  csrf: string;
  expiresMs: number;
}

/** Users, credentials and logins of one HES store. */
export class Users {
  readonly hes: Hes;
  private readonly store: HesStore;

  constructor(hes: Hes) {
    this.hes = hes;
    this.store = hes.store;
  }

  /** Runs fn (and everything it awaits) with the HES checking rights for p (its token's scope caps its user's role). */
  asPrincipal<T>(p: Principal, fn: () => T): T {
    return this.hes.withRoleCap({ user: p.user, role: p.role }, fn);
  }

  /** From now on this HES handle checks rights for p (a CLI process runs as one principal); returns p.user, the actor name. */
  actAs(p: Principal): string {
    this.hes.processRoleCap = { user: p.user, role: p.role };
    return p.user;
  }

  /** Throws PermissionError (audited by the HES) unless p holds the right. */
  require(p: Principal, right: Right, subject: string): Promise<void> {
    return this.asPrincipal(p, () => this.hes.require(p.user, right, subject));
  }

  list(): Promise<{ name: string; role: Role; createdMs: number; password: boolean; tokens: number }[]> {
    return this.store.listUsers(Date.now());
  }

  /** Adds a user or changes its role (right: users), optionally with a password. */
  async add(actor: Principal, name: string, role: Role, password?: string): Promise<void> {
    checkUserName(name);
    if (!isRole(role)) throw new UserInputError(`role must be one of ${ROLES.join(', ')}`);
    const hash = password === undefined ? undefined : await hashPassword(checkPassword(password));
    await this.asPrincipal(actor, () => this.hes.setUser(actor.user, name, role));
    if (hash !== undefined) await this.storePassword(actor, name, hash);
  }

  /** Sets a user's password: an admin for anyone, every user for itself. */
  async setPassword(actor: Principal, name: string, password: string): Promise<void> {
    checkPassword(password);
    if (actor.user !== name) await this.require(actor, 'users', name);
    else await this.require(actor, 'view', name);
    if ((await this.hes.roleOf(name)) === undefined) throw new UserInputError(`no user ${name}`);
    await this.storePassword(actor, name, await hashPassword(password));
  }

  private storePassword(actor: Principal, name: string, hash: string): Promise<void> {
    const now = Date.now();
    return this.store.setPassword(name, hash, now, [{ actor: actor.user, action: 'user.password', subject: name, detail: {}, tsMs: now }]);
  }

  /**
   * Issues an API token for a user (right: users; or a user for itself, at most its own role).
   * The token text is returned once; only its SHA-256 is stored.
   */
  async createToken(
    actor: Principal | 'init',
    name: string,
    o: { role?: Role; ttlMs?: number; label?: string; nowMs?: number; oneTime?: boolean } = {},
  ): Promise<{ id: string; token: string; role: Role; expiresMs: number }> {
    const userRole = await this.hes.roleOf(name);
    if (userRole === undefined) throw new UserInputError(`no user ${name}`);
    if (actor !== 'init') {
      if (actor.user !== name) await this.require(actor, 'users', name);
      else await this.require(actor, 'view', name);
    }
    const role = lowerRole(o.role ?? userRole, actor === 'init' || actor.user !== name ? userRole : actor.role);
    const ttl = o.ttlMs ?? DEFAULT_TOKEN_MS;
    if (!(Number.isSafeInteger(ttl) && ttl > 0 && ttl <= 3650 * 86400_000))
      throw new UserInputError('token lifetime must be between 1 ms and 10 years');
    const label = o.label ?? '';
    if (label.length > 64 || hasControlChar(label)) throw new UserInputError('token label must be at most 64 printable characters');
    const now = o.nowMs ?? Date.now();
    const kind: TokenKind = o.oneTime === true ? 'login' : 'api';
    const { id, token } = await this.insertToken(name, role, kind, label, now, now + ttl, null, (tokenId) => [
      {
        actor: actor === 'init' ? name : actor.user,
        action: 'token.create',
        subject: name,
        detail: { id: tokenId, role, kind, expiresMs: now + ttl, label },
        tsMs: now,
      },
    ]);
    return { id, token, role, expiresMs: now + ttl };
  }

  private async insertToken(
    user: string,
    role: Role,
    kind: TokenKind,
    label: string,
    now: number,
    expires: number,
    csrf: string | null,
    audit: (id: string) => { actor: string; action: string; subject: string; detail: unknown; tsMs: number }[] = () => [],
  ): Promise<{ id: string; token: string }> {
    const id = randomBytes(8).toString('hex');
    const token = `vakt_${id}_${randomBytes(32).toString('base64url')}`;
    const row: TokenRow = {
      id,
      user,
      role,
      kind,
      hash: sha256(token),
      csrfHash: csrf === null ? null : sha256(csrf),
      label,
      createdMs: now,
      expiresMs: expires,
      revokedMs: null,
      lastUsedMs: null,
    };
    await this.store.insertToken(row, audit(id));
    return { id, token };
  }

  async tokens(user?: string): Promise<TokenInfo[]> {
    return (await this.store.tokens(user)).map((r) => ({
      id: r.id,
      user: r.user,
      role: r.role,
      kind: r.kind,
      label: r.label,
      createdMs: r.createdMs,
      expiresMs: r.expiresMs,
      revokedMs: r.revokedMs,
      lastUsedMs: r.lastUsedMs,
    }));
  }

  /** Revokes one token (by id) or every token and session of a user (right: users; a user may revoke its own). Returns how many. */
  async revoke(actor: Principal, what: { tokenId: string } | { user: string }, nowMs = Date.now()): Promise<number> {
    const owner = 'user' in what ? what.user : (await this.store.token(what.tokenId))?.user;
    if (owner === undefined) throw new UserInputError(`no token ${'tokenId' in what ? what.tokenId : ''}`);
    if (owner !== actor.user) await this.require(actor, 'users', owner);
    return this.store.revokeTokens(what, nowMs, (count) => [
      {
        actor: actor.user,
        action: 'token.revoke',
        subject: owner,
        detail: 'user' in what ? { all: true, count } : { id: what.tokenId, count },
        tsMs: nowMs,
      },
    ]);
  }

  /** The principal a token (API or session) stands for; refusals of known tokens are audited. */
  async authenticateToken(token: string, nowMs = Date.now(), source = 'cli'): Promise<Principal> {
    const m = TOKEN_RE.exec(token.trim());
    if (m === null) throw new AuthError('not a Vakt token');
    const row = await this.store.token(m[1]!);
    if (row === undefined) throw new AuthError('token refused: unknown token');
    const refuse = async (why: string): Promise<never> => {
      await this.store.appendAudit([
        { actor: row.user, action: 'auth.token_refused', subject: row.user, detail: { id: row.id, why, source }, tsMs: Date.now() },
      ]);
      throw new AuthError(`token refused: ${why}`);
    };
    const h = sha256(token.trim());
    if (!timingSafeEqual(h, row.hash)) await refuse('wrong secret');
    if (row.revokedMs !== null) await refuse('revoked');
    if (row.expiresMs <= nowMs) await refuse('expired');
    const userRole = await this.hes.roleOf(row.user);
    if (userRole === undefined || !isRole(row.role)) return refuse('user removed');
    await this.store.touchToken(row.id, nowMs);
    return { user: row.user, role: lowerRole(row.role, userRole), tokenId: row.id, via: row.kind };
  }

  /**
   * Checks a password. Failures are audited and counted per name: MAX_FAILURES within
   * FAILURE_WINDOW_MS lock the name for LOCK_MS (even the right password is refused then).
   */
  async login(name: string, password: string, source = 'cli', nowMs = Date.now()): Promise<Principal> {
    // A name that cannot be a user (perhaps a password typed into the name field) is never stored or
    // audited as typed: its failures count under one shared bucket.
    const key = USER_NAME_RE.test(name) ? name : INVALID_NAME;
    const lock = await this.store.loginFailure(key);
    if (lock !== undefined && lock.lockedUntilMs > nowMs) {
      throw new AuthError(`too many failed logins for this user; try again after ${new Date(lock.lockedUntilMs).toISOString()}`);
    }
    const hash = USER_NAME_RE.test(name) ? await this.store.passwordHash(name) : undefined;
    const ok = (await verifyPassword(password, hash ?? DUMMY_HASH)) && hash !== undefined;
    const role = ok ? await this.hes.roleOf(name) : undefined;
    if (role === undefined) {
      const fresh = lock === undefined || nowMs - lock.firstMs > FAILURE_WINDOW_MS;
      const count = fresh ? 1 : lock.count + 1;
      const lockedUntil = count >= MAX_FAILURES ? nowMs + LOCK_MS : 0;
      await this.store.recordLoginFailure(key, { count, firstMs: fresh ? nowMs : lock.firstMs, lockedUntilMs: lockedUntil }, [
        {
          actor: ANONYMOUS,
          action: lockedUntil > 0 ? 'auth.locked' : 'auth.failed',
          subject: key,
          detail: { source, failures: count },
          tsMs: Date.now(),
        },
      ]);
      throw new AuthError('wrong user name or password');
    }
    await this.store.clearLoginFailures(name, [{ actor: name, action: 'auth.login', subject: name, detail: { source }, tsMs: Date.now() }]);
    return { user: name, role, tokenId: null, via: 'password' };
  }

  /** Logs in and opens a browser session: a session token (cookie) and a CSRF token, both stored hashed. */
  async openSession(name: string, password: string, source: string, nowMs = Date.now()): Promise<Session> {
    return this.newSession(await this.login(name, password, source, nowMs), source, nowMs);
  }

  /** Exchanges a one-time login token (e.g. `vakt demo --console`'s) for a browser session; the token is revoked. */
  async sessionFromLoginToken(token: string, source: string, nowMs = Date.now()): Promise<Session> {
    const p = await this.authenticateToken(token, nowMs, source);
    if (p.via !== 'login') throw new AuthError('only a one-time login token opens a session; API tokens go in the Authorization header');
    await this.store.revokeTokens({ tokenId: p.tokenId! }, nowMs, () => [
      { actor: p.user, action: 'auth.login', subject: p.user, detail: { source, via: 'one-time token', id: p.tokenId }, tsMs: Date.now() },
    ]);
    return this.newSession(p, source, nowMs);
  }

  private async newSession(p: Principal, source: string, nowMs: number): Promise<Session> {
    const csrf = randomBytes(32).toString('base64url');
    const { id, token } = await this.insertToken(p.user, p.role, 'session', source.slice(0, 64), nowMs, nowMs + SESSION_MS, csrf);
    return { principal: { ...p, tokenId: id, via: 'session' }, token, csrf, expiresMs: nowMs + SESSION_MS };
  }

  /** True when csrf is the CSRF token of the session. */
  async checkCsrf(sessionId: string, csrf: string): Promise<boolean> {
    const row = await this.store.token(sessionId);
    return row !== undefined && row.kind === 'session' && row.csrfHash !== null && timingSafeEqual(sha256(csrf), row.csrfHash);
  }

  /** Ends a session (logout). */
  async endSession(sessionId: string, nowMs = Date.now()): Promise<void> {
    await this.store.revokeTokens({ tokenId: sessionId, kind: 'session' }, nowMs, () => []);
  }
}
