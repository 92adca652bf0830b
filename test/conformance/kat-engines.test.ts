// The crypto primitives as the meter runs them: bundled by esbuild (es2015 iife, as the firmware
// build does), checked against the Espruino and XS rule sets of scripts/engine-check.ts, then run
// on a real Moddable XS engine (and on Espruino when ESPRUINO_BIN is set). On the engine they must
// reproduce the published answers: FIPS-197 Appendix A.1 and C.1, RFC 4493 §4 (SP 800-38B D.1)
// CMAC, RFC 3610 §8 packet vectors #1-#24, IEEE 802.15.4-2006 Annex C.2.1/C.2.3, plus the KDF
// example of PROTOCOL.md §2 (a value from the node:crypto reference, see kat-kdf.test.ts);
// and seal/open must not allocate (XS heap slot count).
import { bundleEntry } from '../xs/bundle-entry.ts';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../scripts/engine-check.ts';
import { espruinoBin, runEngine, xsAvailable } from '../xs/engine-run.ts';
import { IEEE802154, RFC3610 } from './kat-vectors.ts';

const ENTRY = `
import * as utils from './shared/src/utils.ts';
import * as aes from './shared/src/aes.ts';
import * as ctx from './shared/src/ctx.ts';
import * as cmac from './shared/src/cmac.ts';
import * as kdf from './shared/src/kdf.ts';
import * as ccm from './shared/src/ccm.ts';
globalThis.VC = { utils: utils, aes: aes, ctx: ctx, cmac: cmac, kdf: kdf, ccm: ccm };
`;

function bundle(minify: boolean): Promise<string> {
  return bundleEntry(ENTRY, 'core-entry.ts', minify);
}

const CMAC_M =
  '6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710';
const CCM = RFC3610.concat(IEEE802154);

// Engine-neutral script in the Espruino subset (var, function, no hoisting across the top level).
const SETUP = `
var U = VC.utils, A = VC.aes, X = VC.ctx, M = VC.cmac, D = VC.kdf, C = VC.ccm;
var cx = X.createCryptoCtx();
var rk = new Uint32Array(44);
var res = { fails: [] };
function fail(what, got) { res.fails.push(what + ': ' + got); }
A.expandKey(U.hexToBytes('2b7e151628aed2a6abf7158809cf4f3c'), 0, rk);
if (rk[43] !== 0xb6630ca6 || rk[4] !== 0xa0fafe17) fail('FIPS-197 A.1', rk[4] + ',' + rk[43]);
A.expandKey(U.hexToBytes('000102030405060708090a0b0c0d0e0f'), 0, rk);
var blk = new Uint8Array(16);
A.softAes.encryptBlock(rk, U.hexToBytes('00112233445566778899aabbccddeeff'), 0, blk, 0);
if (U.bytesToHex(blk) !== '69c4e0d86a7b0430d8cdb78070b4c55a') fail('FIPS-197 C.1', U.bytesToHex(blk));
A.expandKey(U.hexToBytes('2b7e151628aed2a6abf7158809cf4f3c'), 0, rk);
var cm = U.hexToBytes('${CMAC_M}');
var cmacWant = [[0, 'bb1d6929e95937287fa37d129b756746'], [16, '070a16b46b4d4144f79bdd9dd04a287c'], [40, 'dfa66747de9ae63030ca32611497c827'], [64, '51f0bebf7e3b9d92fc49741779363cfe']];
for (var i = 0; i < cmacWant.length; i++) {
  M.cmac(cx, rk, cm, 0, cmacWant[i][0], blk, 0);
  if (U.bytesToHex(blk) !== cmacWant[i][1]) fail('RFC 4493 len ' + cmacWant[i][0], U.bytesToHex(blk));
}
A.expandKey(U.hexToBytes('000102030405060708090a0b0c0d0e0f'), 0, rk);
D.kdf(cx, rk, D.LABEL_OP, U.hexToBytes('01020304050607080100'), 0, 10, blk, 0);
if (U.bytesToHex(blk) !== '61cdb3481ac71fe76c52924deae1af86') fail('KDF example', U.bytesToHex(blk));
var V = ${JSON.stringify(CCM.map((v) => [v.name, v.key, v.nonce, v.aad, v.msg, v.out.toLowerCase(), v.tagLen]))};
var buf = new Uint8Array(64), back = new Uint8Array(64);
for (var j = 0; j < V.length; j++) {
  var v = V[j], n = U.hexToBytes(v[2]), a = U.hexToBytes(v[3]), m = U.hexToBytes(v[4]), t = v[6];
  A.expandKey(U.hexToBytes(v[1]), 0, rk);
  C.ccmSeal(cx, rk, n, 0, a, 0, a.length, m, 0, m.length, t, buf, 0);
  if (U.bytesToHex(buf, 0, m.length + t) !== v[5]) fail('CCM ' + v[0], U.bytesToHex(buf, 0, m.length + t));
  if (!C.ccmOpen(cx, rk, n, 0, a, 0, a.length, buf, 0, m.length, buf, m.length, t, back, 0) || U.bytesToHex(back, 0, m.length) !== v[4].toLowerCase()) fail('CCM open ' + v[0], '');
  buf[m.length] ^= 1;
  if (C.ccmOpen(cx, rk, n, 0, a, 0, a.length, buf, 0, m.length, buf, m.length, t, back, 0)) fail('CCM forged tag accepted ' + v[0], '');
}
var hdr = new Uint8Array(26), body = new Uint8Array(64), frame = new Uint8Array(76), nonce = new Uint8Array(13), bad = 0;
function many(k) {
  for (var i = 0; i < k; i++) {
    nonce[12] = i;
    C.ccmSeal(cx, rk, nonce, 0, hdr, 0, 26, body, 0, 64, 12, frame, 0);
    if (!C.ccmOpen(cx, rk, nonce, 0, hdr, 0, 26, frame, 0, 64, frame, 64, 12, body, 0)) bad++;
  }
}
var garbage = 0;
function allocMany(k) { for (var i = 0; i < k; i++) { var q = [i]; garbage += q.length; } }
`;
const RESULT = `res.bad = bad; print('@@result ' + JSON.stringify(res));`;

function parse(stdout: string): { fails: string[]; bad: number } {
  const line = stdout.split('\n').find((l) => l.startsWith('@@result '));
  if (!line) throw new Error('no result from the engine:\n' + stdout.slice(-2000));
  return JSON.parse(line.slice('@@result '.length).trim());
}

describe('crypto primitives on the target engines', () => {
  it('bundle stays inside the Espruino and XS feature sets', async () => {
    const code = await bundle(false);
    for (const engine of ['espruino', 'xs'] as const) {
      const vs = checkSource(code, engine, { module: false });
      expect(vs.map((v) => `${v.rule} ${v.module ?? ''}:${v.line} ${v.snippet}`)).toEqual([]);
    }
  });

  it.skipIf(!xsAvailable())('runs on Moddable XS: every published answer, no allocation per seal/open', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-core-xs-'));
    try {
      fs.writeFileSync(path.join(dir, 'core.js'), await bundle(true));
      fs.writeFileSync(path.join(dir, 'setup.js'), SETUP);
      const pieces = [path.join(dir, 'core.js'), path.join(dir, 'setup.js')];
      for (const s of ['many(2)', 'many(300)', 'allocMany(1)', 'allocMany(2000)', RESULT]) pieces.push('--eval', s);
      const r = await runEngine('xs', pieces);
      expect(r.code, r.stderr).toBe(0);
      const res = parse(r.stdout);
      expect(res.fails).toEqual([]);
      expect(res.bad).toBe(0);
      // Steps: 0 bundle, 1 setup, 2 many(2), 3 many(300), 4 allocMany(1), 5 allocMany(2000).
      const heap = r.meters.map((m) => m.currentHeapCount ?? 0);
      expect(heap[5] - heap[4]).toBeGreaterThan(1000); // calibration: allocation is visible
      expect(heap[3] - heap[2]).toBeLessThanOrEqual(Math.max(0, heap[2] - heap[1]));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!espruinoBin())('runs on Espruino (ESPRUINO_BIN): every published answer', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-core-esp-'));
    try {
      fs.writeFileSync(path.join(dir, 'core.js'), await bundle(true));
      fs.writeFileSync(path.join(dir, 'setup.js'), SETUP);
      const r = await runEngine(
        'espruino',
        [path.join(dir, 'core.js'), path.join(dir, 'setup.js'), '--eval', 'many(2)', '--eval', RESULT],
        600_000,
      );
      const res = parse(r.stdout);
      expect(res.fails).toEqual([]);
      expect(res.bad).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
