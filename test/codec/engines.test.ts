// The codecs as the meter runs them: bundled by esbuild (es2015, as scripts/build-firmware.ts does),
// checked against the Espruino and XS rule sets of scripts/engine-check.ts, then executed on a real
// Moddable XS engine (@agoric/xsnap via test/xs/run-xs.mjs) for correctness and for zero
// allocation in steady state: XS reports its live heap slot count after every step, and a step
// that pushes 2,000 frames must leave the same count behind as a step that pushes 10.
// With ESPRUINO_BIN=<interpreter binary> the same checks also run on Espruino (opt-in: the
// interpreter is not an npm package), the code loaded from Storage in pieces.
import { describe, expect, it } from 'vitest';
import { bundleEntry } from '../xs/bundle-entry.ts';
import { espruinoBin, runEngine } from '../xs/engine-run.ts';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSource } from '../../scripts/engine-check.ts';
import * as crc from '../../shared/src/crc16.ts';
import * as cobs from '../../shared/src/cobs.ts';
import * as serial from '../../shared/src/serial.ts';
import * as cbor from '../../shared/src/cbor.ts';
import { ERR_CBOR, ERR_CBOR_DEPTH } from '../../shared/src/errors.ts';

const root = path.resolve(__dirname, '../..');
const ENTRY = `
import * as crc from './shared/src/crc16.ts';
import * as cobs from './shared/src/cobs.ts';
import * as serial from './shared/src/serial.ts';
import * as cbor from './shared/src/cbor.ts';
globalThis.VC = { crc: crc, cobs: cobs, serial: serial, cbor: cbor };
`;

function bundle(minify: boolean): Promise<string> {
  return bundleEntry(ENTRY, 'codec-entry.ts', minify);
}

// Engine-neutral script run after the bundle: builds inputs once, then defines loops that must not allocate.
const SETUP = `
var S = VC.serial, B = VC.cbor, C = VC.crc;
var delivered = 0, lastLen = -1;
var d = new S.SerialDeframer(1058, function (buf, off, len) { delivered++; lastLen = len; });
var f = new Uint8Array(200);
for (var i = 0; i < 200; i++) f[i] = i % 7 === 0 ? 0 : i;
var wire = new Uint8Array(4000), n = 0;
for (var k = 0; k < 10; k++) n += S.encodeSerialFrame(f, 0, 200, wire, n);
var noise = new Uint8Array(64);
for (var j = 0; j < 64; j++) noise[j] = (j * 73 + 5) & 0xff;
noise[63] = 0; // the line goes quiet after the noise: resynchronise
var out = new Uint8Array(64), key = new Uint8Array(16), mid = new Uint8Array(8);
var r = B.createCborReader();
var sum = 0;
function pushMany(t) { for (var i = 0; i < t; i++) { d.push(wire, 0, n); d.push(noise, 0, 64); } }
function cborMany(t) {
  for (var i = 0; i < t; i++) {
    var o = B.writeArrayHead(out, 0, 3);
    o = B.writeBytes(out, o, mid, 0, 8);
    o = B.writeBytes(out, o, key, 0, 16);
    o = B.writeUint(out, o, 4294967296 + i);
    B.cborReaderInit(r, out, 0, o);
    sum += B.readArrayHead(r) + B.readBytes(r) + B.readBytes(r);
    sum += B.readUint(r) + B.skipItem(r);
    B.cborReaderInit(r, out, 0, o);
    sum += B.skipItem(r);
  }
}
function frameMany(t) { for (var i = 0; i < t; i++) sum += S.encodeSerialFrame(f, 0, 200, wire, 0) + C.crc16(f, 0, 200); }
var garbage = 0;
function allocMany(t) { for (var i = 0; i < t; i++) { var a = [i]; garbage += a.length; } }
`;

// Portable correctness checks; everything printed is ASCII (xsnap's print() mangles characters
// outside the BMP, and Espruino counts one character per code point), so text is compared as bytes.
const CHECKS = `
var O = VC.cobs;
function hx(u, off, len) {
  var D = '0123456789abcdef', s = '';
  for (var i = off; i < off + len; i++) s += D.charAt(u[i] >> 4) + D.charAt(u[i] & 15);
  return s;
}
function unhx(h) {
  var u = new Uint8Array(h.length / 2);
  for (var i = 0; i < u.length; i++) u[i] = parseInt(h.substring(2 * i, 2 * i + 2), 16);
  return u;
}
// Containers nested this deep: far past CBOR_MAX_DEPTH and longer than any frame a meter receives
// (METER_MAX_RX_FRAME, 592 bytes today), yet small enough for a Puck-sized pool to build the input.
var DEEP_NESTING = 600;
function rep(h, k) { var s = ''; for (var i = 0; i < k; i++) s += h; return s; }
function decErr(h) { var u = unhx(h); return B.decodeValue(u, 0, u.length).err; }
function skipErr(h) { var u = unhx(h); var rr = B.createCborReader(); B.cborReaderInit(rr, u, 0, u.length); return B.skipItem(rr); }
var ascii = new Uint8Array([49, 50, 51, 52, 53, 54, 55, 56, 57]);
var TEXT = 'v\\u00e4kt \\u20ac \\ud83d\\ude00';
var buf = new Uint8Array(128);
var tn = B.encodeValue([0, -5, TEXT, true, null, { 1: 'a', b: [] }, unhx('00ff'), 4294967296, -9007199254740991], buf, 0);
var dv = B.decodeValue(buf, 0, tn);
var textOut = new Uint8Array(32);
var textLen = dv.err === 0 ? B.utf8Encode(dv.value[2], textOut, 0) : -1;
var cobsOut = new Uint8Array(16);
var cobsLen = O.cobsEncode(unhx('11220033'), 0, 4, cobsOut, 0);
// Every single-bit flip of a framed 12-byte frame: nothing but the original is ever delivered.
var small = unhx('8101040000000a0006811a01');
var sw = new Uint8Array(32), swn = S.encodeSerialFrame(small, 0, small.length, sw, 0);
var wrong = 0, refused = 0, goodAfter = 0, wrongHex = '';
var fd = new S.SerialDeframer(64, function (bb, o2, l2) {
  var h = hx(bb, o2, l2);
  if (h === '8101040000000a0006811a01') goodAfter++; else { wrong++; wrongHex = h; }
});
for (var bit = 0; bit < swn * 8; bit++) {
  var fl = new Uint8Array(swn);
  fl.set(sw.subarray(0, swn));
  fl[bit >> 3] ^= 1 << (bit & 7);
  fd.push(fl, 0, swn);
  fd.push(unhx('00'), 0, 1);
}
refused = fd.crcErrors + fd.framingErrors + fd.oversize;
print('@@result ' + JSON.stringify({
  crc: C.crc16(ascii, 0, 9),
  delivered: delivered, lastLen: lastLen, crcErrors: d.crcErrors, framing: d.framingErrors, oversize: d.oversize,
  cobs: hx(cobsOut, 0, cobsLen),
  cborHex: hx(buf, 0, tn), cborErr: dv.err,
  ints: dv.err === 0 ? [dv.value[0], dv.value[1], dv.value[7], dv.value[8]] : null,
  textUtf8: hx(textOut, 0, textLen), textSame: dv.err === 0 && dv.value[2] === TEXT, textLen: B.utf8Length(TEXT),
  rest: dv.err === 0 ? [dv.value[3], dv.value[4], dv.value[5]['1'], dv.value[5].b.length, hx(dv.value[6], 0, 2)] : null,
  hostile: [decErr(rep('81', 17) + '00'), skipErr(rep('81', DEEP_NESTING) + '00'), decErr('5bffffffffffffffff'), decErr('62c080'),
    decErr('63eda080'), decErr('f93c00'), decErr('c11a514b67b0'), decErr('9fff'), decErr('3b001fffffffffffff'), decErr('a201000100')],
  flips: [wrong, wrongHex, refused, goodAfter, swn * 8],
}));
`;

// Opt-in: ESPRUINO_BIN, the Espruino interpreter's Linux build (not an npm package); the run loads
// its pieces from Storage as a board does (test/xs/engine-run.ts), so it fits a Puck-sized pool.
const ESPRUINO = espruinoBin();
// Each loop runs once unmeasured first (Espruino builds some structures on a function's first call).
const ESPRUINO_WARMUP = 'pushMany(1); cborMany(1); frameMany(1);\n';
const ESPRUINO_STEPS = ['pushMany(1)', 'pushMany(20)', 'cborMany(1)', 'cborMany(50)', 'frameMany(1)', 'frameMany(5)'];

/** Engine-independent expectations on the CHECKS result (the cross-engine comparison is exact on top). */
function expectChecks(res: Record<string, unknown>): void {
  expect(res.crc).toBe(0x29b1);
  expect(res.cobs).toBe('0311220233'); // Wikipedia example 4 (11 22 00 33) without the delimiter
  expect(res.cborErr).toBe(0);
  expect(res.ints).toEqual([0, -5, 4294967296, -9007199254740991]);
  expect(res.textUtf8).toBe(Buffer.from('v\u00e4kt \u20ac \ud83d\ude00', 'utf8').toString('hex'));
  expect(res.textSame).toBe(true);
  expect(res.textLen).toBe(14);
  expect(res.rest).toEqual([true, null, 'a', 0, '00ff']);
  expect(res.hostile).toEqual([
    ERR_CBOR_DEPTH,
    ERR_CBOR_DEPTH,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
    ERR_CBOR,
  ]);
  // Single-bit flips, each followed by an idle 0x00: all refused but one, the residue-0 escape of
  // PROTOCOL.md §9 (delimiter 0x00 -> 0x01 delivers frame ‖ CRC-high-byte; here the CRC is 0x0939).
  const [wrong, wrongHex, refused, good, flips] = res.flips as [number, string, number, number, number];
  expect([wrong, wrongHex, good]).toEqual([1, '8101040000000a0006811a0109', 0]);
  expect(refused).toBeGreaterThanOrEqual(flips - 1);
}

describe('codecs on the target engines', () => {
  it('bundle stays inside the Espruino and XS feature sets', async () => {
    const code = await bundle(false);
    for (const engine of ['espruino', 'xs'] as const) {
      const vs = checkSource(code, engine, { module: false });
      expect(vs.map((v) => `${v.rule} ${v.module ?? ''}:${v.line} ${v.snippet}`)).toEqual([]);
    }
  });

  it('runs on Moddable XS: right answers, and no allocation that grows with the work done', async () => {
    const code = await bundle(true);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-codec-xs-'));
    try {
      fs.writeFileSync(path.join(dir, 'codec.js'), code);
      fs.writeFileSync(path.join(dir, 'setup.js'), SETUP);
      const steps = [
        ['pushMany(1)', 'pushMany(200)'],
        ['cborMany(1)', 'cborMany(2000)'],
        ['frameMany(1)', 'frameMany(500)'],
        ['allocMany(1)', 'allocMany(2000)'], // calibration: this one must show growth
      ];
      const args = [path.join(root, 'test/xs/run-xs.mjs'), path.join(dir, 'codec.js'), path.join(dir, 'setup.js')];
      for (const [a, b] of steps) args.push('--eval', a, '--eval', b);
      args.push('--eval', CHECKS);
      const stdout = execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000 });
      const heap = stdout
        .split('\n')
        .filter((l) => l.startsWith('@@xs-meter '))
        .map((l) => JSON.parse(l.slice('@@xs-meter '.length)).currentHeapCount as number);
      const growth = (step: number) => heap[step] - heap[step - 1];
      // Steps: 0 bundle, 1 setup, then pairs (small, large) starting at step 2.
      for (let p = 0; p < 3; p++) expect(growth(3 + 2 * p), steps[p][1]).toBe(growth(2 + 2 * p));
      expect(growth(9) - growth(8)).toBeGreaterThan(1000);

      const result = (out: string) =>
        JSON.parse(
          out
            .split('\n')
            .find((l) => l.startsWith('@@result '))!
            .slice('@@result '.length),
        );
      const res = result(stdout);
      // The same script on Node must give the same answers.
      let nodeOut = '';
      const script = SETUP + steps.flat().join(';\n') + ';\n' + CHECKS;
      new Function('VC', 'print', script)({ crc, cobs, serial, cbor }, (s: string) => (nodeOut += s + '\n'));
      expect(res).toEqual(result(nodeOut));
      expect(res.crc).toBe(0x29b1);
      expect(res.delivered).toBe(201 * 10);
      expect(res.lastLen).toBe(200);
      expect(res.crcErrors + res.framing).toBeGreaterThanOrEqual(201); // every noise burst is refused
      expect(res.oversize).toBe(0);
      expectChecks(res);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!ESPRUINO)(
    'runs on the Espruino interpreter (ESPRUINO_BIN), code from Storage: same answers as Node, memory flat',
    async () => {
      const code = await bundle(true);
      // Espruino usage is in variable blocks; reference counting frees temporaries at once, so this
      // catches retained allocations (leaks), while the XS test above catches transient ones.
      // Every variable the measurement uses exists before the first measurement.
      let steps = ESPRUINO_WARMUP + 'var mem = [' + ESPRUINO_STEPS.map(() => '0').join(', ') + '], u0 = 0, u1 = 0;\n';
      ESPRUINO_STEPS.forEach((st, k) => {
        steps += `u0 = process.memory().usage; ${st}; u1 = process.memory().usage; mem[${k}] = u1 - u0;\n`;
      });
      const pieces = ['--eval', code, '--eval', SETUP, '--eval', steps + "print('@@mem ' + JSON.stringify(mem));\n", '--eval', CHECKS];
      const run = await runEngine('espruino', pieces, 600_000);
      expect(run.code, run.stderr + run.stdout.slice(-500)).toBe(0);
      const stdout = run.stdout;
      const line = (p: string) =>
        stdout
          .split(/\r?\n/)
          .find((l) => l.startsWith(p))!
          .slice(p.length);
      const mem = JSON.parse(line('@@mem ')) as number[];
      for (let p = 0; p < mem.length; p += 2) expect(mem[p + 1], ESPRUINO_STEPS[p + 1]).toBe(mem[p]);
      const res = JSON.parse(line('@@result '));
      let nodeOut = '';
      const script = SETUP + ESPRUINO_WARMUP + ESPRUINO_STEPS.join(';\n') + ';\n' + CHECKS;
      new Function('VC', 'print', script)({ crc, cobs, serial, cbor }, (s: string) => (nodeOut += s + '\n'));
      expect(res).toEqual(
        JSON.parse(
          nodeOut
            .split('\n')
            .find((l) => l.startsWith('@@result '))!
            .slice('@@result '.length),
        ),
      );
      expectChecks(res);
    },
  );
});
