// The firmware E32 driver as flashed (the espruino-modem-e32 piece) on the engines themselves: a
// Node vm and, with ESPRUINO_BIN, the Espruino interpreter (e.g. the 2,630-variable Puck-sized
// build). test/modem/engine/e32-harness.js configures an emulated E32 in the subset, sends a
// 300-byte unit and receives one: both engines must print the same packets and counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { espruinoBin, runEngine } from '../xs/engine-run.ts';

const HARNESS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'engine', 'e32-harness.js');
const lines = (out: string): string[] => out.split('\n').filter((l) => /^(STATE|WRITES|GOT|PRINT) /.test(l));

describe('firmware E32 driver on the engines', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-e32-engine-'));
    const report = await buildFirmware({ outDir: dir, only: ['adapters'] });
    expect(report.bundles.flatMap((b) => b.violations)).toEqual([]);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('on Node: configured and read back, a 300-byte unit as 6 packets of at most 58 bytes, a packet in as a frame', async () => {
    const r = await runEngine('node', [path.join(dir, 'espruino-modem-e32.js'), HARNESS]);
    expect(r.code).toBe(0);
    const l = lines(r.stdout);
    expect(l[0]).toBe('STATE ready PARAMS 0,0,26,6,70');
    expect(l[1]).toBe('WRITES 58,58,58,58,58,34');
    expect(l[2]).toMatch(/^GOT 17 STATS .*"packetsSent":6,"packetsReceived":1,.*"unitsIn":1,"unitsOut":1,/);
  });

  it.skipIf(espruinoBin() === undefined)('on Espruino (ESPRUINO_BIN): the same output', async () => {
    const [n, e] = await Promise.all([
      runEngine('node', [path.join(dir, 'espruino-modem-e32.js'), HARNESS]),
      runEngine('espruino', [path.join(dir, 'espruino-modem-e32.js'), HARNESS]),
    ]);
    expect(e.code).toBe(0);
    expect(lines(e.stdout)).toEqual(lines(n.stdout));
    console.log('E32 driver on Espruino, variables in use after the run:', e.stdout.split('\n').find((x) => x.startsWith('MEM ')) ?? 'n/a');
  });
});
