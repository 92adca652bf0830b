// The report's views as a user sees them (headless Chromium via playwright-core): MIC-only frames
// drawn unlike encrypted ones, replies right after what triggers them, key-hierarchy edges clear of
// the boxes they do not connect, signatures that "authenticate", attack-table cells that keep the
// write verdict, risk cells with counts and threat ids, availability said next to the verdict.
// Screenshots land in VAKT_SHOTS (default: a temporary directory) to be looked at.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { loadModel } from '../../host/src/analyze/model.ts';
import { analyze } from '../../host/src/analyze/analysis.ts';
import { buildReport } from '../../host/src/analyze/report.ts';
import { renderHtml } from '../../host/src/analyze/html.ts';
import { VAKT } from './helpers.ts';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const haveBrowser = existsSync(CHROMIUM);
if (!haveBrowser) console.warn(`html-views.browser.test: skipped — no chromium at ${CHROMIUM} (apt-get install chromium; CI installs it)`);
const shots = process.env.VAKT_SHOTS ?? mkdtempSync(join(tmpdir(), 'vakt-shots-'));

describe.skipIf(!haveBrowser)('report views in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    const model = loadModel(VAKT);
    const file = join(shots, 'report.html');
    writeFileSync(file, renderHtml(buildReport(analyze(model)), model));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    await page.goto(pathToFileURL(file).href);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('draws MIC-only frames unlike encrypted ones (colour and dash), with a legend', async () => {
    const style = (id: string) =>
      page.$eval(`svg.seq line.msg[data-id="${id}"]`, (l) => ({
        cls: l.getAttribute('class'),
        stroke: l.getAttribute('stroke'),
        dash: l.getAttribute('stroke-dasharray'),
      }));
    const enc = await style('READING_UP.2@Meter1');
    for (const id of ['CLOCK_DOWN.2@Meter1', 'FIRMWARE_DOWN.2@Meter1', 'ACK_DOWN.2@Meter1', 'LACK_M_UP@Meter1']) {
      const mic = await style(id);
      expect(mic.cls).toBe('msg mic');
      expect(mic.dash).toBeTruthy();
      expect([mic.stroke, mic.dash]).not.toEqual([enc.stroke, enc.dash]);
    }
    expect(enc.cls).toBe('msg enc');
    expect(await style('KU_ACTIVATE.2@Meter1')).toMatchObject({ cls: 'msg enc' });
    const legend = await page.$$eval('svg.seq g.legend text', (ts) => ts.map((t) => t.textContent));
    expect(legend).toContain('MIC only: authenticated, readable');
    await (await page.$$('svg.seq'))[2].screenshot({ path: join(shots, 'operations.png') });
    expect(statSync(join(shots, 'operations.png')).size).toBeGreaterThan(20_000);
  });

  it('draws ACK DOWN right after the READING it answers, before EVENT', async () => {
    const order = await page.$$eval('svg.seq line.msg', (ls) => ls.map((l) => l.getAttribute('data-id')));
    const at = (id: string) => order.indexOf(id);
    expect(at('ACK_DOWN.1@Meter1')).toBe(at('READING_UP.2@Meter1') + 1);
    expect(at('ACK_DOWN.1@Meter1')).toBeLessThan(at('EVENT_UP.1@Meter1'));
    expect(at('READ_UP.1@Meter1')).toBe(at('READ_DOWN.2@Meter1') + 1);
  });

  it('routes every key-hierarchy edge clear of the boxes it does not connect', async () => {
    const crossings = await page.$$eval('svg.prot path.edge', (paths) => {
      const out: string[] = [];
      // in the page: DOM and SVG geometry (not in this file's Node typings)
      type BoxEl = {
        getAttribute(n: string): string | null;
        querySelector(s: string): { getBBox(): { x: number; y: number; width: number; height: number } };
      };
      type PathEl = {
        getAttribute(n: string): string | null;
        getTotalLength(): number;
        getPointAtLength(d: number): { x: number; y: number };
      };
      const doc = (globalThis as unknown as { document: { querySelectorAll(s: string): ArrayLike<BoxEl> } }).document;
      const boxes = Array.from(doc.querySelectorAll('svg.prot g.node')).map((g) => ({
        name: g.getAttribute('data-name'),
        r: g.querySelector('rect').getBBox(),
      }));
      for (const p of paths as unknown as PathEl[]) {
        const from = p.getAttribute('data-from');
        const to = p.getAttribute('data-to');
        const len = p.getTotalLength();
        for (let d = 0; d <= len; d += 2) {
          const pt = p.getPointAtLength(d);
          for (const b of boxes) {
            if (b.name === from || b.name === to) continue;
            if (pt.x > b.r.x && pt.x < b.r.x + b.r.width && pt.y > b.r.y && pt.y < b.r.y + b.r.height)
              out.push(`${from} → ${to} crosses ${b.name}`);
          }
        }
      }
      return [...new Set(out)];
    });
    expect(crossings).toEqual([]);
    const edges = await page.$$eval('svg.prot path.edge', (ps) =>
      ps.map((p) => `${p.getAttribute('data-from')} ${p.getAttribute('class')!.split(' ')[1]} ${p.getAttribute('data-to')}`),
    );
    expect(edges).toContain("MK' derives OK");
    expect(edges.length).toBeGreaterThan(10);
    await page.$eval('svg.prot', (s) => s.scrollIntoView());
    await (await page.$('svg.prot'))!.screenshot({ path: join(shots, 'protection.png') });
  });

  it('a signature key pair authenticates; only encryptions protect in transport', async () => {
    const titles = await page.$$eval('svg.prot path.edge title', (ts) => ts.map((t) => t.textContent));
    const kpe = titles.filter((t) => t!.startsWith('KPEKP'));
    expect(kpe.length).toBeGreaterThan(0);
    for (const t of kpe) expect(t).toMatch(/^KPEKP authenticates /);
    expect(titles.some((t) => /^HESKP protects /.test(t!))).toBe(true);
  });

  it('the attack table keeps the checked write verdict of elements anyone may read', async () => {
    const cell = await page.$$eval('#attacks tr', (trs) => {
      const head = [...trs[0].querySelectorAll('th')].map((t) => t.textContent ?? '');
      const row = trs.find((tr) => tr.querySelector('td')?.textContent === 'clockCmd@Meter1')!;
      return [...row.querySelectorAll('td')][head.findIndex((h) => h.startsWith('A2'))]?.textContent;
    });
    expect(cell).toBe('R public · W ✔');
  });

  it('risk-matrix cells give the count and the threat ids of each attack model or check', async () => {
    const cells = await page.$$eval('#risk td .cell', (cs) => cs.map((c) => c.textContent ?? ''));
    expect(cells.length).toBeGreaterThan(0);
    let total = 0;
    for (const c of cells) {
      const m = /^(\S+) ×(\d+) (T\d+(, T\d+)*)$/.exec(c);
      expect(m, c).not.toBeNull();
      expect(m![3].split(', ')).toHaveLength(Number(m![2]));
      total += Number(m![2]);
    }
    expect(total).toBe(await page.$$eval('#catalogue tr', (trs) => trs.length - 1));
    await (await page.$('#risk'))!.screenshot({ path: join(shots, 'risk.png') });
  });

  it('says next to A3 and A4 what "holds" does not cover (availability)', async () => {
    const items = await page.$$eval('li', (ls) => ls.map((l) => l.textContent ?? ''));
    const a4 = items.find((t) => t.startsWith('A4 '))!;
    expect(a4).toContain('holds for confidentiality, integrity, replay and agreement');
    expect(a4).toContain('Meter1 can delay only its own traffic');
    expect(items.find((t) => t.startsWith('A3 '))).toContain('traffic it relays');
    await page.screenshot({ path: join(shots, 'report.png'), fullPage: true });
  });
});
