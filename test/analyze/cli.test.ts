// The `vakt analyze` entry point: output formats, argument errors and invalid models give a clear
// message and exit code instead of a crash.
import { describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../host/src/analyze/cli.ts';
import { fixture } from './helpers.ts';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(argv, { out: (s) => (out += s), err: (s) => (err += s + '\n') });
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'vakt-analyze-'));

describe('vakt analyze', () => {
  it("analyses Vakt's model by default and prints the tables, verdicts and risk matrix", async () => {
    const r = await cli('--no-color');
    expect(r.code).toBe(0);
    expect(r.out).toContain('Table 1');
    expect(r.out).toMatch(/messages\s+28\s+31/);
    expect(r.out).toContain('A3 Compromised concentrator: holds');
    expect(r.out).toContain('A6 Leaked meter master key (meter 1): FAILS');
    expect(r.out).toContain('Risk matrix');
    expect(r.out).not.toContain('\x1b[');
  });
  it('--json prints one JSON object with the same verdicts', async () => {
    const r = await cli('--json');
    const j = JSON.parse(r.out);
    expect(j.model).toBe('Vakt');
    expect(j.table1.paper).toEqual({
      entities: 4,
      messages: 28,
      symmetricKeys: 9,
      keyPairs: 1,
      counters: 7,
      nonces: 0,
      dataElements: 2,
      phases: 3,
    });
    expect(j.attacks.map((a: { id: string; verdict: string }) => `${a.id}:${a.verdict}`)).toEqual([
      'A1:holds',
      'A2:holds',
      'A3:holds',
      'A4:holds',
      'A5:fails',
      'A6:fails',
      'A7:fails',
      'A8:holds',
    ]);
    expect(j.risk.cells).toHaveLength(5);
    expect(j.catalogue.length).toBeGreaterThan(0);
    expect(j.catalogue.every((t: { score: number; likelihood: number; impact: number }) => t.score === t.likelihood * t.impact)).toBe(true);
  });
  it('--fail-on-risk exits 3 when a threat is outside the acceptance criteria', async () => {
    expect((await cli('--fail-on-risk', '--no-color')).code).toBe(3);
  });
  it('a broken fixture is reported as failing', async () => {
    const r = await cli(fixture('link-only'), '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.out);
    expect(j.attacks.find((a: { id: string }) => a.id === 'A3').verdict).toBe('fails');
  });
  it('--html writes a page with both views', async () => {
    const f = join(dir, 'r.html');
    const r = await cli('--html', f, '--no-color');
    expect(r.code).toBe(0);
    const html = readFileSync(f, 'utf8');
    expect(html).toContain('Interaction view');
    expect(html).toContain('Protection view');
    expect((html.match(/<svg /g) ?? []).length).toBe(4); // 3 phases + key hierarchy
  });
  it('--export proverif writes a ProVerif file', async () => {
    const f = join(dir, 'v.pv');
    const r = await cli('--export', 'proverif', '--out', f);
    expect(r.code).toBe(0);
    expect(existsSync(f)).toBe(true);
    expect(readFileSync(f, 'utf8')).toContain('process');
  });
  it.each([
    [['--bogus'], 'unknown option --bogus'],
    [['--html'], '--html needs a value'],
    [['--export', 'tamarin'], 'unknown export format'],
    [['a.json', 'b.json'], 'more than one model'],
    [['/nonexistent/model.json'], 'cannot read model /nonexistent/model.json (ENOENT)'],
    [[dir], `cannot read model ${dir} (EISDIR)`],
  ])('bad arguments %j give exit 2 and a plain message', async (argv, msg) => {
    const r = await cli(...argv);
    expect(r.code).toBe(2);
    expect(r.err).toContain(msg);
    expect(r.out).toBe('');
  });
  it('an invalid model lists each problem with file:line:column and field', async () => {
    const f = join(dir, 'bad.json');
    writeFileSync(
      f,
      '{\n  "name": "x",\n  "agents": [{"name": "A"}],\n  "phases": ["p"],\n  "links": [],\n  "atoms": [],\n  "messages": [{"id": "m", "phase": "p", "from": "A", "to": "B", "term": "aead(k, x"}],\n  "requirements": [],\n  "attacks": []\n}\n',
    );
    const r = await cli(f);
    expect(r.code).toBe(2);
    expect(r.err).toContain(`${f}:7:`);
    expect(r.err).toContain('messages[0].to: unknown agent "B"');
    expect(r.err).toMatch(/messages\[0\]\.term: term syntax/);
  });
  it('--help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.out).toContain('vakt analyze');
  });
});
