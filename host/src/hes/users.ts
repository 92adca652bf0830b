// Operators who log in (docs/HOST.md "Operators and authentication"): password hashes (scrypt),
// API tokens and browser sessions (stored as SHA-256 hashes, scoped to a role, revocable, expiring),
// and a rate limit on failed logins. Lives next to the HES tables in the same SQLite file; every
// change and every refusal is written to the HES audit log, never a password or a token.
import { createHash, randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Hes } from './hes.ts';
import { ROLES, isRole, lowerRole } from './roles.ts';
import type { Role, Right } from './roles.ts';

export const AUTH_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS user_passwords (name TEXT PRIMARY KEY REFERENCES users(name), hash TEXT NOT NULL, updated_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
  id TEXT PRIMARY KEY, user TEXT NOT NULL REFERENCES users(name), role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin')),
  kind TEXT NOT NULL CHECK (kind IN ('api','session','login')), hash BLOB NOT NULL, csrf_hash BLOB, label TEXT NOT NULL,
  created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL, revoked_ms INTEGER, last_used_ms INTEGER);
CREATE TABLE IF NOT EXISTS login_failures (name TEXT PRIMARY KEY, count INTEGER NOT NULL, first_ms INTEGER NOT NULL, locked_until_ms INTEGER NOT NULL);
`;

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
export interface Principal { user: string; role: Role; tokenId: string | null; via: 'password' | 'api' | 'session' | 'login' }

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
  if (!USER_NAME_RE.test(name)) throw new UserInputError(`user name must be 1–32 of a-z 0-9 . _ - starting with a letter, got ${JSON.stringify(name.slice(0, 40))}`);
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
const DUMMY_HASH = ['scrypt', SCRYPT.logN, SCRYPT.r, SCRYPT.p, Buffer.alloc(16).toString('base64'),
  scryptSync('\u0000', Buffer.alloc(16), 32, { N: 2 ** SCRYPT.logN, r: SCRYPT.r, p: SCRYPT.p, maxmem: SCRYPT_MAXMEM }).toString('base64')].join('$');

interface TokenRow { id: string; user: string; role: string; kind: string; hash: Buffer; csrf_hash: Buffer | null; label: string; created_ms: number; expires_ms: number; revoked_ms: number | null; last_used_ms: number | null }

export interface TokenInfo { id: string; user: string; role: Role; kind: string; label: string; createdMs: number; expiresMs: number; revokedMs: number | null; lastUsedMs: number | null }

/** Users, credentials and logins of one HES database. */
export class Users {
  readonly hes: Hes;
  private readonly db: Database.Database;

  constructor(hes: Hes) {
    this.hes = hes;
    this.db = hes.db;
    this.db.exec(AUTH_SCHEMA_SQL);
  }

  /** Runs fn with the HES checking rights for p (its token's scope caps its user's role); fn must be synchronous. */
  asPrincipal<T>(p: Principal, fn: () => T): T {
    const prev = this.hes.roleCap;
    this.hes.roleCap = { user: p.user, role: p.role };
    try {
      return fn();
    } finally {
      this.hes.roleCap = prev;
    }
  }

  /** From now on this HES handle checks rights for p (a CLI process runs as one principal); returns p.user, the actor name. */
  actAs(p: Principal): string {
    this.hes.roleCap = { user: p.user, role: p.role };
    return p.user;
  }

  /** Throws PermissionError (audited by the HES) unless p holds the right. */
  require(p: Principal, right: Right, subject: string): void {
    this.asPrincipal(p, () => this.hes.require(p.user, right, subject));
  }

  list(): { name: string; role: Role; createdMs: number; password: boolean; tokens: number }[] {
    return this.db.prepare(`SELECT u.name, u.role, u.created_ms AS createdMs, (p.name IS NOT NULL) AS password,
      (SELECT count(*) FROM tokens t WHERE t.user = u.name AND t.kind = 'api' AND t.revoked_ms IS NULL AND t.expires_ms > ?) AS tokens
      FROM users u LEFT JOIN user_passwords p ON p.name = u.name ORDER BY u.name`).all(Date.now())
      .map((r) => ({ ...(r as { name: string; role: Role; createdMs: number; tokens: number }), password: (r as { password: number }).password === 1 }));
  }

  /** Adds a user or changes its role (right: users), optionally with a password. */
  async add(actor: Principal, name: string, role: Role, password?: string): Promise<void> {
    checkUserName(name);
    if (!isRole(role)) throw new UserInputError(`role must be one of ${ROLES.join(', ')}`);
    const hash = password === undefined ? undefined : await hashPassword(checkPassword(password));
    this.asPrincipal(actor, () => this.hes.setUser(actor.user, name, role));
    if (hash !== undefined) this.storePassword(actor, name, hash);
  }

  /** Sets a user's password: an admin for anyone, every user for itself. */
  async setPassword(actor: Principal, name: string, password: string): Promise<void> {
    checkPassword(password);
    if (actor.user !== name) this.require(actor, 'users', name);
    else this.require(actor, 'view', name);
    if (this.hes.roleOf(name) === undefined) throw new UserInputError(`no user ${name}`);
    this.storePassword(actor, name, await hashPassword(password));
  }

  private storePassword(actor: Principal, name: string, hash: string): void {
    this.db.transaction(() => {
      this.db.prepare('INSERT INTO user_passwords (name, hash, updated_ms) VALUES (?,?,?) ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, updated_ms = excluded.updated_ms').run(name, hash, Date.now());
      this.db.prepare('DELETE FROM login_failures WHERE name = ?').run(name);
      this.hes.audit.append(actor.user, 'user.password', name, {});
    })();
  }

  /**
   * Issues an API token for a user (right: users; or a user for itself, at most its own role).
   * The token text is returned once; only its SHA-256 is stored.
   */
  createToken(actor: Principal | 'init', name: string, o: { role?: Role; ttlMs?: number; label?: string; nowMs?: number; oneTime?: boolean } = {}): { id: string; token: string; role: Role; expiresMs: number } {
    const userRole = this.hes.roleOf(name);
    if (userRole === undefined) throw new UserInputError(`no user ${name}`);
    if (actor !== 'init') {
      if (actor.user !== name) this.require(actor, 'users', name);
      else this.require(actor, 'view', name);
    }
    const role = lowerRole(o.role ?? userRole, actor === 'init' || actor.user !== name ? userRole : actor.role);
    const ttl = o.ttlMs ?? DEFAULT_TOKEN_MS;
    if (!(Number.isSafeInteger(ttl) && ttl > 0 && ttl <= 3650 * 86400_000)) throw new UserInputError('token lifetime must be between 1 ms and 10 years');
    const label = o.label ?? '';
    if (label.length > 64 || hasControlChar(label)) throw new UserInputError('token label must be at most 64 printable characters');
    const now = o.nowMs ?? Date.now();
    const kind: TokenKind = o.oneTime === true ? 'login' : 'api';
    const { id, token } = this.insertToken(name, role, kind, label, now, now + ttl, null);
    this.hes.audit.append(actor === 'init' ? name : actor.user, 'token.create', name, { id, role, kind, expiresMs: now + ttl, label });
    return { id, token, role, expiresMs: now + ttl };
  }

  private insertToken(user: string, role: Role, kind: TokenKind, label: string, now: number, expires: number, csrf: string | null): { id: string; token: string } {
    const id = randomBytes(8).toString('hex');
    const token = `vakt_${id}_${randomBytes(32).toString('base64url')}`;
    this.db.prepare('INSERT INTO tokens (id, user, role, kind, hash, csrf_hash, label, created_ms, expires_ms) VALUES (?,?,?,?,?,?,?,?,?)')
      .run(id, user, role, kind, sha256(token), csrf === null ? null : sha256(csrf), label, now, expires);
    return { id, token };
  }

  tokens(user?: string): TokenInfo[] {
    const rows = (user === undefined ? this.db.prepare("SELECT * FROM tokens WHERE kind != 'session' ORDER BY created_ms").all()
      : this.db.prepare("SELECT * FROM tokens WHERE kind != 'session' AND user = ? ORDER BY created_ms").all(user)) as TokenRow[];
    return rows.map((r) => ({ id: r.id, user: r.user, role: r.role as Role, kind: r.kind, label: r.label, createdMs: r.created_ms, expiresMs: r.expires_ms, revokedMs: r.revoked_ms, lastUsedMs: r.last_used_ms }));
  }

  /** Revokes one token (by id) or every token and session of a user (right: users; a user may revoke its own). Returns how many. */
  revoke(actor: Principal, what: { tokenId: string } | { user: string }, nowMs = Date.now()): number {
    const owner = 'user' in what ? what.user : (this.db.prepare('SELECT user FROM tokens WHERE id = ?').get(what.tokenId) as { user: string } | undefined)?.user;
    if (owner === undefined) throw new UserInputError(`no token ${'tokenId' in what ? what.tokenId : ''}`);
    if (owner !== actor.user) this.require(actor, 'users', owner);
    return this.db.transaction(() => {
      const r = 'user' in what
        ? this.db.prepare('UPDATE tokens SET revoked_ms = ? WHERE user = ? AND revoked_ms IS NULL').run(nowMs, what.user)
        : this.db.prepare('UPDATE tokens SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL').run(nowMs, what.tokenId);
      this.hes.audit.append(actor.user, 'token.revoke', owner, 'user' in what ? { all: true, count: r.changes } : { id: what.tokenId, count: r.changes });
      return r.changes;
    })();
  }

  /** The principal a token (API or session) stands for; refusals of known tokens are audited. */
  authenticateToken(token: string, nowMs = Date.now(), source = 'cli'): Principal {
    const m = TOKEN_RE.exec(token.trim());
    if (m === null) throw new AuthError('not a Vakt token');
    const row = this.db.prepare('SELECT * FROM tokens WHERE id = ?').get(m[1]) as TokenRow | undefined;
    const refuse = (why: string): never => {
      if (row !== undefined) this.hes.audit.append(row.user, 'auth.token_refused', row.user, { id: row.id, why, source });
      throw new AuthError(`token refused: ${why}`);
    };
    if (row === undefined) throw new AuthError('token refused: unknown token');
    const h = sha256(token.trim());
    if (!timingSafeEqual(h, row.hash)) refuse('wrong secret');
    if (row.revoked_ms !== null) refuse('revoked');
    if (row.expires_ms <= nowMs) refuse('expired');
    const userRole = this.hes.roleOf(row.user);
    if (userRole === undefined || !isRole(row.role)) refuse('user removed');
    this.db.prepare('UPDATE tokens SET last_used_ms = ? WHERE id = ?').run(nowMs, row!.id);
    return { user: row!.user, role: lowerRole(row!.role as Role, userRole!), tokenId: row!.id, via: row!.kind as TokenKind };
  }

  /**
   * Checks a password. Failures are audited and counted per name: MAX_FAILURES within
   * FAILURE_WINDOW_MS lock the name for LOCK_MS (even the right password is refused then).
   */
  async login(name: string, password: string, source = 'cli', nowMs = Date.now()): Promise<Principal> {
    // A name that cannot be a user (perhaps a password typed into the name field) is never stored or
    // audited as typed: its failures count under one shared bucket.
    const key = USER_NAME_RE.test(name) ? name : INVALID_NAME;
    const lock = this.db.prepare('SELECT * FROM login_failures WHERE name = ?').get(key) as { count: number; first_ms: number; locked_until_ms: number } | undefined;
    if (lock !== undefined && lock.locked_until_ms > nowMs) {
      throw new AuthError(`too many failed logins for this user; try again after ${new Date(lock.locked_until_ms).toISOString()}`);
    }
    const row = USER_NAME_RE.test(name) ? (this.db.prepare('SELECT hash FROM user_passwords WHERE name = ?').get(name) as { hash: string } | undefined) : undefined;
    const ok = (await verifyPassword(password, row?.hash ?? DUMMY_HASH)) && row !== undefined;
    const role = ok ? this.hes.roleOf(name) : undefined;
    if (role === undefined) {
      this.db.transaction(() => {
        const fresh = lock === undefined || nowMs - lock.first_ms > FAILURE_WINDOW_MS;
        const count = fresh ? 1 : lock.count + 1;
        const lockedUntil = count >= MAX_FAILURES ? nowMs + LOCK_MS : 0;
        this.db.prepare('INSERT INTO login_failures (name, count, first_ms, locked_until_ms) VALUES (?,?,?,?) ON CONFLICT (name) DO UPDATE SET count = excluded.count, first_ms = excluded.first_ms, locked_until_ms = excluded.locked_until_ms')
          .run(key, count, fresh ? nowMs : lock.first_ms, lockedUntil);
        this.hes.audit.append(ANONYMOUS, lockedUntil > 0 ? 'auth.locked' : 'auth.failed', key, { source, failures: count });
      })();
      throw new AuthError('wrong user name or password');
    }
    this.db.prepare('DELETE FROM login_failures WHERE name = ?').run(name);
    this.hes.audit.append(name, 'auth.login', name, { source });
    return { user: name, role, tokenId: null, via: 'password' };
  }

  /** Logs in and opens a browser session: a session token (cookie) and a CSRF token, both stored hashed. */
  async openSession(name: string, password: string, source: string, nowMs = Date.now()): Promise<{ principal: Principal; token: string; csrf: string; expiresMs: number }> {
    return this.newSession(await this.login(name, password, source, nowMs), source, nowMs);
  }

  /** Exchanges a one-time login token (e.g. `vakt demo --console`'s) for a browser session; the token is revoked. */
  sessionFromLoginToken(token: string, source: string, nowMs = Date.now()): { principal: Principal; token: string; csrf: string; expiresMs: number } {
    const p = this.authenticateToken(token, nowMs, source);
    if (p.via !== 'login') throw new AuthError('only a one-time login token opens a session; API tokens go in the Authorization header');
    this.db.prepare('UPDATE tokens SET revoked_ms = ? WHERE id = ?').run(nowMs, p.tokenId);
    this.hes.audit.append(p.user, 'auth.login', p.user, { source, via: 'one-time token', id: p.tokenId });
    return this.newSession(p, source, nowMs);
  }

  private newSession(p: Principal, source: string, nowMs: number): { principal: Principal; token: string; csrf: string; expiresMs: number } {
    const csrf = randomBytes(32).toString('base64url');
    const { id, token } = this.insertToken(p.user, p.role, 'session', source.slice(0, 64), nowMs, nowMs + SESSION_MS, csrf);
    return { principal: { ...p, tokenId: id, via: 'session' }, token, csrf, expiresMs: nowMs + SESSION_MS };
  }

  /** True when csrf is the CSRF token of the session. */
  checkCsrf(sessionId: string, csrf: string): boolean {
    const row = this.db.prepare("SELECT csrf_hash FROM tokens WHERE id = ? AND kind = 'session'").get(sessionId) as { csrf_hash: Buffer | null } | undefined;
    return row?.csrf_hash != null && timingSafeEqual(sha256(csrf), row.csrf_hash);
  }

  /** Ends a session (logout). */
  endSession(sessionId: string, nowMs = Date.now()): void {
    this.db.prepare("UPDATE tokens SET revoked_ms = ? WHERE id = ? AND kind = 'session' AND revoked_ms IS NULL").run(nowMs, sessionId);
  }
}
