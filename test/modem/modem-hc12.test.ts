// The firmware-side HC-12 driver (boards/src/espruino/modem-hc12.ts) under Node: Espruino's
// functions are fakes on simulated time, its UART and SET pin an emulated HC-12 (host/src/modem/emu),
// the other end the host's Hc12Driver + RadioPort.
import { describe, expect, it } from 'vitest';
import { createHc12Serial, type Hc12Serial } from '../../boards/src/espruino/modem-hc12.ts';
import type { ModemIo } from '../../boards/src/espruino/modem-io.ts';
import { HC12_DEFAULT, hc12Commands, hc12ReadBack } from '../../boards/src/common/hc12.ts';
import type { ModemProfile } from '../../boards/src/types.ts';
import { cobsEncode, cobsMaxEncodedLen } from '../../shared/src/cobs.ts';
import { DUTY_WINDOW_MS, findBand } from '../../host/src/modem/airtime.ts';
import { Hc12Driver } from '../../host/src/modem/hc12.ts';
import { RadioChannel } from '../../host/src/modem/emu/channel.ts';
import { EmuHc12, type Stubborn } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';
import { RadioPort } from '../../host/src/modem/radio-port.ts';

const PROFILE: ModemProfile = { kind: 'hc12', band: 'eu433', pins: { set: 'B5' }, config: { channel: 1, powerDbm: 8 } };

interface Rig {
  sched: SimScheduler;
  ch: RadioChannel;
  mod: EmuHc12;
  drv: Hc12Serial;
  printed: string[];
  toFirmware: number[];
  host: number[];
  hostPort: RadioPort;
}

async function rig(profile: ModemProfile = PROFILE, stubborn?: Stubborn['stubborn']): Promise<Rig> {
  const sched = new SimScheduler(1_800_000_000_000);
  const ch = new RadioChannel(sched, { seed: 5 });
  const mod = new EmuHc12(ch, stubborn === undefined ? {} : { stubborn });
  const printed: string[] = [];
  const io: ModemIo = {
    pin: (n) => n,
    digitalWrite: (p, v) => {
      if (p === 'B5') void mod.pins.set('set', v === 1);
    },
    digitalRead: () => 1,
    setTimeout: (cb, ms) => sched.after(ms, cb),
    clearTimeout: (h) => sched.cancel(h),
    getTime: () => sched.now() / 1000,
    toUint8Array: (d) => d as Uint8Array,
    print: (m) => {
      printed.push(m);
    },
  };
  const drv = createHc12Serial(
    {
      setup: () => undefined,
      write: (d) => mod.uart.write(d),
      on: (_e, cb) => {
        mod.uart.onData(cb);
      },
    },
    profile,
    io,
    'Serial1',
  );
  const toFirmware: number[] = [];
  drv.on('data', (d) => {
    toFirmware.push(...(d as Uint8Array));
  });
  drv.setup(9600, {});
  const hmod = new EmuHc12(ch);
  const driver = new Hc12Driver(hmod.uart, hmod.pins, { ...HC12_DEFAULT, ...profile.config } as typeof HC12_DEFAULT, {
    name: 'host',
    band: findBand('lab'),
    timers: sched,
  });
  await sched.settle(driver.start());
  const hostPort = new RadioPort(driver, { shortAddr: Uint8Array.of(0, 0) });
  const host: number[] = [];
  hostPort.onData((c) => {
    host.push(...c);
  });
  sched.runUntil(sched.now() + 5000);
  return { sched, ch, mod, drv, printed, toFirmware, host, hostPort };
}

function serialFrame(len: number, salt: number): Uint8Array {
  const u = Uint8Array.from({ length: len }, (_, i) => (i * 7 + salt) & 0xff || 1);
  const out = new Uint8Array(cobsMaxEncodedLen(len) + 1);
  return out.slice(0, cobsEncode(u, 0, len, out, 0) + 1);
}

describe('HC-12 firmware driver', () => {
  it('test telegram: AT+RX of a factory module is the read-back of its configuration; the commands follow the manual', () => {
    expect(hc12ReadBack({ channel: 1, mode: 3, powerDbm: 20, baud: 9600 }).join('\r\n') + '\r\n').toBe(
      'OK+B9600\r\nOK+RC001\r\nOK+RP:+20dBm\r\nOK+FU3\r\n',
    );
    expect(hc12Commands({ channel: 21, mode: 3, powerDbm: 8, baud: 9600 }).map((c) => c.cmd)).toEqual([
      'AT+B9600',
      'AT+C021',
      'AT+FU3',
      'AT+P4',
    ]);
  });

  it('configures the module in AT mode (SET low), reads it back, and leaves SET high', async () => {
    const r = await rig({ ...PROFILE, config: { channel: 21, powerDbm: 5 } });
    expect(r.drv.state()).toBe('ready');
    expect([r.mod.channelNo, r.mod.power, r.mod.fu, r.mod.pins.get('set')]).toEqual([21, 3, 3, true]);
    expect(r.printed).toEqual([]);
  });

  it('a channel the module does not take is one plain line; nothing goes on air', async () => {
    const r = await rig({ ...PROFILE, config: { channel: 21 } }, 'channel');
    expect(r.drv.state()).toBe('failed');
    expect(r.drv.error()).toBe('HC-12 on Serial1 did not accept C021 (answered "OK+C001")');
    const before = r.ch.stats.transmissions;
    r.drv.write(serialFrame(30, 1));
    r.sched.runUntil(r.sched.now() + 10_000);
    expect(r.ch.stats.transmissions).toBe(before);
    expect(r.drv.stats.refusedNotReady).toBe(1);
  });

  it('refuses the factory +20 dBm in the EU 433 MHz band before touching the module', () => {
    expect(() =>
      createHc12Serial(
        { setup: () => undefined, write: () => undefined, on: () => undefined },
        { ...PROFILE, config: { powerDbm: 20 } },
        { pin: (n) => n } as ModemIo,
        'Serial1',
      ),
    ).toThrow('HC-12 on Serial1: 20 dBm exceeds the 10 dBm band eu433 allows (factory default P8 = +20 dBm)');
  });

  it('serial frames cross the air both ways unchanged, within the 10 % duty cycle', async () => {
    const r = await rig();
    const a = serialFrame(40, 1);
    const b = serialFrame(120, 2);
    r.drv.write(a.subarray(0, 10));
    r.drv.write(a.subarray(10));
    r.drv.write(b);
    r.sched.runUntil(r.sched.now() + 5000);
    // (Half-duplex: the other side answers after, not while, we send.)
    r.hostPort.write(serialFrame(50, 3));
    r.sched.runUntil(r.sched.now() + 5000);
    expect(r.host).toEqual([...a, ...b]);
    expect(r.toFirmware).toEqual([...serialFrame(50, 3)]);
    // A flood: the excess waits for budget or is refused, and the channel's own log stays within 10 %.
    for (let i = 0; i < 400; i++) r.drv.write(serialFrame(200, i));
    r.sched.runUntil(r.sched.now() + 2 * DUTY_WINDOW_MS);
    expect(r.ch.maxWindowAirtime(r.mod, DUTY_WINDOW_MS)).toBeLessThanOrEqual(0.1 * DUTY_WINDOW_MS);
    expect(r.drv.stats.refusedQueue + r.drv.stats.refusedBudget).toBeGreaterThan(0);
  });
});
