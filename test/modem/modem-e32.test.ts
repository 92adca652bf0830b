// The firmware-side E32 driver (boards/src/espruino/modem-e32.ts) under Node: Espruino's functions
// are fakes on simulated time, its UART and pins are an emulated E32 (host/src/modem/emu) on an
// emulated channel, and the other end is the host's EbyteDriver + RadioPort — an independent
// implementation of the same packets and fragments.
import { describe, expect, it } from 'vitest';
import { createE32Serial, describeE32, type E32Io, type E32Serial } from '../../boards/src/espruino/modem-e32.ts';
import { decodeE32Config, e32ConfigFrame, E32_DEFAULT } from '../../boards/src/common/ebyte.ts';
import type { ModemProfile } from '../../boards/src/types.ts';
import { cobsDecode, cobsEncode, cobsMaxEncodedLen } from '../../shared/src/cobs.ts';
import { DUTY_WINDOW_MS, findBand } from '../../host/src/modem/airtime.ts';
import { EbyteDriver } from '../../host/src/modem/ebyte.ts';
import { RadioChannel, type ChannelOptions } from '../../host/src/modem/emu/channel.ts';
import { EmuEbyte, type Stubborn } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';
import { RadioPort } from '../../host/src/modem/radio-port.ts';

const PROFILE: ModemProfile = {
  kind: 'e32',
  band: 'eu868-g',
  pins: { m0: 'A5', m1: 'A6', aux: 'A7' },
  config: { channel: 6, airRate: 2400, powerDbm: 14 },
};
/** Board pin names → the emulated module's pins. */
const PIN_OF: { [pin: string]: string } = { A5: 'm0', A6: 'm1', A7: 'aux' };

interface Rig {
  sched: SimScheduler;
  ch: RadioChannel;
  mod: EmuEbyte;
  drv: E32Serial;
  /** Serial frames the driver handed to the firmware. */
  toFirmware: Uint8Array[];
  printed: string[];
  /** AUX level at every UART write in normal mode. */
  auxAtWrite: boolean[];
  host: { driver: EbyteDriver; port: RadioPort; frames: Uint8Array[] };
}

async function rig(
  profile: ModemProfile = PROFILE,
  o: { channel?: Partial<ChannelOptions>; stubborn?: Stubborn['stubborn'] } = {},
): Promise<Rig> {
  const sched = new SimScheduler(1_800_000_000_000);
  const ch = new RadioChannel(sched, { seed: 7, ...o.channel });
  const mod = new EmuEbyte(ch, 'e32', o.stubborn === undefined ? {} : { stubborn: o.stubborn });
  const printed: string[] = [];
  const auxAtWrite: boolean[] = [];
  const io: E32Io = {
    pin: (n) => PIN_OF[String(n)],
    digitalWrite: (p, v) => {
      void mod.pins.set(p as string, v === 1);
    },
    digitalRead: (p) => mod.pins.get(p as string) as boolean,
    setTimeout: (cb, ms) => sched.after(ms, cb),
    clearTimeout: (h) => sched.cancel(h),
    getTime: () => sched.now() / 1000,
    toUint8Array: (d) => d as Uint8Array,
    print: (m) => {
      printed.push(m);
    },
  };
  const uart = {
    setup: () => undefined,
    write: (d: Uint8Array) => {
      if (!(mod.pins.get('m0') as boolean)) auxAtWrite.push(mod.pins.get('aux') as boolean);
      mod.uart.write(d);
    },
    on: (_ev: 'data', cb: (d: string | Uint8Array) => void) => {
      mod.uart.onData(cb);
    },
  };
  const drv = createE32Serial(uart, profile, io, 'Serial1');
  const toFirmware: Uint8Array[] = [];
  drv.on('data', (d) => {
    toFirmware.push((d as Uint8Array).slice());
  });
  drv.setup(9600, {});
  // The other end: the host driver and RadioPort on a second emulated module.
  const hmod = new EmuEbyte(ch, 'e32');
  const driver = new EbyteDriver('e32', hmod.uart, hmod.pins, { ...E32_DEFAULT, ...profile.config } as typeof E32_DEFAULT, {
    name: 'host',
    band: findBand('lab'),
    timers: sched,
  });
  await sched.settle(driver.start());
  const port = new RadioPort(driver, { shortAddr: Uint8Array.of(0, 0) });
  const frames: Uint8Array[] = [];
  port.onData((c) => {
    frames.push(c.slice());
  });
  sched.runUntil(sched.now() + 2000);
  return { sched, ch, mod, drv, toFirmware, printed, auxAtWrite, host: { driver, port, frames } };
}

/** A serial frame (COBS ‖ 0x00) of `unit`. */
function serialFrame(unit: Uint8Array): Uint8Array {
  const out = new Uint8Array(cobsMaxEncodedLen(unit.length) + 1);
  const n = cobsEncode(unit, 0, unit.length, out, 0);
  return out.slice(0, n + 1);
}

function unitOf(frame: Uint8Array): Uint8Array {
  const out = new Uint8Array(frame.length);
  const n = cobsDecode(frame, 0, frame.length - 1, out, 0);
  return out.slice(0, n);
}

/** A v2 hop frame look-alike of `len` bytes: first byte `b0`, short address 0x0005, then a pattern. */
function hopUnit(b0: number, len: number, salt = 0): Uint8Array {
  const u = new Uint8Array(len);
  u[0] = b0;
  u[1] = 0x00;
  u[2] = 0x05;
  for (let i = 3; i < len; i++) u[i] = (i * 31 + salt) & 0xff || 1;
  return u;
}

describe('E32 firmware driver: test telegram and configuration', () => {
  it('decodes the factory configuration C0 00 00 1A 17 44 (E32 manual §7) and re-encodes it', () => {
    const t = Uint8Array.of(0xc0, 0x00, 0x00, 0x1a, 0x17, 0x44);
    expect(decodeE32Config(t)).toEqual({ address: 0, channel: 0x17, airRate: 2400, powerDbm: 20 });
    expect([...e32ConfigFrame(decodeE32Config(t)!, true)]).toEqual([...t]);
    expect(describeE32(t)).toBe('address 0x0, channel 23, 2400 bit/s, 20 dBm');
  });

  it("writes the profile's configuration in config mode (M0 = M1 = 1), reads it back and goes to normal mode", async () => {
    const r = await rig();
    expect(r.drv.state()).toBe('ready');
    expect([...r.mod.params]).toEqual([...e32ConfigFrame({ address: 0, channel: 6, airRate: 2400, powerDbm: 14 }, false).subarray(1)]);
    expect([r.mod.pins.get('m0'), r.mod.pins.get('m1')]).toEqual([false, false]);
    expect(r.printed).toEqual([]);
  });

  it('a value the module does not take is one plain line, and then nothing goes on air', async () => {
    const r = await rig(PROFILE, { stubborn: 'channel' });
    expect(r.drv.state()).toBe('failed');
    expect(r.drv.error()).toBe('E32 on Serial1 did not accept channel 0x06 (reads back 0x17)');
    expect(r.printed).toEqual([r.drv.error()]);
    const before = r.ch.stats.transmissions;
    r.drv.write(serialFrame(hopUnit(0x41, 20)));
    r.sched.runUntil(r.sched.now() + 10_000);
    expect(r.ch.stats.transmissions).toBe(before);
    expect(r.drv.stats.refusedNotReady).toBe(1);
  });

  it('refuses a profile without a band or pin, or with a power above the band, before touching the module', () => {
    const io = {} as E32Io;
    const uart = { setup: () => undefined, write: () => undefined, on: () => undefined };
    expect(() => createE32Serial(uart, { ...PROFILE, band: undefined }, { ...io, pin: (n) => n }, 'Serial1')).toThrow('names no band');
    expect(() => createE32Serial(uart, { ...PROFILE, pins: { m0: 'A5', m1: 'A6' } }, { ...io, pin: (n) => n }, 'Serial1')).toThrow(
      'maps no pin "aux"',
    );
    expect(() => createE32Serial(uart, { ...PROFILE, config: { powerDbm: 20 } }, { ...io, pin: (n) => n }, 'Serial1')).toThrow(
      '20 dBm exceeds the 14 dBm band eu868-g allows',
    );
  });
});

describe('E32 firmware driver: frames over the air, against the host RadioPort', () => {
  it('a short frame goes as one packet, a long one as fragments the host reassembles, byte for byte', async () => {
    const r = await rig();
    const short = hopUnit(0x41, 35);
    const long = hopUnit(0x41, 300, 1);
    r.drv.write(serialFrame(short));
    const lf = serialFrame(long);
    r.drv.write(lf.subarray(0, 100)); // a frame may come in several writes
    r.drv.write(lf.subarray(100));
    r.sched.runUntil(r.sched.now() + 60_000);
    expect(r.host.frames.map(unitOf)).toEqual([short, long]);
    expect(r.drv.stats.packetsSent).toBe(1 + Math.ceil(300 / 54));
    // Every packet went to the module while AUX was high.
    expect(r.auxAtWrite.length).toBe(r.drv.stats.packetsSent);
    expect(r.auxAtWrite.every((x) => x)).toBe(true);
  });

  it('units from the host (one packet, fragments) reach the firmware as serial frames', async () => {
    const r = await rig();
    const a = hopUnit(0x51, 40);
    const b = hopUnit(0x51, 250, 2);
    r.host.port.write(serialFrame(a));
    r.host.port.write(serialFrame(b));
    r.sched.runUntil(r.sched.now() + 60_000);
    expect(r.toFirmware.map(unitOf)).toEqual([a, b]);
  });

  it("a command's response written while the command is handled goes in replyCopies copies; the host keeps one", async () => {
    const r = await rig({ ...PROFILE, replyCopies: 2 });
    r.drv.on('data', () => {
      r.drv.write(serialFrame(hopUnit(0x41, 30, 3)));
    });
    r.host.port.write(serialFrame(hopUnit(0x51, 20)));
    r.sched.runUntil(r.sched.now() + 60_000);
    expect(r.drv.stats.packetsSent).toBe(2);
    expect(r.host.frames.length).toBe(1);
    expect(r.host.port.stats.unitCopies).toBe(1);
  });

  it("keeps the 1 % duty cycle of eu868-g on the channel's own log: the excess waits, then is refused and counted", async () => {
    const r = await rig({ ...PROFILE, queue: 64 });
    // 40 units of 10 fragments (~3 s of air each) in a burst: far more than 36 s in an hour.
    for (let i = 0; i < 40; i++) r.drv.write(serialFrame(hopUnit(0x41, 530, i)));
    r.sched.runUntil(r.sched.now() + 3 * DUTY_WINDOW_MS);
    const worst = r.ch.maxWindowAirtime(r.mod, DUTY_WINDOW_MS);
    expect(worst).toBeLessThanOrEqual(0.01 * DUTY_WINDOW_MS);
    expect(worst).toBeGreaterThan(0.005 * DUTY_WINDOW_MS);
    expect(r.drv.stats.delayedBudget).toBeGreaterThan(0);
    expect(r.drv.stats.refusedBudget + r.drv.stats.refusedQueue).toBeGreaterThan(0);
    expect(r.drv.stats.unitsOut + r.drv.stats.refusedBudget + r.drv.stats.refusedQueue).toBe(40);
  });

  it('garbage from the firmware or the air is counted, never a crash or a stuck queue', async () => {
    const r = await rig();
    r.drv.write(Uint8Array.of(0x00, 0x05, 0x00)); // an empty frame, then one that is not COBS
    r.drv.write(new Uint8Array(5000).fill(7)); // longer than any unit ...
    r.drv.write(Uint8Array.of(0)); // ... ended
    const hmodSend = (p: Uint8Array): void => {
      r.host.driver.send(p);
    };
    hmodSend(Uint8Array.of(0xc3, 0x00, 0x05, 0x01, 0x02)); // a lone fragment: held, then expires
    hmodSend(Uint8Array.of(0x51, 0x00)); // a too-short unit
    r.sched.runUntil(r.sched.now() + 60_000);
    expect(r.drv.stats.badFrames).toBe(3);
    const ok = hopUnit(0x41, 35);
    r.drv.write(serialFrame(ok));
    r.sched.runUntil(r.sched.now() + 60_000);
    expect(r.host.frames.map(unitOf)).toEqual([ok]);
  });
});
