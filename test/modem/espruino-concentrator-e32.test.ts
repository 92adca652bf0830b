// The flashed file of an Espruino concentrator with an E32 (boards/profiles/pico-e32-concentrator.ts)
// booted in a vm with Espruino's globals faked on simulated time: its boot line puts the firmware
// E32 driver around Serial1, which configures an emulated E32 through the profile's pins before
// the concentrator firmware uses the line. The meter deliverables carry no modem driver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { picoE32Concentrator } from '../../boards/profiles/index.ts';
import { e32ConfigFrame } from '../../boards/src/common/ebyte.ts';
import { concentratorImage } from '../../host/src/kpe/image.ts';
import { RadioChannel } from '../../host/src/modem/emu/channel.ts';
import { EmuEbyte } from '../../host/src/modem/emu/modules.ts';
import { SimScheduler } from '../../host/src/modem/emu/sched.ts';

const PROFILE_PINS = picoE32Concentrator.modem.pins as { [k: string]: string };
/** Board pin name → the emulated module's pin. */
const MODULE_PIN: { [pin: string]: string } = Object.fromEntries(Object.entries(PROFILE_PINS).map(([k, v]) => [v, k]));

function boot(code: string): { mod: EmuEbyte; sched: SimScheduler; usb: number[]; printed: string[] } {
  const sched = new SimScheduler(1_800_000_000_000);
  const mod = new EmuEbyte(new RadioChannel(sched, { seed: 3 }), 'e32');
  const files = new Map<string, Uint8Array>([
    ['prov', concentratorImage({ id: randomBytes(8), linkKey: randomBytes(16), linkGen: 0 }, randomBytes(8))],
  ]);
  const usb: number[] = [];
  const printed: string[] = [];
  class Pin {
    constructor(readonly n: string) {}
  }
  const level = (p: unknown): string => MODULE_PIN[(p as Pin).n] ?? `unknown pin ${String((p as Pin).n)}`;
  const sandbox: Record<string, unknown> = {
    require: (m: string) =>
      m === 'Storage'
        ? {
            readArrayBuffer: (n: string) => {
              const f = files.get(n);
              return f === undefined ? undefined : new Uint8Array(f).buffer;
            },
            write: (n: string, d: Uint8Array) => {
              files.set(n, new Uint8Array(d));
              return true;
            },
            erase: (n: string) => {
              files.delete(n);
            },
            getFree: () => 40960,
            compact: () => undefined,
          }
        : undefined,
    USB: {
      setup: () => undefined,
      write: (d: Uint8Array) => {
        usb.push(...d);
      },
      on: () => undefined,
    },
    Serial1: {
      setup: () => undefined,
      write: (d: Uint8Array) => {
        mod.uart.write(d);
      },
      on: (_e: string, cb: (d: Uint8Array) => void) => {
        mod.uart.onData(cb);
      },
    },
    getTime: () => sched.now() / 1000,
    setTime: () => undefined,
    setInterval: (cb: () => void, ms: number) => {
      sched.every(ms, cb);
      return 1;
    },
    setTimeout: (cb: () => void, ms: number) => sched.after(ms, cb),
    clearTimeout: (h: unknown) => {
      sched.cancel(h);
    },
    digitalWrite: (p: unknown, v: number) => {
      void mod.pins.set(level(p), v === 1);
    },
    digitalRead: (p: unknown) => (mod.pins.get(level(p)) ? 1 : 0),
    setWatch: () => 1,
    Pin,
    E: { toUint8Array: (d: Uint8Array | string) => (typeof d === 'string' ? Uint8Array.from(d, (c) => c.charCodeAt(0)) : d) },
    print: (m: string) => {
      printed.push(m);
    },
  };
  sandbox.globalThis = sandbox;
  vm.runInNewContext(code, sandbox);
  sched.runUntil(sched.now() + 5000);
  return { mod, sched, usb, printed };
}

describe('Espruino concentrator deliverable with an E32 (pico-e32)', () => {
  let dir: string;
  const read = (name: string): string => fs.readFileSync(path.join(dir, name + '.js'), 'utf8');
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-e32-'));
    const report = await buildFirmware({ outDir: dir, only: ['deliverables'] });
    expect(report.bundles.flatMap((b) => b.violations)).toEqual([]);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('boots, and its E32 is configured from the profile (M0/M1 on A5/A6, AUX on A7) and back in normal mode', () => {
    // The software-AES file (a Pico may lack the crypto module).
    const r = boot(read('concentrator-pico-e32'));
    expect(r.printed).toEqual([]);
    const c = picoE32Concentrator.modem.config;
    expect([...r.mod.params]).toEqual([
      ...e32ConfigFrame({ address: c.address, channel: c.channel, airRate: c.airRate, powerDbm: c.powerDbm }, false).subarray(1),
    ]);
    expect([r.mod.pins.get('m0'), r.mod.pins.get('m1')]).toEqual([false, false]);
  });

  it('the driver is only in deliverables whose profile has an E32: no meter file carries it', () => {
    expect(read('concentrator-pico-e32')).toContain('createE32Serial');
    for (const f of fs.readdirSync(dir).filter((x) => /^meter-.*\.js$/.test(x) && !x.endsWith('.debug.js'))) {
      expect(fs.readFileSync(path.join(dir, f), 'utf8'), f).not.toContain('createE32Serial');
    }
    expect(read('meter')).not.toContain('createE32Serial');
  });
});
