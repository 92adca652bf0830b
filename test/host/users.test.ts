// Operators: scrypt password hashes, hashed scoped expiring revocable tokens, login rate limit,
// audit of every change and refusal, and no secret in clear anywhere in the database files.
import { describe, expect, it, afterEach } from 'vitest';
import { scryptSync } from 'node:crypto';
import { makeFixture as makeFixtureOn, closeFixtures } from './hes-fixture.ts';
import { hesStores } from './hes-stores.ts';
import { Users, AuthError, UserInputError, hashPassword, verifyPassword, MAX_FAILURES, LOCK_MS, SCRYPT } from '../../host/src/hes/users.ts';
import type { Principal } from '../../host/src/hes/users.ts';
import { PermissionError } from '../../host/src/hes/roles.ts';
import { run as hesRun } from '../../host/src/hes/cli.ts';
import { captureIo } from '../../host/src/cli/io.ts';

const ADMIN: Principal = { user: 'admin', role: 'admin', tokenId: null, via: 'password' };

for (const store of hesStores()) {
  describe.skipIf(store.skip !== null)(`on ${store.kind}`, () => {
    const makeFixture: typeof makeFixtureOn = (meters, concentrators, o) => makeFixtureOn(meters, concentrators, o, store);
    afterEach(closeFixtures); // each case's HES closed: PostgreSQL pools hold server connections

    describe('password hashes', () => {
      it('are scrypt with the stated cost, salted, and verify against node:crypto computed independently', async () => {
        const h = await hashPassword('correct horse battery');
        const [alg, logN, r, p, salt, key] = h.split('$');
        expect([alg, Number(logN), Number(r), Number(p)]).toEqual(['scrypt', SCRYPT.logN, SCRYPT.r, SCRYPT.p]);
        const ref = scryptSync('correct horse battery', Buffer.from(salt!, 'base64'), 32, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 << 20 });
        expect(Buffer.from(key!, 'base64').equals(ref)).toBe(true);
        expect(await hashPassword('correct horse battery')).not.toBe(h);
        expect(await verifyPassword('correct horse battery', h)).toBe(true);
        expect(await verifyPassword('correct horse batterz', h)).toBe(false);
        expect(await verifyPassword('x', 'garbage')).toBe(false);
        expect(await verifyPassword('x', 'scrypt$40$8$1$AA==$AA==')).toBe(false);
      });
    });

    describe('users, tokens and logins', () => {
      it('token: hashed, scoped, expiring, revocable; refusals audited without the secret', async () => {
        const f = await makeFixture(1, 1);
        const u = new Users(f.hes);
        await u.add(ADMIN, 'olga', 'operator', 'olga-password-1');
        const t = await u.createToken(ADMIN, 'olga', { ttlMs: 60_000, label: 'script' });
        expect(t.token).toMatch(/^vakt_[0-9a-f]{16}_[A-Za-z0-9_-]{43}$/);
        const p = await u.authenticateToken(t.token);
        expect(p).toMatchObject({ user: 'olga', role: 'operator', tokenId: t.id, via: 'api' });
        // Scope: a viewer token of an operator cannot do what the operator can.
        const v = await u.createToken(ADMIN, 'olga', { role: 'viewer' });
        const pv = await u.authenticateToken(v.token);
        expect(pv.role).toBe('viewer');
        await expect(u.require(pv, 'config', 'x')).rejects.toThrow(PermissionError);
        await expect(u.require(p, 'config', 'x')).resolves.not.toThrow();
        // A scope above the user's role is capped at the user's role.
        expect((await u.createToken(ADMIN, 'olga', { role: 'admin' })).role).toBe('operator');
        // The operator may not issue tokens for others or add users.
        await expect(u.add(p, 'mallory', 'admin')).rejects.toThrow(PermissionError);
        await expect(u.createToken(p, 'admin')).rejects.toThrow(PermissionError);
        expect(await f.hes.roleOf('mallory')).toBeUndefined();
        // Wrong secret, expired, revoked: refused and audited with the token id only.
        const forged = t.token.slice(0, -4) + (t.token.endsWith('AAAA') ? 'BBBB' : 'AAAA');
        await expect(u.authenticateToken(forged)).rejects.toThrow(/wrong secret/);
        await expect(u.authenticateToken(t.token, Date.now() + 61_000)).rejects.toThrow(/expired/);
        expect(await u.revoke(ADMIN, { tokenId: t.id })).toBe(1);
        await expect(u.authenticateToken(t.token)).rejects.toThrow(/revoked/);
        await expect(u.authenticateToken('vakt_0000000000000000_' + 'A'.repeat(43))).rejects.toThrow(AuthError);
        await expect(u.authenticateToken('hello')).rejects.toThrow(/not a Vakt token/);
        const actions = (await f.hes.audit.list()).map((e) => e.action);
        expect(actions.filter((a) => a === 'auth.token_refused').length).toBe(3);
        expect(actions).toContain('token.create');
        expect(actions).toContain('token.revoke');
        // Revoking a user revokes every token of it.
        expect(await u.revoke(ADMIN, { user: 'olga' })).toBe(2);
        await expect(u.authenticateToken(v.token)).rejects.toThrow(/revoked/);
        expect((await f.hes.audit.verify()).ok).toBe(true);
      });

      it('login: wrong passwords are audited and lock the name after MAX_FAILURES, even for the right password', async () => {
        const f = await makeFixture(1, 1);
        const u = new Users(f.hes);
        await u.add(ADMIN, 'vera', 'viewer', 'vera-password-1');
        const t0 = 1_800_000_000_000;
        expect(await u.login('vera', 'vera-password-1', 'test', t0)).toMatchObject({ user: 'vera', role: 'viewer' });
        for (let i = 0; i < MAX_FAILURES; i++)
          await expect(u.login('vera', `wrong-${i}-password`, 'test', t0 + i)).rejects.toThrow(/wrong user name or password/);
        await expect(u.login('vera', 'vera-password-1', 'test', t0 + 100)).rejects.toThrow(/too many failed logins/);
        expect(await u.login('vera', 'vera-password-1', 'test', t0 + LOCK_MS + 100)).toMatchObject({ user: 'vera' });
        const audit = await f.hes.audit.list();
        expect(audit.filter((e) => e.action === 'auth.failed').length).toBe(MAX_FAILURES - 1);
        expect(audit.filter((e) => e.action === 'auth.locked').length).toBe(1);
        // Unknown user and a would-be password typed as the name: refused the same way, name not stored as typed.
        await expect(u.login('nobody', 'whatever-password', 'test', t0)).rejects.toThrow(/wrong user name or password/);
        await expect(u.login('Secret Passphrase 9!', 'x', 'test', t0)).rejects.toThrow(/wrong user name or password/);
        expect(JSON.stringify(await f.hes.audit.list())).not.toContain('Secret Passphrase');
      });

      it('bad input is refused with a plain message and changes nothing', async () => {
        const f = await makeFixture(1, 1);
        const u = new Users(f.hes);
        await expect(u.add(ADMIN, 'bad\u0007name', 'viewer')).rejects.toThrow(UserInputError);
        await expect(u.add(ADMIN, 'Olga', 'viewer')).rejects.toThrow(/user name must be/);
        await expect(u.add(ADMIN, 'olga', 'viewer', 'short')).rejects.toThrow(/at least 10/);
        await expect(u.add(ADMIN, 'olga', 'viewer', 'long enough\npassword')).rejects.toThrow(/control characters/);
        expect((await u.list()).map((x) => x.name)).toEqual(['admin']);
        await expect(u.createToken(ADMIN, 'admin', { label: 'a\u001bb' })).rejects.toThrow(/printable/);
      });

      it('CLI: login prompt on a terminal, --password-stdin, tokens; no password or token in clear in the database, WAL or audit', async () => {
        const f = await makeFixture(1, 1);
        const u = new Users(f.hes);
        const adminPw = 'admin-secret-PW-0001';
        await u.add(ADMIN, 'admin', 'admin', adminPw);
        await f.hes.close();
        const env = { VAKT_HES_STORE_KEY: Buffer.from(f.storeKey).toString('hex') };
        const common = ['--db', f.dbPath];
        const answers = ['admin', adminPw];
        const tty = captureIo({ cwd: f.dir, env, prompt: async () => answers.shift()!, stdin: 'olga-secret-PW-0002\n' });
        expect(await hesRun(['user', 'add', 'olga', '--role', 'operator', '--password-stdin', ...common], tty)).toBe(0);
        answers.push('admin', adminPw);
        expect(await hesRun(['user', 'token', 'olga', '--role', 'viewer', '--json', ...common], tty)).toBe(0);
        const tok = JSON.parse(tty.stdout.at(-1)!);
        expect(tok).toMatchObject({ user: 'olga', role: 'viewer' });
        const olga = captureIo({ cwd: f.dir, env: { ...env, VAKT_TOKEN: tok.token } });
        expect(await hesRun(['meters', ...common, '--json'], olga)).toBe(0);
        await expect(
          hesRun(['command', 'clock', '--meter', Buffer.from(f.batch.meters[0]!.id).toString('hex'), ...common], olga),
        ).rejects.toThrow(/viewer\) lacks the right "clock"/);
        const wrong = captureIo({ cwd: f.dir, env, prompt: async (q) => (q.startsWith('password') ? 'not-the-password' : 'admin') });
        await expect(hesRun(['meters', ...common], wrong)).rejects.toThrow(/wrong user name or password/);
        const files = [await f.store.atRest(f.dbPath)];
        expect(files[0]!.length).toBeGreaterThan(0);
        // The token's text and its secret part; the passwords anywhere (output included: only the token is shown, once).
        for (const secret of [adminPw, 'olga-secret-PW-0002', tok.token, tok.token.slice(22)]) {
          for (const b of files) expect(b.includes(Buffer.from(secret))).toBe(false);
        }
        for (const pw of [adminPw, 'olga-secret-PW-0002'])
          expect([...tty.stdout, ...tty.stderr, ...olga.stderr, ...wrong.stderr].join('\n')).not.toContain(pw);
      });
    });
  });
}
