// LoRa time on air against a second implementation written here from the datasheet formula and
// commonly quoted calculator values; the duty-cycle budget (exact sliding hour); the driver never
// puts more airtime on the channel than its band allows (checked on the channel's own log); the
// generic packet radio's framing; the seeded channel replays.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DutyCycleBudget, findBand, loraTimeOnAirMs, type LoraParams } from '../../host/src/modem/airtime.ts';
import { encodePacketFrame, PacketRadioDriver } from '../../host/src/modem/packet.ts';
import { RadioChannel } from '../../host/src/modem/emu/channel.ts';
import { emulatedModem } from '../../host/src/modem/emu/index.ts';
import { EmuPacketRadio } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';

/** Second implementation: count symbols as the SX1276 datasheet §4.1.1.6 describes, in seconds. */
function refToA(sf: number, bw: number, cr: number, pl: number, preamble: number, crcOn: boolean, explicit: boolean): number {
  const ts = Math.pow(2, sf) / bw;
  const ldro = ts > 0.016;
  const tPre = (preamble + 4.25) * ts;
  const numerator = 8 * pl - 4 * sf + 28 + (crcOn ? 16 : 0) - (explicit ? 0 : 20);
  const denominator = 4 * (sf - (ldro ? 2 : 0));
  const extra = Math.max(Math.ceil(numerator / denominator) * (cr + 4), 0);
  return (tPre + (8 + extra) * ts) * 1000;
}

const lora = (sf: number, bwHz: number): LoraParams => ({ kind: 'lora', sf, bwHz, cr: 1, preamble: 8, crc: true, implicitHeader: false });

describe('LoRa time on air', () => {
  it('agrees with the second implementation for every SF, bandwidth, coding rate and length', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 6, max: 12 }),
        fc.constantFrom(125_000, 250_000, 500_000),
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 255 }),
        fc.boolean(),
        (sf, bw, cr, pl, ih) => {
          const p: LoraParams = { kind: 'lora', sf, bwHz: bw, cr, preamble: 8, crc: true, implicitHeader: ih };
          expect(loraTimeOnAirMs(p, pl)).toBeCloseTo(refToA(sf, bw, cr, pl, 8, true, !ih), 9);
        },
      ),
    );
  });

  it('matches calculator values quoted for LoRaWAN (13-byte PHY payload, 125 kHz, CR 4/5)', () => {
    expect(loraTimeOnAirMs(lora(7, 125_000), 13)).toBeCloseTo(46.3, 1);
    expect(loraTimeOnAirMs(lora(12, 125_000), 13)).toBeCloseTo(1155.1, 1);
  });
});

describe('duty-cycle budget', () => {
  it('allows exactly 1 % of any hour on eu868-g and says when the next packet may go', () => {
    const b = new DutyCycleBudget(findBand('eu868-g'));
    expect(b.limitMs).toBe(36_000);
    let t = 0;
    for (let i = 0; i < 36; i++) {
      expect(b.check(t, 1000).ok).toBe(true);
      b.record(t, 1000);
      t += 1000;
    }
    const d = b.check(t, 1000);
    expect(d.ok).toBe(false);
    expect(d.ok === false && d.retryAtMs).toBe(3600_000); // the first second leaves the window
    expect(b.check(3600_000, 1000).ok).toBe(true);
    expect(b.check(0, 40_000)).toEqual({ ok: false, retryAtMs: Infinity });
  });

  it('lab has no limit, and only when named', () => {
    expect(new DutyCycleBudget(findBand('lab')).check(0, 1e9).ok).toBe(true);
    expect(() => findBand('none')).toThrow('unknown band "none"');
  });

  it('an E32 on eu868-g never exceeds 36 s in any hour on the air, however much it is asked to send', async () => {
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed: 3 });
    const m = emulatedModem('e32', ch, { name: 'm', band: findBand('eu868-g'), maxWaitMs: 600_000 });
    await sched.settle(m.driver.start());
    // Offer ~4× the budget over three hours.
    sched.every(2000, () => {
      m.driver.send(new Uint8Array(58).fill(7));
    });
    sched.runUntil(sched.now() + 3 * 3600_000);
    const worst = ch.maxWindowAirtime(m.module, 3600_000);
    expect(worst).toBeLessThanOrEqual(36_000);
    expect(worst).toBeGreaterThan(30_000);
    expect(m.driver.stats.refusedQueue + m.driver.stats.refusedBudget).toBeGreaterThan(0);
  });
});

describe('generic packet radio', () => {
  it('frames like the table and survives any chunking', async () => {
    expect([...encodePacketFrame(Uint8Array.of(0xc1, 0xab, 0xcd), 0xffff)]).toEqual([5, 0xff, 0xff, 0xc1, 0xab, 0xcd]);
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed: 1 });
    const mod = { kind: 'fsk' as const, bps: 38_400, overheadBytes: 9 };
    const a = new EmuPacketRadio(ch, mod, 61, true, true);
    const b = new EmuPacketRadio(ch, mod, 61, true, true);
    const da = new PacketRadioDriver(
      a.uart,
      { maxPayload: 61, modulation: mod, address: 0xffff },
      { name: 'a', band: findBand('lab'), timers: sched },
    );
    const db = new PacketRadioDriver(
      b.uart,
      { maxPayload: 61, modulation: mod, address: 0xffff },
      { name: 'b', band: findBand('lab'), timers: sched },
    );
    await da.start();
    await db.start();
    const got: Uint8Array[] = [];
    db.onPacket((p) => got.push(p));
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 61 }), { minLength: 1, maxLength: 5 }), (ps) => {
        got.length = 0;
        for (const p of ps) da.send(p);
        sched.runUntil(sched.now() + 2000);
        expect(got).toEqual(ps);
      }),
      { numRuns: 30 },
    );
  });
});

describe('emulated channel', () => {
  async function run(seed: number) {
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed, loss: 0.2, ber: 1e-3, duplicate: 0.05, reorder: 0.05 });
    const hc = [
      emulatedModem('hc12', ch, { name: 'a', band: findBand('lab') }),
      emulatedModem('hc12', ch, { name: 'b', band: findBand('lab') }),
    ];
    for (const m of hc) await sched.settle(m.driver.start());
    const got: number[] = [];
    hc[1]!.driver.onPacket((p) => got.push(...p));
    for (let i = 0; i < 200; i++) sched.after(i * 500, () => hc[0]!.driver.send(Uint8Array.of(i & 0xff, 1, 2, 3, 4, 5, 6, 7)));
    sched.runUntil(sched.now() + 200_000);
    return { stats: { ...ch.stats }, got };
  }

  it('replays exactly with the same seed, and differs with another', async () => {
    const a = await run(42);
    const b = await run(42);
    const c = await run(43);
    expect(b).toEqual(a);
    expect(c.stats).not.toEqual(a.stats);
    // 20 % loss: between 10 and 30 % of 200 packets lost; HC-12 has no CRC, so bit errors reach the host.
    expect(a.stats.lost).toBeGreaterThan(20);
    expect(a.stats.lost).toBeLessThan(60);
    expect(a.stats.corruptedDelivered).toBeGreaterThan(0);
    expect(a.stats.duplicated).toBeGreaterThan(0);
  });

  it('overlapping senders collide; a transmitting radio hears nothing (half-duplex)', async () => {
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed: 1 });
    const ms = [0, 1, 2].map((i) => emulatedModem('e32', ch, { name: `m${i}`, band: findBand('lab') }));
    for (const m of ms) await sched.settle(m.driver.start());
    const heard = [0, 0, 0];
    ms.forEach((m, i) =>
      m.driver.onPacket(() => {
        heard[i]!++;
      }),
    );
    ms[0]!.driver.send(new Uint8Array(40).fill(1));
    ms[1]!.driver.send(new Uint8Array(40).fill(2));
    sched.runUntil(sched.now() + 5000);
    expect(heard).toEqual([0, 0, 0]);
    expect(ch.stats.deaf).toBe(2);
    expect(ch.stats.collided).toBe(2);
    ms[0]!.driver.send(new Uint8Array(40).fill(3));
    sched.runUntil(sched.now() + 5000);
    expect(heard).toEqual([0, 1, 1]);
  });
});
