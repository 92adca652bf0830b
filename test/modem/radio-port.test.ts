// The firmware's SerialPort over a packet modem: serial frames of any size arrive whole (fragmented
// and reassembled when larger than a packet), a frame whose fragment is lost never arrives partly,
// a meter ignores fragments naming others, and garbage from the firmware side is counted, not sent.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeSerialFrame, serialEncodedMaxLen } from '../../shared/src/serial.ts';
import { findBand } from '../../host/src/modem/airtime.ts';
import { RadioChannel, type ChannelOptions } from '../../host/src/modem/emu/channel.ts';
import { emulatedModem, type RadioKind } from '../../host/src/modem/emu/index.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';
import { RadioPort } from '../../host/src/modem/radio-port.ts';

function wire(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(serialEncodedMaxLen(frame.length));
  return out.slice(0, encodeSerialFrame(frame, 0, frame.length, out, 0));
}

async function pair(kind: RadioKind, ch: ChannelOptions = { seed: 1 }) {
  const sched = new SimScheduler();
  const channel = new RadioChannel(sched, ch);
  const a = emulatedModem(kind, channel, { name: 'a', band: findBand('lab') });
  const b = emulatedModem(kind, channel, { name: 'b', band: findBand('lab') });
  await sched.settle(a.driver.start());
  await sched.settle(b.driver.start());
  const pa = new RadioPort(a.driver, { shortAddr: Uint8Array.of(0, 1) });
  const pb = new RadioPort(b.driver, { shortAddr: Uint8Array.of(0, 2) });
  const got: number[] = [];
  pb.onData((c) => got.push(...c));
  return { sched, channel, pa, pb, got };
}

describe('RadioPort', () => {
  for (const kind of ['e32', 'e22', 'xbee', 'packet', 'hc12', 'transparent'] as RadioKind[]) {
    it(`${kind}: frames of 1..1000 bytes arrive byte-identical, in order`, async () => {
      const { sched, pa, got } = await pair(kind);
      await fc.assert(
        fc.asyncProperty(fc.array(fc.uint8Array({ minLength: 1, maxLength: 1000 }), { minLength: 1, maxLength: 3 }), async (frames) => {
          got.length = 0;
          const want: number[] = [];
          for (const f of frames) {
            const w = wire(f);
            want.push(...w);
            pa.write(w.subarray(0, 3));
            pa.write(w.subarray(3));
          }
          sched.runUntil(sched.now() + 120_000);
          expect(got).toEqual(want);
        }),
        { numRuns: 8 },
      );
    });
  }

  it('e32: a unit missing one fragment is never delivered in part; the next one is whole', async () => {
    const { sched, channel, pa, pb, got } = await pair('e32');
    const big = wire(Uint8Array.from({ length: 200 }, (_, i) => i + 1));
    (channel.o as { loss?: number }).loss = 1; // the whole unit is lost
    pa.write(big);
    sched.runUntil(sched.now() + 60_000);
    (channel.o as { loss?: number }).loss = 0;
    pa.write(big);
    sched.runUntil(sched.now() + 60_000);
    expect(got).toEqual([...big]);
    expect(pb.reassembler!.done).toBe(1);
  });

  it('counts a firmware write that is not a serial frame instead of sending it', async () => {
    const { sched, channel, pa } = await pair('e32');
    pa.write(Uint8Array.of(5, 1, 2, 0)); // COBS code 5 runs past the end
    sched.runUntil(sched.now() + 10_000);
    expect(pa.stats.badFrames).toBe(1);
    expect(channel.stats.transmissions).toBe(0);
  });

  it('a meter ignores fragments that name another device', async () => {
    const sched = new SimScheduler();
    const channel = new RadioChannel(sched, { seed: 1 });
    const [a, b] = [
      emulatedModem('e32', channel, { name: 'a', band: findBand('lab') }),
      emulatedModem('e32', channel, { name: 'b', band: findBand('lab') }),
    ];
    await sched.settle(a.driver.start());
    await sched.settle(b.driver.start());
    const pa = new RadioPort(a.driver, { shortAddr: Uint8Array.of(0, 7) });
    const pb = new RadioPort(b.driver, { shortAddr: Uint8Array.of(0, 2), accept: (x, o) => x[o] === 0 && x[o + 1] === 2 });
    const got: number[] = [];
    pb.onData((c) => got.push(...c));
    pa.write(wire(new Uint8Array(150).fill(9)));
    sched.runUntil(sched.now() + 60_000);
    expect(got).toEqual([]);
    expect(pb.stats.fragmentsIgnored).toBe(3);
    expect(pb.reassembler!.held()).toBe(0);
  });
});
