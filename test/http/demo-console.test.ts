// `vakt demo --console`: after its steps the demo network keeps running behind the web console;
// the printed link logs in once (one-time admin token), readings keep arriving, Ctrl-C stops it.
import { describe, expect, it } from 'vitest';
import { run } from '../../host/src/cli/demo.ts';
import { captureIo } from '../../host/src/cli/io.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('vakt demo --console', () => {
  it('serves the live network with a one-time admin login until Ctrl-C', async () => {
    const io = captureIo({ env: {} });
    const done = run(['--meters', '2', '--intervals', '1', '--no-socat', '--console'], io);
    let line: string | undefined;
    for (let i = 0; i < 600 && line === undefined; i++) {
      await sleep(100);
      line = io.stdout.find((l) => l.startsWith('web console'));
    }
    expect(line, io.stdout.join('\n')).toBeDefined();
    expect(io.stdout).toContain('demo: every step succeeded');
    const m = /(http:\/\/127\.0\.0\.1:[0-9]+\/)#token=(vakt_\S+)$/.exec(line!)!;
    const [url, token] = [m[1]!, m[2]!];
    const login = await fetch(`${url}api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token }),
    });
    expect(login.status).toBe(200);
    expect(await login.json()).toMatchObject({ user: 'admin', role: 'admin' });
    const cookie = login.headers
      .getSetCookie()
      .map((c) => c.split(';')[0])
      .join('; ');
    // One-time: the same token neither logs in again nor works as a bearer token.
    expect(
      (await fetch(`${url}api/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token }) }))
        .status,
    ).toBe(401);
    expect((await fetch(`${url}api/meters`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(401);
    const readings = async () => {
      const r = (await (await fetch(`${url}api/meters`, { headers: { cookie } })).json()) as {
        meters: { status: string; readings: number }[];
      };
      return r.meters;
    };
    const first = await readings();
    expect(first.length).toBe(3);
    expect(first.filter((x) => x.status === 'WRONG KEY').length).toBe(1);
    const total = (ms: { readings: number }[]) => ms.reduce((n, x) => n + x.readings, 0);
    let later = first;
    for (let i = 0; i < 300 && total(later) <= total(first); i++) {
      await sleep(100);
      later = await readings();
    }
    expect(total(later)).toBeGreaterThan(total(first));
    io.abort();
    expect(await done).toBe(0);
    await expect(fetch(`${url}api/meters`)).rejects.toThrow();
  }, 120_000);
});
