// The HTML report rendered by a real headless browser (Debian's chromium via playwright-core):
// tables and both SVG views are laid out with real sizes, colours match verdicts, no script errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
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
if (!haveBrowser) console.warn(`html.browser.test: skipped — no chromium at ${CHROMIUM} (apt-get install chromium; CI installs it)`);

describe.skipIf(!haveBrowser)('HTML report in headless Chromium', () => {
  let browser: Browser;
  let page: Page;
  const dir = mkdtempSync(join(tmpdir(), 'vakt-html-'));
  const errors: string[] = [];
  beforeAll(async () => {
    const model = loadModel(VAKT);
    const file = join(dir, 'report.html');
    writeFileSync(file, renderHtml(buildReport(analyze(model)), model));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    page.on('pageerror', (e) => errors.push(String(e)));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await page.goto(pathToFileURL(file).href);
  });
  afterAll(async () => {
    await browser?.close();
  });

  it('renders without errors and shows the title and Table 1 beside the paper', async () => {
    expect(errors).toEqual([]);
    expect(await page.title()).toContain('Vakt');
    const rows = await page.$$eval('#table1 tr', (trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent)));
    expect(rows.find((r) => r[0] === 'messages')).toEqual(['messages', '28', '31', '45']);
    expect(rows.find((r) => r[0] === 'counters')).toEqual(['counters', '7', '7', '21']);
  });

  it('colours the requirement table and the attack table by verdict', async () => {
    // runs in the page: the browser's getComputedStyle (not in this file's Node typings)
    const colour = (sel: string) =>
      page.$eval(
        sel,
        (el) =>
          (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(el).backgroundColor,
      );
    expect(await colour('#requirements td.ok')).toBe('rgb(200, 236, 200)');
    expect(await page.$$('#requirements td.leak')).toHaveLength(0); // Vakt's baseline holds
    expect((await page.$$('#attacks td.leak')).length).toBeGreaterThan(0); // leaked keys (A5–A7)
    expect(await colour('#attacks td.leak')).toBe('rgb(245, 163, 163)');
    const heads = await page.$$eval('#attacks th', (ths) => ths.map((t) => t.textContent));
    expect(heads).toContain('A3holds');
    expect(heads).toContain('A6fails');
  });

  it('lays out the interaction view (one per phase) and the protection view with real sizes', async () => {
    const boxes = await page.$$eval('svg', (svgs) =>
      svgs.map((s) => {
        const b = s.getBoundingClientRect();
        return { w: b.width, h: b.height, arrows: s.querySelectorAll('line[marker-end]').length, nodes: s.querySelectorAll('rect').length };
      }),
    );
    expect(boxes).toHaveLength(4);
    for (const b of boxes) {
      expect(b.w).toBeGreaterThan(300);
      expect(b.h).toBeGreaterThan(100);
    }
    expect(boxes[2].arrows).toBeGreaterThan(30); // operations: every op, both hops
    expect(boxes[3].nodes).toBeGreaterThanOrEqual(10); // key hierarchy
    const keyLabels = await page.$$eval('svg.seq text.key', (ts) => ts.map((t) => t.textContent));
    expect(keyLabels).toContain('KL_m_UP › K_READING_UP');
    expect(keyLabels).toContain('sk(KPEKP) › pk(HESKP)');
  });

  it('takes a full-page screenshot', async () => {
    const shot = join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    expect(statSync(shot).size).toBeGreaterThan(50_000);
  });
});
