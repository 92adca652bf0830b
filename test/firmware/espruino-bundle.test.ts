// The meter bundle on the real Espruino interpreter, built for Linux from Espruino's public source.
// SKIPPED unless ESPRUINO_BIN points at that binary (nothing in this repository builds it; see
// docs/BOARDS.md "Testing on the Espruino interpreter"). Same scenario as on Node and XS, same
// reference checks, and the transcript must be byte-identical to Node's.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { scenario, checkScenario } from '../xs/meter-scenario.ts';
import { runEngine, parseSteps, espruinoBin } from '../xs/engine-run.ts';

const bin = espruinoBin();
const harness = path.join(__dirname, '..', 'xs', 'meter-harness.js');

describe.skipIf(!bin)(`meter bundle on the Espruino interpreter (${bin ? bin : 'skipped: ESPRUINO_BIN is not set'})`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-esp-'));
    const r = await buildFirmware({ outDir: dir, only: ['meter'] });
    expect(r.bundles.flatMap((b) => b.violations)).toEqual([]);
  });
  afterAll(() => { fs.rmSync(dir, { recursive: true, force: true }); });

  it('passes the scenario with the same transcript as Node', async () => {
    const scn = `VaktHarness.run(${JSON.stringify(scenario())});`;
    const meter = path.join(dir, 'meter.js');
    const esp = await runEngine('espruino', [meter, harness, '--eval', scn]);
    expect(esp.code, esp.stderr + esp.stdout.slice(-2000)).toBe(0);
    const espSteps = parseSteps(esp.stdout);
    checkScenario(espSteps);
    const node = await runEngine('node', [meter, harness, '--eval', scn]);
    expect(node.code, node.stderr).toBe(0);
    expect(espSteps).toEqual(parseSteps(node.stdout));
  });
});
