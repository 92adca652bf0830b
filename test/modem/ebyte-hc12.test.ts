// E32/E22 and HC-12 configuration against the emulated modules: configuration as data written,
// read back, a refused value is a plain error naming the modem, the field and the value; the
// power above the band's limit is refused before anything is written; the test telegrams decode.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { findBand } from '../../host/src/modem/airtime.ts';
import { e22Registers, e32ConfigFrame, EbyteDriver, E32_MAX_PAYLOAD } from '../../host/src/modem/ebyte.ts';
import { Hc12Driver, hc12Commands } from '../../host/src/modem/hc12.ts';
import { RadioChannel } from '../../host/src/modem/emu/channel.ts';
import { EmuEbyte, EmuHc12 } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';

/** Independent E32 encoder from the manual's table (SPED: parity 7-6, UART 5-3, air 2-0). */
function refE32(addr: number, airCode: number, chan: number, powerCode: number, save: boolean): number[] {
  return [save ? 0xc0 : 0xc2, addr >> 8, addr & 0xff, 0b00_011_000 | airCode, chan, 0b0100_0100 | powerCode];
}

describe('E32 / E22 configuration', () => {
  it("the E32 frame matches the manual's table for every rate, channel, power and address", () => {
    const rates = [300, 1200, 2400, 4800, 9600, 19200];
    const powers = [20, 17, 14, 10];
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 0, max: 31 }),
        fc.integer({ min: 0, max: 3 }),
        fc.boolean(),
        (addr, r, chan, p, save) => {
          expect([...e32ConfigFrame({ address: addr, airRate: rates[r]!, channel: chan, powerDbm: powers[p]! }, save)]).toEqual(
            refE32(addr, r, chan, p, save),
          );
        },
      ),
    );
  });

  it('decodes the factory-default test telegram C0 00 00 1A 17 44 and re-encodes it', () => {
    const t = [0xc0, 0x00, 0x00, 0x1a, 0x17, 0x44];
    expect((t[3]! >> 3) & 7).toBe(0b011); // 9600
    expect(t[3]! & 7).toBe(2); // 2.4k
    expect(410 + t[4]!).toBe(433); // MHz on an E32-433
    expect([...e32ConfigFrame({ address: 0, airRate: 2400, channel: 0x17, powerDbm: 20 }, true)]).toEqual(t);
  });

  it('refuses values the modules do not have, and a power above the band', () => {
    expect(() => e32ConfigFrame({ address: 0, airRate: 2500, channel: 1, powerDbm: 20 }, false)).toThrow('E32: no air rate 2500');
    expect(() => e32ConfigFrame({ address: 0, airRate: 2400, channel: 40, powerDbm: 20 }, false)).toThrow('channel 40 out of 0..31');
    expect(() => e22Registers({ address: 0, airRate: 2400, channel: 1, powerDbm: 22, subPacket: 100 })).toThrow('no sub-packet length 100');
    const sched = new SimScheduler();
    const m = new EmuEbyte(new RadioChannel(sched, { seed: 1 }), 'e32');
    expect(
      () =>
        new EbyteDriver(
          'e32',
          m.uart,
          m.pins,
          { address: 0, channel: 6, airRate: 2400, powerDbm: 20 },
          { name: '/dev/ttyUSB0', band: findBand('eu868-g'), timers: sched },
        ),
    ).toThrow('E32 on /dev/ttyUSB0: 20 dBm exceeds the 14 dBm band eu868-g allows');
  });

  for (const model of ['e32', 'e22'] as const) {
    it(`${model}: writes, reads back, returns to normal mode and sends within the packet limit`, async () => {
      const sched = new SimScheduler();
      const ch = new RadioChannel(sched, { seed: 1 });
      const a = new EmuEbyte(ch, model);
      const b = new EmuEbyte(ch, model);
      const cfg = { address: 0x1234, channel: 0x17, airRate: 2400, powerDbm: model === 'e32' ? 14 : 13, subPacket: 64 };
      const da = new EbyteDriver(model, a.uart, a.pins, cfg, { name: 'a', band: findBand('eu868-g'), timers: sched });
      const db = new EbyteDriver(model, b.uart, b.pins, cfg, { name: 'b', band: findBand('eu868-g'), timers: sched });
      await sched.settle(da.start());
      await sched.settle(db.start());
      expect(da.maxPayload).toBe(model === 'e32' ? E32_MAX_PAYLOAD : 64);
      expect(a.tuning()).toBe(b.tuning());
      const got: Uint8Array[] = [];
      db.onPacket((p) => got.push(p));
      const p1 = Uint8Array.from({ length: da.maxPayload }, (_, i) => i);
      const p2 = Uint8Array.of(0xc1, 2, 3);
      expect(da.send(p1)).toBe('queued');
      expect(da.send(p2)).toBe('queued');
      expect(da.send(new Uint8Array(da.maxPayload + 1))).toBe('oversize');
      sched.runUntil(sched.now() + 5000);
      expect(got).toEqual([p1, p2]);
      // The driver waited for AUX between the packets: the channel saw two transmissions, not one merged packet.
      expect(ch.stats.transmissions).toBe(2);
    });

    it(`${model}: a channel the module does not accept is a plain error`, async () => {
      const sched = new SimScheduler();
      const m = new EmuEbyte(new RadioChannel(sched, { seed: 1 }), model, { stubborn: 'channel' });
      const d = new EbyteDriver(
        model,
        m.uart,
        m.pins,
        { address: 0, channel: model === 'e32' ? 0x06 : 0x17, airRate: 2400, powerDbm: 10 },
        { name: '/dev/ttyUSB0', band: findBand('eu868-g'), timers: sched },
      );
      const want =
        model === 'e32'
          ? 'E32 on /dev/ttyUSB0 did not accept channel 0x06 (reads back 0x17)'
          : 'E22 on /dev/ttyUSB0 did not accept channel 0x17 (reads back 0x12)';
      await expect(sched.settle(d.start())).rejects.toThrow(want);
    });
  }
});

describe('HC-12 configuration', () => {
  it('sends the AT commands and checks AT+RX; a refused channel is a plain error', async () => {
    const sched = new SimScheduler();
    const ch = new RadioChannel(sched, { seed: 1 });
    const m = new EmuHc12(ch);
    const d = new Hc12Driver(
      m.uart,
      m.pins,
      { channel: 17, mode: 3, powerDbm: 8, baud: 9600 },
      { name: '/dev/ttyUSB1', band: findBand('eu433'), timers: sched },
    );
    await sched.settle(d.start());
    expect(m.channelNo).toBe(17);
    expect(m.power).toBe(4);
    const s = new EmuHc12(ch, { stubborn: 'channel' });
    const ds = new Hc12Driver(
      s.uart,
      s.pins,
      { channel: 17, mode: 3, powerDbm: 8, baud: 9600 },
      { name: '/dev/ttyUSB2', band: findBand('eu433'), timers: sched },
    );
    await expect(sched.settle(ds.start())).rejects.toThrow('HC-12 on /dev/ttyUSB2 did not accept C017 (answered "OK+C001")');
  });

  it('refuses the factory +20 dBm in the EU 433 MHz band (10 mW)', () => {
    const sched = new SimScheduler();
    const m = new EmuHc12(new RadioChannel(sched, { seed: 1 }));
    expect(
      () =>
        new Hc12Driver(
          m.uart,
          m.pins,
          { channel: 1, mode: 3, powerDbm: 20, baud: 9600 },
          { name: 'x', band: findBand('eu433'), timers: sched },
        ),
    ).toThrow('20 dBm exceeds the 10 dBm band eu433');
  });

  it('decodes the AT+RX test telegram and builds the commands', () => {
    const tel = 'OK+B9600\r\nOK+RC001\r\nOK+RP:+20dBm\r\nOK+FU3\r\n';
    const f = Object.fromEntries(
      tel
        .trim()
        .split('\r\n')
        .map((l) => {
          const m = /^OK\+(B|RC|RP:|FU)(.*)$/.exec(l)!;
          return [m[1], m[2]];
        }),
    );
    expect(f).toEqual({ B: '9600', RC: '001', 'RP:': '+20dBm', FU: '3' });
    expect(hc12Commands({ channel: 1, mode: 3, powerDbm: 20, baud: 9600 }).map((c) => c.cmd)).toEqual([
      'AT+B9600',
      'AT+C001',
      'AT+FU3',
      'AT+P8',
    ]);
  });
});
