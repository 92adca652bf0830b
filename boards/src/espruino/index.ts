// Espruino board adapter (Pico, Puck.js, any Espruino board). It touches no globals: the boot line
// of the flashed bundle passes the interpreter's objects in (see EspruinoEnv), so the adapter is
// pure JS that runs under Node with fakes in tests, and the bundle checker can forbid globals here.
// Written to the Espruino subset: no destructuring, default parameters, spread, Map or hoisting.
import type { Board, BoardProfile, Clock, Pins, SerialPort, BlockCipher } from '../types.ts';
import { createRecordStorage } from '../common/record.ts';
import type { RawStore } from '../common/record.ts';

/** The subset of require("Storage") the adapter uses. */
export interface EspruinoStorageModule {
  readArrayBuffer(name: string): ArrayBuffer | undefined;
  write(name: string, data: Uint8Array): boolean;
  erase(name: string): void;
  getFree(): number;
  compact(): void;
}

/** The subset of require("crypto") the adapter uses (only on boards built with hardware AES). */
export interface EspruinoCryptoModule {
  AES: { encrypt(data: Uint8Array, key: Uint8Array, options: { mode: string }): ArrayBuffer };
}

/** An Espruino serial object (Serial1, Serial2 …). Data events deliver binary strings. */
export interface EspruinoSerial {
  setup(baud: number, options: { tx?: unknown; rx?: unknown }): void;
  write(data: Uint8Array): void;
  on(event: 'data', cb: (data: string) => void): void;
}

/** Everything the boot line passes in from the interpreter's global scope. */
export interface EspruinoEnv {
  Storage: EspruinoStorageModule;
  crypto?: EspruinoCryptoModule;
  /** Serial objects in profile order (e.g. [Serial1]). */
  serial: EspruinoSerial[];
  getTime(): number;
  setTime(t: number): void;
  setInterval(cb: () => void, ms: number): unknown;
  digitalWrite(pin: unknown, value: number): void;
  setWatch(cb: () => void, pin: unknown, options: { repeat: boolean; edge: string; debounce: number }): unknown;
  /** Converts a pin name from the profile ('B3', 'D28', 'BTN') to the interpreter's Pin. */
  pin(name: string | number): unknown;
  /** E.toUint8Array: binary string → bytes, native and fast. */
  toUint8Array(s: string): Uint8Array;
  print(msg: string): void;
}

const AES_BLOCK = 16;
const KEY_WORDS = 4;
/** Free flash (bytes) kept above a record write before Storage.compact() is asked to reclaim space. */
const COMPACT_MARGIN = 256;
const PULSE_DEBOUNCE_MS = 5;
const TAMPER_DEBOUNCE_MS = 50;

/**
 * AES-128 block provider on Espruino's native require("crypto").AES (~250x the pure-JS block).
 * Only ECB is used: Espruino's CTR ignores the IV, so the core builds CCM/CMAC on single blocks.
 * The raw key comes back from rk[0..3], the big-endian key words of the FIPS-197 schedule; the
 * key bytes are rebuilt only when those words change (a frame's ~10 blocks share one key), and a
 * whole 16-byte source is handed to the native call as it is. Glue per block: one 4-word key
 * compare, at most one view, the native call and one copy (per-block key rebuilding and copying
 * measured ~9x the native call itself on the interpreter). Written without let/const in the
 * per-call path: the interpreter creates a scope per block-scoped declaration.
 */
export function createEspruinoAes(crypto: EspruinoCryptoModule): BlockCipher {
  var key = new Uint8Array(AES_BLOCK);
  // The key words key[] was last built from (rk[0..3] can change in place: a slot re-keyed). All
  // zero at first, as key[] is: the all-zero key needs no rebuild either. One typed array and no
  // helper function: on the interpreter each closure variable and parameter costs a variable.
  var kw = new Uint32Array(KEY_WORDS);
  var ecb = { mode: 'ECB' };
  var aes = crypto.AES;
  return {
    // Reads rk[0..3] only: key slots under this provider hold the 4 key words, not the schedule.
    keyWords: KEY_WORDS,
    encryptBlock(rk: Uint32Array, src: Uint8Array, srcOff: number, dst: Uint8Array, dstOff: number): void {
      if (rk[0] !== kw[0] || rk[1] !== kw[1] || rk[2] !== kw[2] || rk[3] !== kw[3]) {
        for (var i = 0; i < KEY_WORDS; i++) {
          var w = rk[i];
          kw[i] = w;
          key[4 * i] = w >>> 24;
          key[4 * i + 1] = w >>> 16;
          key[4 * i + 2] = w >>> 8;
          key[4 * i + 3] = w;
        }
      }
      dst.set(
        new Uint8Array(aes.encrypt(srcOff === 0 && src.length === AES_BLOCK ? src : src.subarray(srcOff, srcOff + AES_BLOCK), key, ecb)),
        dstOff,
      );
    },
  };
}

/** Whole-file store on require("Storage"); compacts first when free space runs short. */
function storageRaw(S: EspruinoStorageModule): RawStore {
  return {
    read(name: string): Uint8Array | undefined {
      const ab = S.readArrayBuffer(name);
      return ab === undefined ? undefined : new Uint8Array(ab);
    },
    write(name: string, data: Uint8Array): void {
      if (S.getFree() < data.length + COMPACT_MARGIN) S.compact();
      if (S.write(name, data) === false) throw new Error('Storage write failed: ' + name);
    },
    erase(name: string): void {
      S.erase(name);
    },
  };
}

function espruinoSerial(env: EspruinoEnv, port: EspruinoSerial): SerialPort {
  const cbs: ((chunk: Uint8Array) => void)[] = [];
  port.on('data', (d: string) => {
    const chunk = env.toUint8Array(d);
    for (let i = 0; i < cbs.length; i++) cbs[i](chunk);
  });
  return {
    write(data: Uint8Array): void {
      port.write(data);
    },
    onData(cb: (chunk: Uint8Array) => void): void {
      cbs.push(cb);
    },
  };
}

function espruinoClock(env: EspruinoEnv): Clock {
  return {
    now(): number {
      return Math.floor(env.getTime());
    },
    set(t: number): void {
      env.setTime(t);
    },
    every(ms: number, cb: () => void): unknown {
      return env.setInterval(cb, ms);
    },
  };
}

function espruinoPins(env: EspruinoEnv, profile: BoardProfile): Pins {
  const p = profile.pins || {};
  const relayPin = p.relay === undefined ? undefined : env.pin(p.relay);
  return {
    relay(closed: boolean): void {
      if (relayPin !== undefined) env.digitalWrite(relayPin, closed ? 1 : 0);
    },
    onPulse(cb: (count: number) => void): void {
      if (p.pulse === undefined) return;
      env.setWatch(() => cb(1), env.pin(p.pulse), { repeat: true, edge: 'rising', debounce: PULSE_DEBOUNCE_MS });
    },
    onTamper(cb: () => void): void {
      if (p.tamper === undefined) return;
      env.setWatch(cb, env.pin(p.tamper), { repeat: true, edge: 'falling', debounce: TAMPER_DEBOUNCE_MS });
    },
  };
}

/** Builds the Board for an Espruino device from its profile and the interpreter's objects. */
export function createEspruinoBoard(profile: BoardProfile, env: EspruinoEnv): Board {
  const serial: SerialPort[] = [];
  const ports = profile.serial || [];
  for (let i = 0; i < ports.length && i < env.serial.length; i++) {
    env.serial[i].setup(ports[i].baud, {
      tx: ports[i].tx === undefined ? undefined : env.pin(ports[i].tx as string),
      rx: ports[i].rx === undefined ? undefined : env.pin(ports[i].rx as string),
    });
    serial.push(espruinoSerial(env, env.serial[i]));
  }
  const board: Board = {
    profile,
    serial,
    storage: createRecordStorage(storageRaw(env.Storage)),
    clock: espruinoClock(env),
    pins: espruinoPins(env, profile),
    log(msg: string): void {
      env.print(msg);
    },
  };
  if (profile.nativeAes && env.crypto) board.aes = createEspruinoAes(env.crypto);
  return board;
}

/**
 * The boot line appended to a flashed Espruino bundle: gathers the interpreter's globals into an
 * EspruinoEnv and starts the app. Plain text, because a bundler would rewrite require().
 */
export function espruinoBootLine(
  profileJson: string,
  startGlobal: string,
  startFn: string,
  serialNames: string[],
  nativeAes: boolean,
): string {
  return (
    'globalThis.' +
    startGlobal +
    '.' +
    startFn +
    '(globalThis.VaktEspruino.createEspruinoBoard(' +
    profileJson +
    ',{' +
    'Storage:require("Storage"),' +
    (nativeAes ? 'crypto:require("crypto"),' : '') +
    'serial:[' +
    serialNames.join(',') +
    '],' +
    'getTime:getTime,setTime:setTime,setInterval:setInterval,digitalWrite:digitalWrite,setWatch:setWatch,' +
    'pin:function(n){return typeof n==="number"?n:new Pin(n);},toUint8Array:E.toUint8Array,print:print}));\n'
  );
}
