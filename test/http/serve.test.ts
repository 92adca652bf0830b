// `vakt hes serve --http`: the CLI starts the API beside the TCP server; passwords and tokens used
// against it never appear in its output, the database files or the audit chain.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run as kpeRun } from '../../host/src/kpe/cli.ts';
import { run as hesRun } from '../../host/src/hes/cli.ts';
import { captureIo } from '../../host/src/cli/io.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('vakt hes serve --http', () => {
  it('serves the API on loopback; no secret in its output, the database or the audit chain', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vakt-serve-'));
    const common = ['--db', 'hes.db', '--store-key-file', 'store.key'];
    const anon = captureIo({ cwd: dir, env: {} });
    expect(await kpeRun(['init', '--dir', 'kpe'], anon)).toBe(0);
    expect(await hesRun(['init', ...common, '--kpe-pub', 'kpe/kpe.pub', '--token-out', 'admin.token'], anon)).toBe(0);
    const adminToken = readFileSync(join(dir, 'admin.token'), 'utf8').trim();
    expect(anon.stdout.join('\n')).not.toContain(adminToken);
    const admin = captureIo({ cwd: dir, env: { VAKT_TOKEN_FILE: 'admin.token' }, stdin: 'olga-Secret-Pass-1\n' });
    expect(await hesRun(['user', 'add', 'olga', '--role', 'operator', '--password-stdin', ...common], admin)).toBe(0);
    const srvIo = captureIo({ cwd: dir, env: {} });
    const serving = hesRun(['serve', '--port', '0', '--http', '0', ...common], srvIo);
    let line: string | undefined;
    for (let i = 0; i < 100 && line === undefined; i++) {
      await sleep(50);
      line = srvIo.stdout.find((l) => l.startsWith('web console'));
    }
    const url = /(http:\/\/127\.0\.0\.1:[0-9]+\/)/.exec(line!)![1]!;
    const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(url + path, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
    expect((await post('api/login', { user: 'olga', password: 'wrong-Secret-Pass-2' })).status).toBe(401);
    const ok = await post('api/login', { user: 'olga', password: 'olga-Secret-Pass-1' });
    expect(ok.status).toBe(200);
    const sessionCookie = ok.headers
      .getSetCookie()
      .find((c) => c.startsWith('vakt_session='))!
      .split(';')[0]!
      .split('=')[1]!;
    const created = await post('api/users/olga/tokens', { days: 1 }, { authorization: `Bearer ${adminToken}` });
    expect(created.status).toBe(201);
    const olgaToken = ((await created.json()) as { token: string }).token;
    expect((await fetch(url + 'api/meters', { headers: { authorization: `Bearer ${olgaToken}` } })).status).toBe(200);
    srvIo.abort();
    expect(await serving).toBe(0);
    const output = [...anon.stdout, ...anon.stderr, ...admin.stdout, ...admin.stderr, ...srvIo.stdout, ...srvIo.stderr].join('\n');
    const files = readdirSync(dir)
      .filter((f) => f.startsWith('hes.db'))
      .map((f) => readFileSync(join(dir, f)));
    const audit = captureIo({ cwd: dir, env: { VAKT_TOKEN: adminToken } });
    expect(await hesRun(['audit', '--limit', '1000', '--json', ...common], audit)).toBe(0);
    for (const secret of ['olga-Secret-Pass-1', 'wrong-Secret-Pass-2', adminToken, olgaToken, sessionCookie]) {
      expect(output).not.toContain(secret);
      expect(audit.stdout.join('\n')).not.toContain(secret);
      for (const b of files) expect(b.includes(Buffer.from(secret))).toBe(false);
    }
    expect(JSON.parse(audit.stdout.at(-1)!).entries.map((e: { action: string }) => e.action)).toEqual(
      expect.arrayContaining(['auth.failed', 'auth.login', 'token.create', 'user.password']),
    );
  }, 60_000);
});
