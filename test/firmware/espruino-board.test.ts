// Espruino and Moddable adapters under Node with fakes of the engines' objects (the adapters take
// them as parameters, never as globals), the native-AES provider checked by the conformance
// suite's provider checker, and the flashed Espruino deliverable (meter-puckjs.js: app bundle +
// adapter bundle + boot line) booted in a vm that offers only fake Espruino globals.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { createEspruinoAes, createEspruinoBoard } from '@vakt/boards/espruino/index';
import type { EspruinoEnv, EspruinoStorageModule, EspruinoCryptoModule } from '@vakt/boards/espruino/index';
import { createModdableBoard, preferenceKey } from '@vakt/boards/moddable/index';
import type { ModdableEnv } from '@vakt/boards/moddable/index';
import { puckjs, espruinoPico, moddableEsp32 } from '../../boards/profiles/index.ts';
import { checkBlockProvider } from '../conformance/provider-check.ts';
import { buildFirmware } from '../../scripts/build-firmware.ts';
import { scenario, decodeUplinks, relayCmd, downLink, serial, OP_RELAY } from '../xs/meter-scenario.ts';

/** require("Storage") as Espruino behaves: whole files, readArrayBuffer of a copy, a free-space counter. */
function fakeStorage(capacity = 40960) {
  const files = new Map<string, Uint8Array>();
  let compactions = 0;
  const used = () => [...files.values()].reduce((a, f) => a + f.length + 32, 0);
  const S: EspruinoStorageModule & { files: Map<string, Uint8Array>; compactions: () => number } = {
    files,
    compactions: () => compactions,
    readArrayBuffer: (n) => {
      const f = files.get(n);
      return f === undefined ? undefined : new Uint8Array(f).buffer;
    },
    write: (n, d) => {
      files.set(n, new Uint8Array(d));
      return true;
    },
    erase: (n) => {
      files.delete(n);
    },
    getFree: () => capacity - used(),
    compact: () => {
      compactions++;
    },
  };
  return S;
}

/** require("crypto").AES as Espruino's: ECB correct; anything else refused here so the adapter cannot depend on it. */
const fakeCrypto: EspruinoCryptoModule = {
  AES: {
    encrypt(data, key, options) {
      if (options.mode !== 'ECB') throw new Error('fake Espruino AES: only ECB is trusted (its CTR ignores the IV)');
      const c = crypto.createCipheriv('aes-128-ecb', Buffer.from(key), null);
      c.setAutoPadding(false);
      const out = Buffer.concat([c.update(Buffer.from(data)), c.final()]);
      return new Uint8Array(out).buffer;
    },
  },
};

function fakeEnv(S = fakeStorage()) {
  const writes: Uint8Array[] = [];
  const setups: unknown[] = [];
  const dataCbs: ((d: string) => void)[] = [];
  const digital: [unknown, number][] = [];
  const watches: { cb: () => void; pin: unknown; opts: unknown }[] = [];
  const intervals: { cb: () => void; ms: number }[] = [];
  let time = 1_700_000_000.75;
  const env: EspruinoEnv = {
    Storage: S,
    crypto: fakeCrypto,
    serial: [
      {
        setup: (baud, o) => {
          setups.push([baud, o]);
        },
        write: (d) => {
          writes.push(new Uint8Array(d));
        },
        on: (_e, cb) => {
          dataCbs.push(cb);
        },
      },
    ],
    getTime: () => time,
    setTime: (t) => {
      time = t;
    },
    setInterval: (cb, ms) => {
      intervals.push({ cb, ms });
      return intervals.length;
    },
    digitalWrite: (p, v) => {
      digital.push([p, v]);
    },
    setWatch: (cb, pin, opts) => {
      watches.push({ cb, pin, opts });
      return watches.length;
    },
    pin: (n) => 'pin:' + n,
    toUint8Array: (s) => Uint8Array.from(s, (c) => c.charCodeAt(0)),
    print: () => {},
  };
  return { env, S, writes, setups, dataCbs, digital, watches, intervals };
}

describe('Espruino native AES provider', () => {
  it('passes the conformance provider check (FIPS-197, random blocks vs OpenSSL, offsets, in place)', () => {
    expect(checkBlockProvider('espruino require("crypto").AES ECB (fake)', createEspruinoAes(fakeCrypto))).toEqual([]);
  });
  it('is offered only on boards whose profile declares native AES', () => {
    expect(createEspruinoBoard(puckjs, fakeEnv().env).aes).toBeDefined();
    expect(createEspruinoBoard(espruinoPico, fakeEnv().env).aes).toBeUndefined();
  });
});

describe('Espruino adapter', () => {
  it('sets up Serial1 from the profile and converts binary-string data events to bytes', () => {
    const f = fakeEnv();
    const b = createEspruinoBoard(puckjs, f.env);
    expect(f.setups).toEqual([[9600, { tx: 'pin:D28', rx: 'pin:D29' }]]);
    const got: number[][] = [];
    b.serial[0].onData((c) => got.push(Array.from(c)));
    f.dataCbs[0]('\x00\x01\xff');
    expect(got).toEqual([[0, 1, 255]]);
    b.serial[0].write(new Uint8Array([9, 8]));
    expect(f.writes.map((w) => Array.from(w))).toEqual([[9, 8]]);
  });

  it('stores atomic records in Storage, reads a factory prov file, compacts when short of space', () => {
    const S = fakeStorage(600);
    const b = createEspruinoBoard(espruinoPico, fakeEnv(S).env);
    S.files.set('prov', new Uint8Array([0x88, 1])); // uploaded with `espruino --storage prov:<file>`
    expect(Array.from(b.storage.read('prov')!)).toEqual([0x88, 1]);
    b.storage.write('prov', new Uint8Array([2]));
    expect(Array.from(b.storage.read('prov')!)).toEqual([2]);
    b.storage.write('ctr', new Uint8Array(200));
    b.storage.write('ctr', new Uint8Array(200));
    expect(S.compactions()).toBeGreaterThan(0);
    b.storage.erase('prov');
    expect(b.storage.read('prov')).toBeUndefined();
    expect([...S.files.keys()].filter((k) => k.startsWith('prov'))).toEqual([]);
  });

  it('clock, relay and inputs map to getTime/setTime/setInterval/digitalWrite/setWatch', () => {
    const f = fakeEnv();
    const b = createEspruinoBoard(espruinoPico, f.env);
    expect(b.clock.now()).toBe(1_700_000_000);
    b.clock.set(42);
    expect(b.clock.now()).toBe(42);
    const ticks: number[] = [];
    b.clock.every(1000, () => ticks.push(1));
    f.intervals[0].cb();
    expect(f.intervals[0].ms).toBe(1000);
    expect(ticks).toEqual([1]);
    b.pins.relay(false);
    b.pins.relay(true);
    expect(f.digital).toEqual([
      ['pin:B3', 0],
      ['pin:B3', 1],
    ]);
    const pulses: number[] = [];
    let tampers = 0;
    b.pins.onPulse((n) => pulses.push(n));
    b.pins.onTamper(() => tampers++);
    expect(f.watches.map((w) => w.pin)).toEqual(['pin:B4', 'pin:B5']);
    f.watches[0].cb();
    f.watches[1].cb();
    expect(pulses).toEqual([1]);
    expect(tampers).toBe(1);
  });
});

describe('Moddable adapter', () => {
  function fakeModdable() {
    const prefs = new Map<string, ArrayBuffer>();
    const serials: { opts: any; writes: number[][]; inbox: ArrayBuffer[] }[] = [];
    const digitals: { opts: any; writes: number[] }[] = [];
    const timers: { cb: () => void; ms: number }[] = [];
    let ms = 5_000;
    class Serial {
      s: { opts: any; writes: number[][]; inbox: ArrayBuffer[] };
      constructor(opts: any) {
        this.s = { opts, writes: [], inbox: [] };
        serials.push(this.s);
        (this.s as any).obj = this;
      }
      write(d: Uint8Array) {
        this.s.writes.push(Array.from(d));
      }
      read() {
        return this.s.inbox.shift();
      }
    }
    class Digital {
      static Output = 8;
      static InputPullUp = 1;
      static Rising = 1;
      static Falling = 2;
      d: { opts: any; writes: number[] };
      constructor(opts: any) {
        this.d = { opts, writes: [] };
        digitals.push(this.d);
      }
      write(v: number) {
        this.d.writes.push(v);
      }
      read() {
        return 0;
      }
    }
    const env: ModdableEnv = {
      Serial,
      Digital,
      Preference: {
        get: (dom, k) => prefs.get(dom + '/' + k),
        set: (dom, k, v) => {
          if (k.length > 15) throw new Error('NVS key too long');
          prefs.set(dom + '/' + k, v.slice(0));
        },
        delete: (dom, k) => {
          prefs.delete(dom + '/' + k);
        },
      },
      Timer: {
        repeat: (cb, t) => {
          timers.push({ cb, ms: t });
          return timers.length;
        },
      },
      nowMs: () => ms,
      trace: () => {},
    };
    return {
      env,
      prefs,
      serials,
      digitals,
      timers,
      setMs: (v: number) => {
        ms = v;
      },
    };
  }

  it('opens ECMA-419 serial, Preference records, Timer clock and Digital pins from the profile', () => {
    const f = fakeModdable();
    const b = createModdableBoard(moddableEsp32, f.env);
    expect(f.serials[0].opts).toMatchObject({ port: 1, baud: 115200, transmit: 17, receive: 16, format: 'buffer' });
    const got: number[][] = [];
    b.serial[0].onData((c) => got.push(Array.from(c)));
    f.serials[0].inbox.push(new Uint8Array([1, 2, 3]).buffer);
    f.serials[0].opts.onReadable.call((f.serials[0] as any).obj, 3);
    expect(got).toEqual([[1, 2, 3]]);
    b.serial[0].write(new Uint8Array([7]));
    expect(f.serials[0].writes).toEqual([[7]]);

    b.storage.write('a-long-record-name', new Uint8Array([5, 6]));
    expect(Array.from(b.storage.read('a-long-record-name')!)).toEqual([5, 6]);
    expect(preferenceKey('a-long-record-name~0').length).toBeLessThanOrEqual(15);
    expect(preferenceKey('a-long-record-name~0')).not.toBe(preferenceKey('a-long-record-name~1'));

    b.clock.set(1_700_000_000);
    f.setMs(7_500);
    expect(b.clock.now()).toBe(1_700_000_002);
    b.clock.every(1000, () => {});
    expect(f.timers[0].ms).toBe(1000);
    b.pins.relay(false);
    expect(f.digitals[0]).toMatchObject({ opts: { pin: 25, mode: 8 }, writes: [0] });
  });
});

describe('flashed Espruino deliverable (meter-puckjs.js) boots with fake Espruino globals', () => {
  let dir: string;
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vakt-esp-deliv-'));
    const r = await buildFirmware({ outDir: dir, only: ['deliverables'] });
    expect(r.bundles.flatMap((b) => b.violations)).toEqual([]);
  });
  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('reads the factory prov file, answers an authenticated RELAY command over Serial1, uses native AES', () => {
    const code = fs.readFileSync(path.join(dir, 'meter-puckjs.js'), 'utf8');
    const S = fakeStorage();
    const scn = scenario();
    S.files.set('prov', new Uint8Array(Buffer.from(scn.prov, 'hex')));
    const out: Uint8Array[] = [];
    let line: number[] = [];
    let onData: ((d: string) => void) | undefined;
    const digital: number[] = [];
    let aesCalls = 0;
    const countingCrypto = {
      AES: {
        encrypt: (d: Uint8Array, k: Uint8Array, o: { mode: string }) => {
          aesCalls++;
          return fakeCrypto.AES.encrypt(d, k, o);
        },
      },
    };
    const sandbox: Record<string, unknown> = {
      require: (m: string) => (m === 'Storage' ? S : m === 'crypto' ? countingCrypto : undefined),
      // One frame may be written in several pieces: cut the line into frames at each 0x00, as the radio modem does.
      Serial1: {
        setup: () => {},
        write: (d: Uint8Array) => {
          for (const b of d) {
            line.push(b);
            if (b === 0) {
              out.push(new Uint8Array(line));
              line = [];
            }
          }
        },
        on: (_e: string, cb: (d: string) => void) => {
          onData = cb;
        },
      },
      getTime: () => scn.t0 + 0.5,
      setTime: () => {},
      setInterval: () => 1,
      digitalWrite: (_p: unknown, v: number) => digital.push(v),
      setWatch: () => 1,
      Pin: function Pin(this: { n: string }, n: string) {
        this.n = n;
      },
      E: { toUint8Array: (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0)) },
      print: () => {},
    };
    sandbox.globalThis = sandbox;
    vm.runInNewContext(code, sandbox);
    expect(onData).toBeDefined();
    expect(digital).toEqual([1]); // boot restores the relay (closed)
    const bootFrames = out.length;
    expect(bootFrames).toBeGreaterThan(0); // power-restore EVENT
    // An authentic disconnect arrives as Espruino delivers serial data: a binary string, in two chunks.
    const bytes = Buffer.from(serial(downLink(relayCmd(3, 0, 1), 1)), 'hex');
    const s = String.fromCharCode(...bytes);
    onData!(s.slice(0, 10));
    onData!(s.slice(10));
    expect(digital).toEqual([1, 0]);
    const steps = [{ i: 0, out: out.slice(bootFrames).map((b) => Buffer.from(b).toString('hex')), relay: false, stats: {} }];
    const ups = decodeUplinks(steps);
    expect(ups.filter((u) => u.op === OP_RELAY).map((u) => u.body)).toEqual([[3, 0, 0]]);
    expect(aesCalls).toBeGreaterThan(0);
    // Records went through the A/B scheme into Storage.
    expect([...S.files.keys()].some((k) => k.endsWith('~0') || k.endsWith('~1'))).toBe(true);
  });
});
