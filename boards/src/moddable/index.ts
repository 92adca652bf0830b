// Moddable SDK (XS) board adapter, e.g. ESP32. Hardware is reached through ECMA-419 style IO
// classes (embedded:io/serial, embedded:io/digital) plus Moddable's Preference and Timer modules.
// Like the Espruino adapter it touches no globals: the boot module imports those classes and
// passes them in (ModdableEnv), so this file is plain JS that tests run under Node with fakes.
import type { Board, BoardProfile, Clock, Pins, SerialPort } from '../types.ts';
import { createRecordStorage } from '../common/record.ts';
import type { RawStore } from '../common/record.ts';

/** ECMA-419 serial instance options (subset). */
export interface Ecma419SerialOptions {
  port?: number;
  transmit?: unknown;
  receive?: unknown;
  baud: number;
  format: 'buffer';
  onReadable(this: { read(): ArrayBuffer | undefined }, count: number): void;
}
/** ECMA-419 Digital instance options (subset). */
export interface Ecma419DigitalOptions {
  pin: unknown;
  mode: number;
  edge?: number;
  onReadable?(): void;
}

/** What the boot module imports and hands to the adapter. */
export interface ModdableEnv {
  Serial: new (options: Ecma419SerialOptions) => { write(data: ArrayBuffer | Uint8Array): void; read(): ArrayBuffer | undefined };
  Digital: {
    new (options: Ecma419DigitalOptions): { write(v: number): void; read(): number };
    Output: number;
    InputPullUp: number;
    Rising: number;
    Falling: number;
  };
  Preference: {
    get(domain: string, key: string): ArrayBuffer | undefined;
    set(domain: string, key: string, value: ArrayBuffer): void;
    delete(domain: string, key: string): void;
  };
  Timer: { repeat(cb: () => void, ms: number): unknown };
  /** Wall-clock milliseconds (Date.now on the device, which counts from boot until time is set). */
  nowMs(): number;
  trace(msg: string): void;
}

/** Preference domain holding Vakt's records. */
const PREF_DOMAIN = 'vakt';
/** ESP32 NVS keys are at most 15 characters. */
const PREF_KEY_MAX = 15;
const MS_PER_S = 1000;

/** Maps a record slot name to an NVS-sized key: long names keep a prefix plus a 16-bit hash. */
export function preferenceKey(name: string): string {
  if (name.length <= PREF_KEY_MAX) return name;
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) & 0xffff;
  const hex = (h + 0x10000).toString(16).substring(1);
  return name.substring(0, PREF_KEY_MAX - 5) + '#' + hex;
}

function preferenceRaw(P: ModdableEnv['Preference']): RawStore {
  return {
    read(name: string): Uint8Array | undefined {
      const v = P.get(PREF_DOMAIN, preferenceKey(name));
      return v === undefined || v === null ? undefined : new Uint8Array(v);
    },
    write(name: string, data: Uint8Array): void {
      const copy = new Uint8Array(data.length);
      copy.set(data);
      P.set(PREF_DOMAIN, preferenceKey(name), copy.buffer);
    },
    erase(name: string): void {
      P.delete(PREF_DOMAIN, preferenceKey(name));
    },
  };
}

function moddableSerial(env: ModdableEnv, baud: number, port: number, tx: unknown, rx: unknown): SerialPort {
  const cbs: ((chunk: Uint8Array) => void)[] = [];
  const s = new env.Serial({
    port,
    transmit: tx,
    receive: rx,
    baud,
    format: 'buffer',
    onReadable(): void {
      const ab = this.read();
      if (ab === undefined || ab.byteLength === 0) return;
      const chunk = new Uint8Array(ab);
      for (let i = 0; i < cbs.length; i++) cbs[i](chunk);
    },
  });
  return {
    write(data: Uint8Array): void {
      s.write(data);
    },
    onData(cb: (chunk: Uint8Array) => void): void {
      cbs.push(cb);
    },
  };
}

function moddableClock(env: ModdableEnv): Clock {
  let offsetMs = 0;
  return {
    now(): number {
      return Math.floor((env.nowMs() + offsetMs) / MS_PER_S);
    },
    set(t: number): void {
      offsetMs = t * MS_PER_S - env.nowMs();
    },
    every(ms: number, cb: () => void): unknown {
      return env.Timer.repeat(cb, ms);
    },
  };
}

function moddablePins(env: ModdableEnv, profile: BoardProfile): Pins {
  const p = profile.pins || {};
  const D = env.Digital;
  const relay = p.relay === undefined ? undefined : new D({ pin: p.relay, mode: D.Output });
  return {
    relay(closed: boolean): void {
      if (relay) relay.write(closed ? 1 : 0);
    },
    onPulse(cb: (count: number) => void): void {
      if (p.pulse === undefined) return;
      new D({
        pin: p.pulse,
        mode: D.InputPullUp,
        edge: D.Rising,
        onReadable(): void {
          cb(1);
        },
      });
    },
    onTamper(cb: () => void): void {
      if (p.tamper === undefined) return;
      new D({
        pin: p.tamper,
        mode: D.InputPullUp,
        edge: D.Falling,
        onReadable(): void {
          cb();
        },
      });
    },
  };
}

/** Builds the Board for a Moddable device from its profile and the imported IO classes. */
export function createModdableBoard(profile: BoardProfile, env: ModdableEnv): Board {
  const serial: SerialPort[] = [];
  const ports = profile.serial || [];
  for (let i = 0; i < ports.length; i++) {
    // 'UART1' → hardware port 1.
    const num = parseInt(ports[i].name.replace(/[^0-9]/g, ''), 10);
    serial.push(moddableSerial(env, ports[i].baud, isNaN(num) ? 1 : num, ports[i].tx, ports[i].rx));
  }
  return {
    profile,
    serial,
    storage: createRecordStorage(preferenceRaw(env.Preference)),
    clock: moddableClock(env),
    pins: moddablePins(env, profile),
    log(msg: string): void {
      env.trace(msg + '\n');
    },
  };
}

/** The ES module text that boots a Moddable bundle: imports the IO classes and starts the app. */
export function moddableBootModule(profileJson: string, startGlobal: string, startFn: string): string {
  return (
    'import Serial from "embedded:io/serial";\nimport Digital from "embedded:io/digital";\n' +
    'import Preference from "preference";\nimport Timer from "timer";\n' +
    'globalThis.' +
    startGlobal +
    '.' +
    startFn +
    '(globalThis.VaktModdable.createModdableBoard(' +
    profileJson +
    ', { Serial, Digital, Preference, Timer, nowMs: () => Date.now(), trace }));\n'
  );
}
