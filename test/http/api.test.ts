// HTTP API: every route without credentials → 401; with a role that lacks the right → 403, audited,
// nothing changed; bad input → 400 with one plain sentence; the right role → the effect, audited
// with the authenticated actor. Then sessions (cookie flags, CSRF), security headers and exports.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { makeApiFixture, NAMES, PASSWORDS } from './helpers.ts';
import type { ApiFixture } from './helpers.ts';
import type { Role } from '../../host/src/hes/roles.ts';
import { LOGINS_PER_MINUTE } from '../../host/src/http/app.ts';

let a: ApiFixture;
beforeAll(async () => {
  a = await makeApiFixture(12);
  await a.f.hes.addFirmware('admin', new Uint8Array(1500).fill(3), 9);
});
afterAll(async () => {
  await a.app.close();
  await a.f.hes.close();
});

/** A digest of everything a write could change (the audit log is compared separately). */
function stateDigest(): string {
  const h = createHash('sha256');
  for (const t of ['commands', 'users', 'user_passwords', 'tokens', 'campaigns', 'campaign_commands', 'keys', 'meters']) {
    // A token's last use is bookkeeping, not a change an operator made.
    const rows = a.f.hes.db.prepare(`SELECT * FROM ${t}`).all() as Record<string, unknown>[];
    h.update(
      JSON.stringify(
        rows.map((r) => ({ ...r, last_used_ms: undefined })),
        (_k, v) => (typeof v === 'bigint' ? String(v) : v),
      ),
    );
  }
  return h.digest('hex');
}

interface RouteCase {
  method: 'GET' | 'POST';
  /** The route as registered (names the test and checks coverage). */
  path: string;
  url: () => string | Promise<string>;
  body?: () => unknown;
  /** Lowest role that may call it. */
  role: Role;
  /** A request the schema or the HES refuses as bad input. */
  bad?: { url?: () => string; body?: () => unknown; message: RegExp };
  /** Checks the effect of the allowed call; for writes, the audit action expected with the caller as actor. */
  effect: (res: { statusCode: number; json: () => any; body: string }) => void | Promise<void>;
  audit?: string;
}

const sha = createHash('sha256').update(new Uint8Array(1500).fill(3)).digest('hex');
const m2 = () => a.f.batch.meters.map((x) => Buffer.from(x.id).toString('hex')).find((x) => x !== a.meter)!;

const ROUTES: RouteCase[] = [
  {
    method: 'GET',
    path: '/api/session',
    url: () => '/api/session',
    role: 'viewer',
    effect: (r) => expect(r.json()).toMatchObject({ role: 'viewer', rights: ['view'] }),
  },
  {
    method: 'GET',
    path: '/api/meters',
    url: () => '/api/meters',
    role: 'viewer',
    effect: (r) => expect(r.json().meters.find((m: any) => m.id === a.meter)).toMatchObject({ readings: 12, status: 'ok' }),
  },
  {
    method: 'GET',
    path: '/api/meters/:id/load-profile',
    url: () => `/api/meters/${a.meter}/load-profile?from=1700001800&to=1700004500&limit=2`,
    role: 'viewer',
    bad: { url: () => `/api/meters/${a.meter}/load-profile?limit=0`, message: /limit must be >= 1/ },
    effect: (r) =>
      expect(r.json()).toMatchObject({
        points: [
          { seq: 2, wh: 20 },
          { seq: 3, wh: 30 },
        ],
        next: 3,
      }),
  },
  {
    method: 'GET',
    path: '/api/load-profile',
    url: () => '/api/load-profile?from=1700001800&to=1700002700&limit=1',
    role: 'viewer',
    bad: { url: () => '/api/load-profile?after=12', message: /after must match pattern/ },
    effect: (r) => expect(r.json()).toMatchObject({ points: [{ meter: a.meter, seq: 2, wh: 20 }], next: `2:${a.meter}` }),
  },
  {
    method: 'GET',
    path: '/api/meters/:id/readings',
    url: () => `/api/meters/${a.meter}/readings`,
    role: 'viewer',
    bad: { url: () => '/api/meters/XYZ/readings', message: /params\/id must match pattern/ },
    effect: (r) => expect(r.json()).toMatchObject({ readings: [], next: null }),
  },
  {
    method: 'GET',
    path: '/api/concentrators',
    url: () => '/api/concentrators',
    role: 'viewer',
    effect: (r) => expect(r.json().concentrators[0]).toMatchObject({ meters: 2, status: 'ok' }),
  },
  {
    method: 'GET',
    path: '/api/events',
    url: () => '/api/events',
    role: 'viewer',
    bad: { url: () => '/api/events?meter=zz', message: /meter must match/ },
    effect: (r) => expect(r.json().events).toEqual([]),
  },
  {
    method: 'GET',
    path: '/api/security-events',
    url: () => '/api/security-events',
    role: 'viewer',
    bad: { url: () => '/api/security-events?limit=x', message: /limit must be integer/ },
    effect: (r) => expect(Array.isArray(r.json().events)).toBe(true),
  },
  {
    method: 'GET',
    path: '/api/audit',
    url: () => '/api/audit?limit=3',
    role: 'viewer',
    bad: { url: () => '/api/audit?from=0', message: /from must be >= 1/ },
    effect: (r) => expect(r.json().entries.map((e: any) => e.seq)).toEqual([1, 2, 3]),
  },
  {
    method: 'GET',
    path: '/api/audit/verify',
    url: () => '/api/audit/verify',
    role: 'viewer',
    bad: { url: () => '/api/audit/verify?anchor=1:zz', message: /anchor must match/ },
    effect: (r) => expect(r.json()).toMatchObject({ ok: true }),
  },
  {
    method: 'GET',
    path: '/api/commands',
    url: () => '/api/commands',
    role: 'viewer',
    bad: { url: () => '/api/commands?state=lost', message: /state must be equal to one of/ },
    effect: (r) => expect(Array.isArray(r.json().commands)).toBe(true),
  },
  {
    method: 'GET',
    path: '/api/campaigns',
    url: () => '/api/campaigns',
    role: 'viewer',
    effect: (r) => expect(r.json().firmware[0]).toMatchObject({ sha256: sha, version: 9, size: 1500 }),
  },
  {
    method: 'GET',
    path: '/api/users',
    url: () => '/api/users',
    role: 'admin',
    effect: (r) => expect(r.json().users.map((u: any) => u.name)).toEqual(['admin', 'olga', 'vera']),
  },
  {
    method: 'POST',
    path: '/api/commands',
    url: () => '/api/commands',
    role: 'operator',
    body: () => ({ meter: a.meter, kind: 'config', tariff: 2 }),
    audit: 'command.queued',
    bad: { body: () => ({ meter: a.meter, kind: 'config' }), message: /config needs a tariff/ },
    effect: (r) => expect(r.json()).toMatchObject({ kind: 'config', state: 'queued' }),
  },
  {
    method: 'POST',
    path: '/api/commands',
    url: () => '/api/commands',
    role: 'admin',
    body: () => ({ meter: a.meter, kind: 'relay', state: 0 }),
    audit: 'command.queued',
    bad: { body: () => ({ meter: a.meter, kind: 'relay', state: 7 }), message: /state must be equal to one of/ },
    effect: async (r) =>
      expect((await a.f.hes.listCommands({})).find((c) => c.id === r.json().id)).toMatchObject({
        kind: 'relay',
        actor: 'admin',
        params: { state: 0 },
      }),
  },
  {
    method: 'POST',
    path: '/api/commands/:id/cancel',
    url: async () => `/api/commands/${(await a.f.hes.listCommands({ state: 'queued' })).find((c) => c.kind === 'relay')!.id}/cancel`,
    role: 'admin',
    audit: 'command.failed',
    bad: { url: () => '/api/commands/abc/cancel', message: /params\/id must be integer/ },
    effect: async (r) =>
      expect((await a.f.hes.listCommands({})).find((c) => c.id === r.json().id)).toMatchObject({
        state: 'failed',
        result: { cancelledBy: 'admin' },
      }),
  },
  {
    method: 'POST',
    path: '/api/campaigns',
    url: () => '/api/campaigns',
    role: 'admin',
    body: () => ({ kind: 'firmware', sha256: sha, all: true }),
    audit: 'campaign.start',
    bad: { body: () => ({ kind: 'firmware', sha256: sha, all: true, meters: [a.meter] }), message: /either meters .* or all/ },
    effect: async (r) => {
      expect(r.json().commands.length).toBe(2);
      expect((await a.f.hes.listCommands({ state: 'queued' })).filter((c) => c.kind === 'firmware').length).toBe(2);
    },
  },
  {
    method: 'POST',
    path: '/api/campaigns',
    url: () => '/api/campaigns',
    role: 'admin',
    body: () => ({ kind: 'key_update', scope: 0, meters: [m2()] }),
    audit: 'campaign.start',
    bad: { body: () => ({ kind: 'key_update', meters: ['0011223344556677'] }), message: /unknown meter 0011223344556677/ },
    effect: async () => expect((await a.f.hes.meterStatus()).find((m) => m.id === m2())!.status).toBe('key update pending'),
  },
  {
    method: 'POST',
    path: '/api/users',
    url: () => '/api/users',
    role: 'admin',
    body: () => ({ name: 'nils', role: 'viewer', password: 'nils-pass-00001' }),
    audit: 'user.set',
    bad: { body: () => ({ name: 'ni\u0007ls', role: 'viewer' }), message: /name must match pattern/ },
    effect: async () => expect(await a.f.hes.roleOf('nils')).toBe('viewer'),
  },
  {
    method: 'POST',
    path: '/api/users/:name/password',
    url: () => '/api/users/nils/password',
    role: 'admin',
    body: () => ({ password: 'nils-pass-00002' }),
    audit: 'user.password',
    bad: { body: () => ({ password: 'short' }), message: /at least 10 characters/ },
    effect: async () => expect(await a.users.login('nils', 'nils-pass-00002')).toMatchObject({ user: 'nils' }),
  },
  {
    method: 'POST',
    path: '/api/users/:name/tokens',
    url: () => '/api/users/nils/tokens',
    role: 'admin',
    body: () => ({ days: 1, label: 'billing' }),
    audit: 'token.create',
    bad: { body: () => ({ days: 0 }), message: /days must be >= 1/ },
    effect: async (r) => expect(await a.users.authenticateToken(r.json().token)).toMatchObject({ user: 'nils', role: 'viewer' }),
  },
  {
    method: 'POST',
    path: '/api/tokens/:id/revoke',
    url: async () => `/api/tokens/${(await a.users.tokens('nils')).find((t) => t.revokedMs === null)!.id}/revoke`,
    role: 'admin',
    audit: 'token.revoke',
    bad: { url: () => '/api/tokens/xyz/revoke', message: /id must match pattern/ },
    effect: (r) => expect(r.json()).toEqual({ revoked: 1 }),
  },
  {
    method: 'POST',
    path: '/api/users/:name/revoke',
    url: () => '/api/users/nils/revoke',
    role: 'admin',
    audit: 'token.revoke',
    bad: { url: () => '/api/users/NILS!/revoke', message: /name must match pattern/ },
    effect: (r) => expect(r.json()).toMatchObject({ revoked: 0 }),
  },
];

const ROLE_ORDER: Role[] = ['viewer', 'operator', 'admin'];

describe('every API route: 401, 403, 400, effect + audit', () => {
  for (const [i, rc] of ROUTES.entries()) {
    it(`#${i} ${rc.method} ${rc.path} (${rc.role})`, async () => {
      const req = (headers: Record<string, string>, url: string, body = rc.body?.()) =>
        a.app.inject({ method: rc.method, url, headers, ...(rc.method === 'POST' ? { payload: (body ?? {}) as object } : {}) });
      const url = await rc.url();
      // No credentials, a malformed header, a revoked-looking token: 401, nothing changed.
      const before = stateDigest();
      for (const h of [
        {} as Record<string, string>,
        { authorization: 'Basic eDp5' },
        { authorization: `Bearer vakt_0000000000000000_${'A'.repeat(43)}` },
      ]) {
        const r = await req(h, url);
        expect(r.statusCode).toBe(401);
        expect(typeof r.json().error).toBe('string');
      }
      // Every lower role: 403, the refusal audited with the actor, nothing changed.
      for (const low of ROLE_ORDER.slice(0, ROLE_ORDER.indexOf(rc.role))) {
        const seq = (await a.f.hes.audit.list(1, 1e6)).length;
        const r = await req(a.bearer(low), url);
        expect(r.statusCode, r.body).toBe(403);
        expect(r.json().error).toMatch(/lacks the right/);
        const after = await a.f.hes.audit.list(seq + 1);
        expect(after.map((e) => [e.action, e.actor])).toEqual([['policy.denied', NAMES[low]]]);
      }
      expect(stateDigest()).toBe(before);
      // Bad input: 400, one plain sentence, nothing changed.
      if (rc.bad !== undefined) {
        const r = await req(a.bearer(rc.role), rc.bad.url?.() ?? url, rc.bad.body?.() ?? rc.body?.());
        expect(r.statusCode, r.body).toBe(400);
        expect(r.json().error).toMatch(rc.bad.message);
        expect(r.json().error).not.toMatch(/\n/);
        expect(stateDigest()).toBe(before);
      }
      // The right role: the effect, and for a write the audit entry with the authenticated actor.
      const seq = (await a.f.hes.audit.list(1, 1e6)).length;
      const r = await req(a.bearer(rc.role), url);
      expect(r.statusCode, r.body).toBeLessThan(300);
      await rc.effect(r);
      if (rc.audit !== undefined)
        expect((await a.f.hes.audit.list(seq + 1)).map((e) => [e.action, e.actor])).toContainEqual([rc.audit, NAMES[rc.role]]);
      else expect(stateDigest()).toBe(before);
    });
  }

  it('every registered /api route is in the table above (login, logout: below)', async () => {
    // printRoutes draws a tree: a line's path continues the nearest less-indented line's path.
    const registered = new Set<string>();
    const stack: { col: number; path: string }[] = [];
    for (const line of a.app.printRoutes({ commonPrefix: false }).split('\n')) {
      const m = /^(.*?── )(\S+)(?: \(([A-Z, ]+)\))?$/.exec(line);
      if (m === null) continue;
      while (stack.length > 0 && stack[stack.length - 1]!.col >= m[1]!.length) stack.pop();
      const path = (stack[stack.length - 1]?.path ?? '') + m[2];
      stack.push({ col: m[1]!.length, path });
      for (const verb of m[3]?.split(', ') ?? []) if (verb !== 'HEAD' && path.startsWith('/api/')) registered.add(`${verb} ${path}`);
    }
    const listed = new Set([...ROUTES.map((r) => `${r.method} ${r.path}`), 'POST /api/login', 'POST /api/logout']);
    expect([...registered].sort()).toEqual([...listed].sort());
  });
});

describe('sessions, CSRF, headers, exports', () => {
  it('login sets an HttpOnly SameSite=Strict session cookie; writes need the CSRF token; logout ends it', async () => {
    const bad = await a.app.inject({ method: 'POST', url: '/api/login', payload: { user: 'vera', password: 'not-her-password' } });
    expect(bad.statusCode).toBe(401);
    expect(bad.json().error).toBe('wrong user name or password');
    const r = await a.app.inject({ method: 'POST', url: '/api/login', payload: { user: 'olga', password: PASSWORDS.operator } });
    expect(r.statusCode).toBe(200);
    const cookies = ([] as string[]).concat(r.headers['set-cookie'] as string[]);
    const sess = cookies.find((c) => c.startsWith('vakt_session='))!;
    expect(sess).toMatch(/HttpOnly/);
    expect(sess).toMatch(/SameSite=Strict/);
    const cookie = cookies.map((c) => c.split(';')[0]).join('; ');
    const csrf = r.json().csrf as string;
    const body = { meter: a.meter, kind: 'clock' };
    const n = (await a.f.hes.listCommands({})).length;
    expect((await a.app.inject({ method: 'POST', url: '/api/commands', headers: { cookie }, payload: body })).statusCode).toBe(403);
    expect(
      (await a.app.inject({ method: 'POST', url: '/api/commands', headers: { cookie, 'x-csrf-token': 'forged' }, payload: body }))
        .statusCode,
    ).toBe(403);
    expect((await a.f.hes.listCommands({})).length).toBe(n);
    const ok = await a.app.inject({ method: 'POST', url: '/api/commands', headers: { cookie, 'x-csrf-token': csrf }, payload: body });
    expect(ok.statusCode).toBe(201);
    expect((await a.f.hes.listCommands({}))[0]).toMatchObject({ kind: 'clock', actor: 'olga' });
    // A session token is not a bearer token, and an API token is not a cookie.
    const sessTok = sess.split(';')[0]!.split('=')[1]!;
    expect((await a.app.inject({ url: '/api/meters', headers: { authorization: `Bearer ${sessTok}` } })).statusCode).toBe(401);
    expect((await a.app.inject({ url: '/api/meters', headers: { cookie: `vakt_session=${a.tokens.admin}` } })).statusCode).toBe(401);
    expect((await a.app.inject({ method: 'POST', url: '/api/logout', headers: { cookie, 'x-csrf-token': csrf } })).statusCode).toBe(200);
    expect((await a.app.inject({ url: '/api/meters', headers: { cookie } })).statusCode).toBe(401);
  });

  it('security headers on pages and API; the console and uPlot come from this server', async () => {
    for (const url of ['/', '/app.js', '/vendor/uPlot.iife.min.js', '/api/meters']) {
      const r = await a.app.inject({ url, headers: a.bearer('viewer') });
      expect(r.statusCode).toBe(200);
      expect(r.headers['content-security-policy']).toMatch(/default-src 'self'.*script-src 'self'.*frame-ancestors 'none'/);
      expect(r.headers['x-content-type-options']).toBe('nosniff');
      expect(r.headers['referrer-policy']).toBe('no-referrer');
    }
    expect((await a.app.inject({ url: '/../package.json' })).statusCode).toBe(404);
  });

  it('load profile pages through next and exports CSV', async () => {
    const all: number[] = [];
    let after: number | null = 0;
    while (after !== null) {
      const r: any = (
        await a.app.inject({ url: `/api/meters/${a.meter}/load-profile?limit=5&after=${after}`, headers: a.bearer('viewer') })
      ).json();
      all.push(...r.points.map((p: any) => p.seq));
      after = r.next;
    }
    expect(all).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    const c = await a.app.inject({ url: `/api/meters/${a.meter}/load-profile?format=csv`, headers: a.bearer('viewer') });
    expect(c.headers['content-type']).toMatch(/text\/csv/);
    const lines = c.body.trim().split('\r\n');
    expect(lines[0]).toBe('meter,seq,t,wh,w,received_ms');
    expect(lines.length).toBe(13);
    expect(lines[12]!.split(',').slice(0, 5)).toEqual([a.meter, '12', String(1_700_000_000 + 12 * 900), '120', '250']);
  });

  it('login attempts from one address are limited per minute (429), before any password is checked', async () => {
    const seq = (await a.f.hes.audit.list(1, 1e6)).length;
    const codes: number[] = [];
    for (let i = 0; i < LOGINS_PER_MINUTE + 2; i++) {
      const r = await a.app.inject({
        method: 'POST',
        url: '/api/login',
        remoteAddress: '192.0.2.7',
        payload: { user: `guess${i}`, password: 'not-a-password' },
      });
      codes.push(r.statusCode);
      if (r.statusCode === 429) expect(r.json().error).toMatch(/too many login attempts/);
    }
    expect(codes).toEqual([...Array(LOGINS_PER_MINUTE).fill(401), 429, 429]);
    expect((await a.f.hes.audit.list(seq + 1)).filter((e) => e.action === 'auth.failed').length).toBe(LOGINS_PER_MINUTE);
    // Another address is not affected.
    expect(
      (
        await a.app.inject({
          method: 'POST',
          url: '/api/login',
          remoteAddress: '192.0.2.8',
          payload: { user: 'vera', password: PASSWORDS.viewer },
        })
      ).statusCode,
    ).toBe(200);
  });

  it('the billing export pages every meter through x-next-page / next', async () => {
    const seen: string[] = [];
    let after: string | null = null;
    do {
      const r: { body: string; headers: Record<string, unknown> } = await a.app.inject({
        url: `/api/load-profile?format=csv&limit=5${after === null ? '' : `&after=${after}`}`,
        headers: a.bearer('viewer'),
      });
      seen.push(
        ...r.body
          .trim()
          .split('\r\n')
          .slice(1)
          .map((l: string) => l.split(',').slice(0, 2).join(':')),
      );
      after = (r.headers['x-next-page'] as string | undefined) ?? null;
    } while (after !== null);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => `${a.meter}:${i + 1}`));
  });

  it('a token scoped below its user acts with the lower role', async () => {
    const t = await a.users.createToken({ user: 'admin', role: 'admin', tokenId: null, via: 'password' }, 'admin', {
      role: 'viewer',
      ttlMs: 60_000,
    });
    const r = await a.app.inject({
      method: 'POST',
      url: '/api/commands',
      headers: { authorization: `Bearer ${t.token}` },
      payload: { meter: a.meter, kind: 'relay', state: 1 },
    });
    expect(r.statusCode).toBe(403);
    expect(r.json().error).toMatch(/\(viewer\) lacks the right "relay"/);
  });

  it('no password or token in clear in the database after all of the above', async () => {
    a.f.hes.db.pragma('wal_checkpoint(FULL)');
    const dump = JSON.stringify(
      ['users', 'user_passwords', 'tokens', 'audit', 'login_failures'].map((t) => a.f.hes.db.prepare(`SELECT * FROM ${t}`).all()),
      (_k, v) => (Buffer.isBuffer(v) ? v.toString('hex') : v),
    );
    for (const s of [...Object.values(PASSWORDS), 'nils-pass-00001', 'nils-pass-00002', ...Object.values(a.tokens)]) {
      expect(dump).not.toContain(s);
      expect(dump).not.toContain(s.slice(-20));
    }
  });
});
