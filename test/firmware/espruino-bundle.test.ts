// The meter bundle on the real Espruino interpreter, built for Linux from Espruino's public source.
// SKIPPED unless ESPRUINO_BIN points at that binary (nothing in this repository builds it; see
// docs/BOARDS.md "Testing on the Espruino interpreter"). Same scenario as on Node and XS, same
// reference checks, and the transcript must be byte-identical to Node's.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { scenario, checkScenario } from '../xs/meter-scenario.ts';
import { runEngine, parseSteps, espruinoBin, harnessPieces } from '../xs/engine-run.ts';
import { bundleEntry } from '../xs/bundle-entry.ts';

const bin = espruinoBin();
const harness = path.join(__dirname, '..', 'xs', 'meter-harness.js');

describe.skipIf(!bin)(`meter bundle on the Espruino interpreter (${bin ? bin : 'skipped: ESPRUINO_BIN is not set'})`, () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-esp-'));
    const r = await buildFirmware({ outDir: dir, only: ['meter', 'adapters'] });
    expect(r.bundles.flatMap((b) => b.violations)).toEqual([]);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('passes the scenario with the same transcript as Node', async () => {
    // Native AES on Espruino, as on a Puck.js: on the 2,630-variable pool the meter with software AES
    // no longer starts (out of memory at startMeter since the strict body table; see the issue-12 notes).
    // Software AES on Espruino is checked by test/conformance/kat-engines.test.ts.
    const scn = harnessPieces({ ...scenario(), nativeAes: true });
    const meter = path.join(dir, 'meter.js');
    // The board adapter too: the harness keeps the records in Storage with it, as on a board.
    const esp = await runEngine('espruino', [meter, path.join(dir, 'espruino-adapter.js'), harness, ...scn]);
    expect(esp.code, esp.stderr + esp.stdout.slice(-2000)).toBe(0);
    const espSteps = parseSteps(esp.stdout);
    checkScenario(espSteps);
    const node = await runEngine('node', [meter, harness, ...scn]);
    expect(node.code, node.stderr).toBe(0);
    expect(espSteps).toEqual(parseSteps(node.stdout));
  });

  it('native require("crypto").AES provider and softAes both match OpenSSL on FIPS-197 C.1 and random blocks', async () => {
    // FIPS-197 Appendix C.1, then random key/block pairs.
    const cases: [string, string][] = [['000102030405060708090a0b0c0d0e0f', '00112233445566778899aabbccddeeff']];
    for (let i = 0; i < 16; i++) cases.push([crypto.randomBytes(16).toString('hex'), crypto.randomBytes(16).toString('hex')]);
    const code = `(function () {
      var C = globalThis.VaktCore;
      var nat = globalThis.VaktEspruino.createEspruinoAes(require("crypto"));
      function hx(s) { var b = new Uint8Array(16); for (var i = 0; i < 16; i++) b[i] = parseInt(s.substr(2 * i, 2), 16); return b; }
      function th(b) { var s = ""; for (var i = 0; i < b.length; i++) s += (b[i] < 16 ? "0" : "") + b[i].toString(16); return s; }
      var cases = ${JSON.stringify(cases)};
      var rk = new Uint32Array(44);
      for (var i = 0; i < cases.length; i++) {
        C.expandKey(hx(cases[i][0]), 0, rk);
        var src = new Uint8Array(20); src.set(hx(cases[i][1]), 3);
        var a = new Uint8Array(18), b = new Uint8Array(18);
        nat.encryptBlock(rk, src, 3, a, 1);
        C.softAes.encryptBlock(rk, src, 3, b, 2);
        print("@@aes " + th(a.subarray(1, 17)) + " " + th(b.subarray(2, 18)));
      }
    })();`;
    // The two core functions alone (the whole core bundle does not fit a Puck.js-sized pool).
    const core = path.join(dir, 'aes-core.js');
    fs.writeFileSync(
      core,
      await bundleEntry(
        "import { expandKey, softAes } from './shared/src/aes.ts';\nglobalThis.VaktCore = { expandKey, softAes };\n",
        'aes-core.ts',
        true,
      ),
    );
    const r = await runEngine('espruino', [core, path.join(dir, 'espruino-adapter.js'), '--eval', code]);
    expect(r.code, r.stderr + r.stdout.slice(-1000)).toBe(0);
    const lines = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('@@aes '))
      .map((l) => l.slice(6).split(' '));
    expect(lines).toHaveLength(cases.length);
    expect(lines[0]).toEqual(['69c4e0d86a7b0430d8cdb78070b4c55a', '69c4e0d86a7b0430d8cdb78070b4c55a']);
    cases.forEach(([k, p], i) => {
      const c = crypto.createCipheriv('aes-128-ecb', Buffer.from(k, 'hex'), null);
      c.setAutoPadding(false);
      const want = Buffer.concat([c.update(Buffer.from(p, 'hex')), c.final()]).toString('hex');
      expect(lines[i]).toEqual([want, want]);
    });
  });
});
