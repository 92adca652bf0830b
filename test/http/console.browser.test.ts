// The web console in a real headless browser (Debian's chromium via playwright-core): log in, the
// meter list, a meter's load-profile chart holding exactly the stored points (read from the chart
// object, not a canvas), a disconnect by an admin acknowledged by the meter, a viewer without the
// button and refused by the API, a forged frame in the security-events timeline. Screenshots are
// saved under a temporary directory (path printed) to be looked at.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { makeApiFixture, NAMES, PASSWORDS } from './helpers.ts';
import type { ApiFixture } from './helpers.ts';
import { deliverDownlink } from '../host/hes-fixture.ts';
import { toHex } from '../../host/src/crypto/bytes.ts';

// page.evaluate / waitForFunction bodies run in the browser; these name its globals for the type checker.
declare const document: { cookie: string; getElementById(id: string): { textContent: string | null } | null };
declare const window: unknown;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`console.browser.test: skipped — no chromium at ${CHROMIUM} (apt-get install chromium; CI installs it)`);
const POINTS = 24;
const WAIT_MS = 20_000;

describe.skipIf(!haveBrowser)('web console in headless Chromium', () => {
  let a: ApiFixture;
  let url: string;
  let ctx: BrowserContext;
  let page: Page;
  const shots = mkdtempSync(join(tmpdir(), 'vakt-console-shots-'));
  const errors: string[] = [];
  const shot = (name: string) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  beforeAll(async () => {
    a = await makeApiFixture(POINTS);
    await a.app.listen({ host: '127.0.0.1', port: 0 });
    const addr = a.app.server.address() as { port: number };
    url = `http://127.0.0.1:${addr.port}/`;
    ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'vakt-chromium-')), {
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      viewport: { width: 1280, height: 900 },
    });
    page = ctx.pages()[0] ?? (await ctx.newPage());
    page.on('pageerror', (e) => errors.push(String(e)));
    // Refusals the tests provoke (400, 401, 403) are logged by the browser as failed loads; anything else is an error.
    page.on('console', (m) => m.type() === 'error' && !/status of (400|401|403)\b/.test(m.text()) && errors.push(m.text()));
    page.on('dialog', (d) => void d.accept());
    console.log(`console screenshots: ${shots}`);
  }, 60_000);
  afterAll(async () => {
    await ctx?.close();
    await a?.app.close();
    a?.f.hes.close();
  });

  async function login(role: 'admin' | 'viewer'): Promise<void> {
    await page.goto(url);
    await page.waitForSelector('#login:not([hidden])');
    await page.fill('#login input[name=user]', NAMES[role]);
    await page.fill('#login input[name=password]', PASSWORDS[role]);
    await page.click('#login button[type=submit]');
    await page.waitForSelector('#meters tbody tr');
  }

  it('refuses a wrong password, then logs in and lists the meters with their status', async () => {
    await page.goto(url);
    await page.fill('#login input[name=user]', 'admin');
    await page.fill('#login input[name=password]', 'wrong-password-1');
    await page.click('#login button[type=submit]');
    await page.waitForFunction(() => (document.getElementById('login-error')?.textContent ?? '') !== '');
    expect(await page.textContent('#login-error')).toBe('wrong user name or password');
    await login('admin');
    expect(await page.textContent('#whoami')).toBe('admin (admin)');
    const rows = await page.$$eval('#meters tbody tr', (trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)),
    );
    expect(rows.length).toBe(2);
    const row = rows.find((r) => r[0] === a.meter)!;
    expect(row[2]).toBe('ok');
    expect(row[3]).toBe(String(POINTS));
    await shot('1-meters');
  });

  it("a meter's load-profile chart holds the stored points", async () => {
    await page.click(`a[href="#/meter/${a.meter}"]`);
    await page.waitForFunction(
      () => (window as unknown as { vaktCharts?: { loadProfile?: unknown } }).vaktCharts?.loadProfile !== undefined,
    );
    const data = await page.evaluate(() =>
      (window as unknown as { vaktCharts: { loadProfile: { data: number[][] } } }).vaktCharts.loadProfile.data.map((s) => [...s]),
    );
    const stored = await a.f.hes.readings(a.meter, 1000);
    expect(stored.length).toBe(POINTS);
    expect(data).toEqual([stored.map((r) => r.t), stored.map((r) => r.w), stored.map((r) => r.wh)]);
    const canvas = await page.$eval('#chart-loadProfile canvas', (c) => [
      (c as unknown as { width: number }).width,
      (c as unknown as { height: number }).height,
    ]);
    expect(canvas[0]).toBeGreaterThan(300);
    await shot('2-meter-chart');
  });

  it('an admin disconnects the meter and sees the meter acknowledge it', async () => {
    await page.click('button[data-action=disconnect]');
    await page.waitForSelector('#commands [data-state=queued]');
    const cmd = (await a.f.hes.listCommands({ meter: a.meter }))[0]!;
    expect(cmd).toMatchObject({ kind: 'relay', actor: 'admin', params: { state: 0 } });
    // The radio side: the concentrator takes the downlink to the meter, the meter answers.
    const m = a.f.meters[0]!;
    const c = a.f.concOf(m);
    const { replies } = deliverDownlink(a.f, c, await a.f.hes.nextDownlink(toHex(c.id)));
    await a.f.hes.ingestBatch(replies);
    expect((await a.f.hes.listCommands({ meter: a.meter }))[0]!.state).toBe('acknowledged');
    await page.waitForSelector(`#commands [data-command="${cmd.id}"][data-state=acknowledged]`, { timeout: WAIT_MS });
    await shot('3-disconnect-acknowledged');
    expect((await a.f.hes.audit.list(1, 1e6)).filter((e) => e.action === 'command.acknowledged').map((e) => e.actor)).toContain('admin');
    // A key-update campaign started from the commands page, over both meters.
    await page.goto(`${url}#/commands`);
    await page.waitForSelector('#campaign-form');
    await page.fill('#campaign-form input[name=meters]', 'all');
    await page.click('#campaign-form button[type=submit]');
    await page.waitForFunction(() => (document.getElementById('campaigns')?.textContent ?? '').includes('key_update'));
    expect((await a.f.hes.listCommands({ state: 'queued' })).filter((c) => c.kind === 'key_update' && c.actor === 'admin').length).toBe(2);
    await shot('3b-campaign');
    await page.goto(`${url}#/concentrators`);
    await page.waitForSelector('#concentrators tbody tr');
    await shot('3c-concentrators');
  });

  it('an admin manages operators; typed names are validated, control characters refused by page and server', async () => {
    await page.goto(`${url}#/users`);
    await page.waitForSelector('#user-form');
    await page.fill('#user-form input[name=name]', 'nils\u0007');
    await page.click('#user-form button[type=submit]');
    expect(await page.textContent('#user-error')).toMatch(/a name is 1–32 of a-z/);
    const server = await page.evaluate(async () => {
      const csrf = /vakt_csrf=([^;]+)/.exec(document.cookie)![1]!;
      const res = await fetch('/api/users', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ name: 'nils\u001b[31m', role: 'admin' }),
      });
      return { status: res.status, body: (await res.json()) as { error: string } };
    });
    expect(server.status).toBe(400);
    expect(server.body.error).toMatch(/name must match pattern/);
    expect(await a.f.hes.roleOf('nils\u001b[31m')).toBeUndefined();
    await page.fill('#user-form input[name=name]', 'nils');
    await page.selectOption('#user-form select[name=role]', 'viewer');
    await page.fill('#user-form input[name=password]', 'nils-console-pass-1');
    await page.click('#user-form button[type=submit]');
    await page.waitForFunction(() => (document.getElementById('users')?.textContent ?? '').includes('nils'));
    expect(await a.f.hes.roleOf('nils')).toBe('viewer');
    await page.click('button[data-token-for="nils"]');
    await page.waitForFunction(() => (document.getElementById('new-token')?.textContent ?? '').includes('vakt_'));
    const shown = (await page.textContent('#new-token'))!;
    expect(await a.users.authenticateToken(/vakt_\S+/.exec(shown)![0]!)).toMatchObject({ user: 'nils', role: 'viewer' });
    await shot('3d-operators');
  });

  it('a viewer has no command buttons, and the API refuses the disconnect with 403', async () => {
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    await login('viewer');
    await page.goto(`${url}#/meter/${a.meter}`);
    await page.waitForSelector('#meter-actions');
    expect(await page.$$('#meter-actions button')).toHaveLength(0);
    expect(await page.$$('[data-cancel]')).toHaveLength(0);
    expect(await page.isHidden('#nav-users')).toBe(true);
    const before = (await a.f.hes.listCommands({})).length;
    const r = await page.evaluate(async (meter) => {
      const csrf = /vakt_csrf=([^;]+)/.exec(document.cookie)![1]!;
      const res = await fetch('/api/commands', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-csrf-token': csrf },
        body: JSON.stringify({ meter, kind: 'relay', state: 0 }),
      });
      return { status: res.status, body: await res.json() };
    }, a.meter);
    expect(r).toEqual({ status: 403, body: { error: 'user "vera" (viewer) lacks the right "relay"' } });
    expect((await a.f.hes.listCommands({})).length).toBe(before);
    await shot('4-viewer-meter');
  });

  it('a forged frame appears in the security-events timeline', async () => {
    const m = a.f.meters[0]!;
    const sealed = m.seal(0x01, [0, POINTS + 1, 1_700_000_000 + (POINTS + 1) * 900, 999, 250]);
    sealed[sealed.length - 1]! ^= 0x01; // one bit of the meter's tag
    const r = (await a.f.hes.ingestBatch([a.f.concOf(m).wrap(sealed)]))[0]!;
    expect(r.ok).toBe(false);
    await page.goto(`${url}#/events`);
    await page.waitForSelector(`#timeline li[data-action^="security."]`, { timeout: WAIT_MS });
    const items = await page.$$eval('#timeline li', (lis) => lis.map((li) => li.textContent ?? ''));
    expect(items.some((t) => t.startsWith('security.err_tag') && t.includes(a.meter))).toBe(true);
    await shot('5-security-events');
    // Narrowed to the other meter, the forged frame is not listed.
    const other = a.f.batch.meters.map((x) => toHex(x.id)).find((x) => x !== a.meter)!;
    await page.goto(`${url}#/events?subject=${other}`);
    await page.waitForFunction((o) => (document.getElementById('view')?.textContent ?? '').includes(`of ${o}`), other);
    expect(await page.$$('#timeline li[data-action="security.err_tag"]')).toHaveLength(0);
    await page.goto(`${url}#/audit`);
    await page.click('#verify');
    await page.waitForFunction(() => (document.getElementById('verify-result')?.textContent ?? '') !== '');
    expect(await page.textContent('#verify-result')).toMatch(/^chain intact/);
    await shot('6-audit');
  });

  it("the demo's one-time login link logs in once and leaves the address bar", async () => {
    await page.click('#logout');
    await page.waitForSelector('#login:not([hidden])');
    const t = await a.users.createToken('init', 'admin', { ttlMs: 60_000, oneTime: true });
    await page.goto(`${url}#token=${t.token}`);
    await page.waitForSelector('#meters tbody tr');
    expect(await page.textContent('#whoami')).toBe('admin (admin)');
    expect(page.url()).not.toContain('vakt_');
    expect((await a.users.tokens('admin')).find((x) => x.id === t.id)!.revokedMs).not.toBeNull();
  });

  it('names and details with markup or control characters stay text', async () => {
    // An audit detail is operator-influenced text: it must render as text, never as markup.
    await a.f.hes.audit.append('admin', 'note', '<img src=x onerror=alert(1)>', { message: '<script>alert(2)</script>' });
    await page.goto(`${url}#/meters`);
    await page.waitForSelector('#meters');
    await page.goto(`${url}#/audit`);
    await page.waitForFunction(() => (document.getElementById('audit')?.textContent ?? '').includes('onerror'));
    expect(await page.$$('#audit img, #audit script')).toHaveLength(0);
    expect(await page.textContent('#audit')).toContain('<img src=x onerror=alert(1)>');
    expect(errors).toEqual([]);
  });
});
