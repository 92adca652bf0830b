// The frame layer as the meter runs it: bundled by esbuild (es2015, like scripts/build-firmware.ts),
// checked against the Espruino and XS rule sets of scripts/engine-check.ts, then run on a real
// Moddable XS engine (@agoric/xsnap via test/xs/run-xs.mjs): it must rebuild the committed TEST
// vectors byte for byte from the master/link keys, refuse forgeries and replays, and seal/open
// without allocating (the XS heap slot count grows the same for 2 and for 300 frames).
import { describe, expect, it } from 'vitest';
import { bundleEntry } from '../xs/bundle-entry.ts';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkSource } from '../../scripts/engine-check.ts';
import { xsAvailable } from '../xs/engine-run.ts';

const root = path.resolve(__dirname, '../..');
const ENTRY = `
import * as ctx from './shared/src/ctx.ts';
import * as policy from './shared/src/policy.ts';
import * as frame from './shared/src/frame.ts';
import * as keys from './shared/src/keys.ts';
import * as seal from './shared/src/seal.ts';
import * as counter from './shared/src/counter.ts';
import * as replay from './shared/src/replay.ts';
import * as ku from './shared/src/keyupdate.ts';
globalThis.VF = { ctx: ctx, policy: policy, frame: frame, keys: keys, seal: seal, counter: counter, replay: replay, ku: ku };
`;

function bundle(minify: boolean): Promise<string> {
  return bundleEntry(ENTRY, 'frames-entry.ts', minify);
}

const e2e = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/e2e.json'), 'utf8'));
const link = JSON.parse(fs.readFileSync(path.join(root, 'test/vectors/link.json'), 'utf8'));
const reading = e2e.frames.find((v: { name: string }) => v.name === 'READING up');
const data = link.frames.find((v: { name: string }) => v.name.startsWith('DATA up meter'));

// Engine-neutral ES5 script: derive, seal, open; then loops that must not allocate.
const SETUP = `
var K = VF.keys, S = VF.seal, F = VF.frame, C = VF.counter, P = VF.policy;
function unhx(h) { var u = new Uint8Array(h.length / 2); for (var i = 0; i < u.length; i++) u[i] = parseInt(h.substring(2 * i, 2 * i + 2), 16); return u; }
function hx(u, off, len) { var D = '0123456789abcdef', s = ''; for (var i = off; i < off + len; i++) s += D.charAt(u[i] >> 4) + D.charAt(u[i] & 15); return s; }
var cx = VF.ctx.createCryptoCtx();
var meter = unhx('${e2e.testKeys.meterId}'), hes = unhx('${e2e.testKeys.hesId}'), conc = unhx('${e2e.testKeys.concentratorId}');
var mk = unhx('${e2e.testKeys.masterKey}'), lk = unhx('${e2e.testKeys.meterLinkKey}');
var tx = K.createKeySlot(F.E2E_VERSION, P.OP_READING, P.DIR_UP, 0, meter, hes);
K.loadE2eKeyFromMaster(cx, tx, mk, 0, meter);
tx.ctr = C.createSendCounter(${reading.counter}, 64, function (l) { return true; });
tx.ctr.sync = ${reading.counter}; // receiver in step: the short counter form (PROTOCOL.md §6)
var rx = K.createKeySlot(F.E2E_VERSION, P.OP_READING, P.DIR_UP, 0, hes, meter);
K.loadE2eKeyFromMaster(cx, rx, mk, 0, meter);
rx.last = ${reading.receiverLast};
var ltx = K.createKeySlot(F.LINK_VERSION, 0, P.DIR_UP, 0, meter, conc, ${data.addr});
K.loadLinkKey(cx, ltx, lk, 0, meter);
ltx.ctr = C.createSendCounter(${data.counter}, 64, function (l) { return true; });
ltx.ctr.sync = ${data.counter};
var lrx = K.createKeySlot(F.LINK_VERSION, 0, P.DIR_UP, 0, conc, meter, ${data.addr});
K.loadLinkKey(cx, lrx, lk, 0, meter);
lrx.last = ${data.receiverLast};
var body = unhx('${reading.body}');
var ef = new Uint8Array(F.MAX_E2E_FRAME), lf = new Uint8Array(F.MAX_LINK_FRAME), pt = new Uint8Array(F.MAX_BODY);
var hdr = F.createHeader();
var en = S.sealFrame(cx, tx, P.OP_READING, body, 0, body.length, ef, 0);
var eHex = hx(ef, 0, en);
var ln = S.sealFrame(cx, ltx, P.LINK_DATA, ef, 0, en, lf, 0);
var lHex = hx(lf, 0, ln);
var r1 = F.parseHeader(lf, 0, ln, hdr), o1 = S.openFrame(cx, hdr, lrx, lf, 0, pt, 0);
var r2 = F.parseHeader(pt, 0, o1, hdr), h2 = hdr.hdrLen, o2 = S.openFrame(cx, hdr, rx, pt, 0, pt, h2);
var opened = hx(pt, h2, o2);
var replayed = F.parseHeader(ef, 0, en, hdr) === 0 ? S.openFrame(cx, hdr, rx, ef, 0, pt, 0) : 1;
ef[en - 1] ^= 1;
var forged = F.parseHeader(ef, 0, en, hdr) === 0 ? S.openFrame(cx, hdr, rx, ef, 0, pt, 0) : 1;
ef[en - 1] ^= 1;
var bad = 0, rxs = [rx];
function frameMany(t) {
  for (var i = 0; i < t; i++) {
    var n = S.sealFrame(cx, tx, P.OP_READING, body, 0, body.length, ef, 0);
    if (F.parseHeader(ef, 0, n, hdr) !== 0 || S.openFrame(cx, hdr, rx, ef, 0, pt, 0) !== body.length) bad++;
    ef[n - 2] ^= 4;
    if (F.parseHeader(ef, 0, n, hdr) === 0 && S.openFrame(cx, hdr, rx, ef, 0, pt, 0) >= 0) bad++;
    if (K.findSlot(rxs, 1, hdr) < 0) bad++;
  }
}
var garbage = 0;
function allocMany(t) { for (var i = 0; i < t; i++) { var a = [i]; garbage += a.length; } }
`;
const RESULT = `print('@@result ' + JSON.stringify({ eHex: eHex, lHex: lHex, r1: r1, o1: o1, r2: r2, opened: opened, replayed: replayed, forged: forged, bad: bad }));`;

describe('frame layer on the target engines', () => {
  it('bundle stays inside the Espruino and XS feature sets', async () => {
    const code = await bundle(false);
    for (const engine of ['espruino', 'xs'] as const) {
      const vs = checkSource(code, engine, { module: false });
      expect(vs.map((v) => `${v.rule} ${v.module ?? ''}:${v.line} ${v.snippet}`)).toEqual([]);
    }
  });

  it.skipIf(!xsAvailable())(
    'runs on Moddable XS: rebuilds the vectors, refuses forgery and replay, allocates nothing per frame',
    async () => {
      const code = await bundle(true);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-frames-xs-'));
      try {
        fs.writeFileSync(path.join(dir, 'frames.js'), code);
        fs.writeFileSync(path.join(dir, 'setup.js'), SETUP);
        const args = [path.join(root, 'test/xs/run-xs.mjs'), path.join(dir, 'frames.js'), path.join(dir, 'setup.js')];
        for (const s of ['frameMany(2)', 'frameMany(300)', 'allocMany(1)', 'allocMany(2000)', RESULT]) args.push('--eval', s);
        const stdout = execFileSync(process.execPath, args, { cwd: root, encoding: 'utf8', timeout: 120_000 });
        const heap = stdout
          .split('\n')
          .filter((l) => l.startsWith('@@xs-meter '))
          .map((l) => JSON.parse(l.slice('@@xs-meter '.length)).currentHeapCount as number);
        // Steps: 0 bundle, 1 setup, 2 frameMany(2), 3 frameMany(300), 4 allocMany(1), 5 allocMany(2000).
        expect(heap[3] - heap[2]).toBeLessThanOrEqual(Math.max(0, heap[2] - heap[1]));
        expect(heap[5] - heap[4]).toBeGreaterThan(1000); // calibration: allocation is visible
        const res = JSON.parse(
          stdout
            .split('\n')
            .find((l) => l.startsWith('@@result '))!
            .slice('@@result '.length),
        );
        expect(res.eHex).toBe(reading.frame);
        expect(res.lHex).toBe(data.frame);
        expect([res.r1, res.o1, res.r2]).toEqual([0, reading.frame.length / 2, 0]);
        expect(res.opened).toBe(reading.body);
        expect(res.replayed).toBe(-9); // ERR_REPLAY
        expect(res.forged).toBe(-10); // ERR_TAG
        expect(res.bad).toBe(0);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
