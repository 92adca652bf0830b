// `vakt demo` with a small N: every step of its summary is a checked condition (HES database,
// device state, refusal codes), so this asserts the whole chain KPE → HES → concentrator → meters
// over real socat PTYs, the operations, and the refusal of a replayed and a forged frame.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runDemo } from '../../host/src/cli/demo.ts';
import { captureIo } from '../../host/src/cli/io.ts';
import { main } from '../../host/src/cli/main.ts';

const STEPS = [
  'KPE produced keys',
  'HES imported the shipment',
  'Network up',
  'Readings flow',
  'Wrong key reported in plain words',
  'Operator without relay right refused',
  'Disconnect (relay open)',
  'Reconnect (relay closed)',
  'Key update (master key)',
  'Replayed uplink frame refused',
  'Forged uplink frame refused',
  'Replayed disconnect command refused by the meter',
  'Forged command refused by the meter',
  'Uplink queues drained',
  'Audit chain verifies',
];

describe('vakt demo', () => {
  it('runs every step over real PTYs (socat) with a small N', async () => {
    const lines: string[] = [];
    const s = await runDemo({ meters: 3, pty: 2, intervals: 1, socat: true, log: (l) => lines.push(l) });
    expect(s.socat).toBe(true);
    expect(s.ptyMeters).toBe(2);
    expect(s.inProcessMeters).toBe(1);
    expect(s.steps.map((x) => x.step)).toEqual(STEPS);
    for (const x of s.steps) expect(x.ok, `${x.step}: ${x.detail}\n${lines.join('\n')}`).toBe(true);
    expect(s.metersWithReadings).toBe(3);
    expect(s.metersWithEnergy).toBe(3);
    expect(s.hesIngest.ERR_TAG).toBeGreaterThanOrEqual(1);
    expect(s.hesIngest.ERR_REPLAY).toBeGreaterThanOrEqual(1);
    expect(s.ok).toBe(true);
  }, 120_000);

  it('falls back to in-process links with a notice, through the CLI with --json', async () => {
    const io = captureIo();
    const code = await main(['demo', '--meters', '2', '--intervals', '1', '--no-socat', '--json'], io);
    const s = JSON.parse(io.stdout[io.stdout.length - 1]!);
    expect(s.notice).toMatch(/in-process/);
    expect(s.ptyMeters).toBe(0);
    expect(s.steps.filter((x: { ok: boolean }) => !x.ok)).toEqual([]);
    expect(code).toBe(0);
  }, 120_000);

  it('says plainly when socat is missing and runs on in-process links', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    // A PATH holding only a link to node: no socat on it.
    const bin = mkdtempSync(join(tmpdir(), 'vakt-nosocat-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = spawnSync(process.execPath, ['host/bin/vakt.js', 'demo', '--meters', '1', '--intervals', '1', '--json'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PATH: bin },
      timeout: 90_000,
    });
    rmSync(bin, { recursive: true, force: true });
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.notice).toMatch(/^socat is not installed: every meter uses an in-process serial link/);
    expect(out.socat).toBe(false);
    expect(out.ptyMeters).toBe(0);
    expect(out.steps.find((x: { step: string }) => x.step === 'Readings flow').ok).toBe(true);
  }, 120_000);

  it('refuses bad arguments in one line with exit 2', async () => {
    const io = captureIo();
    expect(await main(['demo', '--meters', '0'], io)).toBe(2);
    expect(io.stderr).toEqual(['vakt demo: --meters must be between 1 and 5000, got 0']);
  });
});
