// Bounded memory in steady state, measured on Moddable XS: after a warm-up, 40, 80 and 120 more
// authenticated command round trips (each: link DATA in, LINK_ACK + response out, replay state
// persisted) leave the live heap (after gc) where it was. The garbage per round trip is printed
// for the record, not asserted to be zero. The port counts frames by their 0x00 delimiters: the
// meter writes a frame through a small scratch, possibly in several writes.
import { describe, it, expect } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runEngine, xsAvailable } from '../xs/engine-run.ts';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { METER_ADDR, makeWorld } from './harness.ts';
import { createCryptoCtx } from '@vakt/shared/ctx';
import { createKeySlot, loadE2eKeyFromMaster, loadLinkKey } from '@vakt/shared/keys';
import { createSendCounter } from '@vakt/shared/counter';
import { sealFrame } from '@vakt/shared/seal';
import { encodeSerialFrame, serialEncodedMaxLen } from '@vakt/shared/serial';
import { encodeValue } from '@vakt/shared/cbor';
import { E2E_VERSION, LINK_VERSION, MAX_LINK_FRAME } from '@vakt/shared/frame';
import { DIR_DOWN, LINK_DATA, OP_READ } from '@vakt/shared/policy';

const COMMANDS = 260;

function commandFrames(): { prov: string; frames: string[] } {
  const w = makeWorld();
  const ctx = createCryptoCtx();
  const e2e = createKeySlot(E2E_VERSION, OP_READ, DIR_DOWN, 0, w.id.hes, w.id.meter);
  loadE2eKeyFromMaster(ctx, e2e, w.mk, 0, w.id.meter);
  e2e.ctr = createSendCounter(0, 64, () => true);
  const link = createKeySlot(LINK_VERSION, 0, DIR_DOWN, 0, w.id.conc, w.id.meter, METER_ADDR);
  loadLinkKey(ctx, link, w.meterLk, 0, w.id.meter);
  link.ctr = createSendCounter(0, 64, () => true);
  const frames: string[] = [];
  for (let i = 0; i < COMMANDS; i++) {
    const body = new Uint8Array(32);
    const n = encodeValue([i + 1, 1], body, 0);
    const a = new Uint8Array(MAX_LINK_FRAME);
    const m = sealFrame(ctx, e2e, OP_READ, body, 0, n, a, 0);
    const b = new Uint8Array(MAX_LINK_FRAME);
    const l = sealFrame(ctx, link, LINK_DATA, a, 0, m, b, 0);
    const s = new Uint8Array(serialEncodedMaxLen(l));
    frames.push(Buffer.from(s.subarray(0, encodeSerialFrame(b, 0, l, s, 0))).toString('hex'));
  }
  return { prov: Buffer.from(w.meterProv).toString('hex'), frames };
}

describe.skipIf(!xsAvailable())('meter steady-state heap on Moddable XS', () => {
  it('the live heap does not grow over hundreds of command round trips', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-heap-'));
    try {
      await buildFirmware({ outDir: dir, only: ['meter'] });
      const { prov, frames } = commandFrames();
      // A board whose storage rewrites records in place and whose port only counts: the app's own allocations are what is left.
      const setup = `
        function fromHex(s) { var b = new Uint8Array(s.length / 2); for (var i = 0; i < b.length; i++) b[i] = parseInt(s.substr(2 * i, 2), 16); return b; }
        var F = ${JSON.stringify(frames)}.map(fromHex);
        var recs = {}; recs.r_prov = fromHex('${prov}');
        var sent = 0;
        var board = { profile: { name: 'heap', engine: 'xs' }, serial: [{ write: function (d) { for (var j = 0; j < d.length; j++) if (d[j] === 0) sent++; }, onData: function () {} }],
          storage: { read: function (n) { return recs['r_' + n]; },
            write: function (n, d) { var r = recs['r_' + n]; if (r === undefined || r.length !== d.length) { r = new Uint8Array(d.length); recs['r_' + n] = r; } r.set(d); },
            erase: function (n) { delete recs['r_' + n]; } },
          clock: { now: function () { return 1800000000; }, set: function () {}, every: function () { return 0; } },
          pins: { relay: function () {}, onPulse: function () {}, onTamper: function () {} }, log: function () {} };
        var app = VaktMeter.startMeter(board, { attach: false });`;
      const deliver = (a: number, b: number) =>
        `for (var i = ${a}; i < ${b}; i++) app.onSerial(F[i]); gc(); print('@@sent ' + sent + ' ' + app.stats.commands);`;
      const r = await runEngine('xs', [
        path.join(dir, 'meter.js'),
        '--eval',
        setup,
        '--eval',
        deliver(0, 20),
        '--eval',
        deliver(20, 60),
        '--eval',
        deliver(60, 140),
        '--eval',
        deliver(140, 260),
      ]);
      expect(r.code, r.stderr).toBe(0);
      const sent = r.stdout
        .split('\n')
        .filter((l) => l.startsWith('@@sent'))
        .map((l) => l.split(' ').slice(1).map(Number));
      expect(sent[sent.length - 1]).toEqual([2 * COMMANDS + 1, COMMANDS]); // boot event + (LINK_ACK, response) per command
      const heap = r.meters.map((m) => m.currentHeapCount!);
      // meters: [bundle, setup, warm-up, +40, +80, +120]
      const base = heap[3];
      expect(heap[4] - base).toBeLessThanOrEqual(4);
      expect(heap[5] - base).toBeLessThanOrEqual(4);
      console.log(`XS live heap slots after gc: ${heap.slice(2).join(', ')} (warm-up, +40, +80, +120 commands)`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
