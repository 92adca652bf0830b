// A FAKE Espruino board for `vakt flash` tests: a scripted emulation of Espruino's REPL (not the
// real interpreter). It answers on one end of a socat PTY pair the way a board answers on its USB
// console: echo (off for a line that starts with DLE 0x10), Ctrl-C, `=result` and the `>` prompt,
// lines joined until their brackets balance, and JavaScript evaluated in a vm context that offers
// what the upload code uses: print/console.log, btoa/atob, process.env, reset(), load() and
// require("Storage") (write with offset and size, read, erase, list) and optionally
// require("crypto").AES. Faults are scripted: garbage answers, silence, disconnecting after some
// bytes, a flipped byte in Storage. The real interpreter is exercised by hand (docs/BOARDS.md).
import vm from 'node:vm';
import { SerialPort } from 'serialport';

export interface FakeEspruinoOptions {
  /** process.env.BOARD (PUCKJS, PICO_R1_3, ...). */
  board: string;
  /** Whether require("crypto").AES exists (Puck.js; a Pico built with the crypto module). */
  nativeAes?: boolean;
  /** Answer every line with this garbage instead of behaving like a REPL. */
  garbage?: Uint8Array;
  /** Behave until this many bytes were received, then answer garbage (a board whose firmware went astray). */
  garbageAfterBytes?: number;
  /** Answer nothing at all (a device that is not an Espruino, or a wrong baud rate). */
  silent?: boolean;
  /** Pull the cable after receiving this many bytes: calls `unplug` given to attach() (e.g. stops the PTY pair). */
  disconnectAfterBytes?: number;
  /** Storage.write stores this file with its last byte flipped (a flash write that went wrong). */
  corruptFile?: string;
  /** Storage files present before the test (name → binary string). */
  files?: Record<string, string>;
}

const DLE = 0x10;
const CTRL_C = 0x03;

/** True when `text` has balanced (), [], {} outside string literals: Espruino runs the line then. */
function complete(text: string): boolean {
  let depth = 0;
  let quote = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = '';
    } else if (c === '"' || c === "'" || c === '`') quote = c;
    else if (c === '(' || c === '[' || c === '{') depth++;
    else if (c === ')' || c === ']' || c === '}') depth--;
  }
  return depth <= 0 && quote === '';
}

/** The emulated board: its Storage files, what it was told to do, and the port it answers on. */
export class FakeEspruino {
  readonly files = new Map<string, string>();
  /** Every complete line the host sent, in order. */
  readonly lines: string[] = [];
  loads = 0;
  resets = 0;
  private received = 0;
  private input = '';
  private echoOff = false;
  private context!: vm.Context;
  private port: SerialPort | undefined;
  private unplug: (() => Promise<void>) | undefined;

  constructor(readonly opts: FakeEspruinoOptions) {
    for (const [k, v] of Object.entries(opts.files ?? {})) this.files.set(k, v);
    this.newContext();
  }

  /** Opens `path` (one end of a PTY pair) and answers on it until close(). */
  async attach(path: string, unplug?: () => Promise<void>): Promise<void> {
    this.unplug = unplug;
    const port = new SerialPort({ path, baudRate: 115200, autoOpen: false });
    port.on('error', () => undefined);
    await new Promise<void>((res, rej) => port.open((e) => (e ? rej(e) : res())));
    port.on('data', (d: Buffer) => this.onData(d));
    this.port = port;
  }

  close(): Promise<void> {
    const p = this.port;
    this.port = undefined;
    return new Promise((r) => (p && p.isOpen ? p.close(() => r()) : r()));
  }

  private send(s: string): void {
    this.port?.write(Buffer.from(s, 'latin1'));
  }

  private newContext(): void {
    const out = (...a: unknown[]): void => this.send(a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ') + '\r\n');
    const storage = {
      write: (name: string, data: string, offset?: number, size?: number): boolean => {
        let f = this.files.get(name) ?? '';
        if (size !== undefined) f = '\xff'.repeat(size);
        const at = offset ?? 0;
        if (offset === undefined && size === undefined) f = data;
        else f = f.slice(0, at) + data + f.slice(at + data.length);
        if (name === this.opts.corruptFile && f.length > 0) f = f.slice(0, -1) + String.fromCharCode(f.charCodeAt(f.length - 1) ^ 1);
        this.files.set(name, f);
        return true;
      },
      read: (name: string): string | undefined => this.files.get(name),
      erase: (name: string): void => void this.files.delete(name),
      list: (re?: RegExp): string[] => [...this.files.keys()].filter((n) => re === undefined || re.test(n)),
      getFree: (): number => 40960,
      compact: (): void => undefined,
    };
    const crypto = this.opts.nativeAes ? { AES: { encrypt: () => new ArrayBuffer(16) } } : undefined;
    this.context = vm.createContext({
      print: out,
      console: { log: out },
      btoa: (s: string) => Buffer.from(s, 'latin1').toString('base64'),
      atob: (s: string) => Buffer.from(s, 'base64').toString('latin1'),
      process: {
        env: { VERSION: '2v29', BOARD: this.opts.board, CONSOLE: 'USB', MODULES: crypto ? 'crypto' : '' },
        memory: () => ({ free: 2000, usage: 630, total: 2630 }),
      },
      require: (m: string) => {
        if (m === 'Storage') return storage;
        if (m === 'crypto' && crypto) return crypto;
        throw new Error('Module ' + m + ' not found');
      },
      reset: () => {
        this.resets++;
        this.newContext();
        this.send('\r\n _____                 _ \r\n|   __|___ ___ ___ _ _|_|___ ___ \r\n fake 2v29\r\n');
      },
      load: () => void this.loads++,
    });
  }

  private onData(d: Buffer): void {
    this.received += d.length;
    const cut = this.opts.disconnectAfterBytes;
    if (cut !== undefined && this.received >= cut) {
      void this.close().then(() => this.unplug?.());
      return;
    }
    if (this.opts.silent) return;
    const astray = this.opts.garbageAfterBytes !== undefined && this.received >= this.opts.garbageAfterBytes;
    for (const byte of d) {
      if (this.opts.garbage || astray) {
        if (byte === 0x0a) this.port?.write(Buffer.from(this.opts.garbage ?? 'Uncaught SyntaxError: Got ?[255] expected EOF\r\n\xff\xfe'));
        continue;
      }
      this.onByte(byte);
    }
  }

  private onByte(byte: number): void {
    if (byte === CTRL_C) {
      this.input = '';
      this.echoOff = false;
      this.send('\r\n>');
      return;
    }
    if (byte === DLE && this.input.length === 0) {
      this.echoOff = true;
      return;
    }
    if (byte === DLE) return; // DLE at the start of a continuation line
    if (byte === 0x0d) return;
    if (byte !== 0x0a) {
      this.input += String.fromCharCode(byte);
      if (!this.echoOff) this.send(String.fromCharCode(byte));
      return;
    }
    if (!complete(this.input)) {
      this.input += '\n';
      return;
    }
    const line = this.input;
    const echo = !this.echoOff;
    this.input = '';
    this.echoOff = false;
    this.lines.push(line);
    if (echo) this.send('\r\n');
    let result: unknown;
    try {
      result = line.trim() === '' ? undefined : vm.runInContext(line, this.context);
    } catch (e) {
      this.send('Uncaught ' + String(e) + '\r\n');
      if (echo) this.send('>');
      return;
    }
    if (echo) this.send('=' + (result === undefined ? 'undefined' : JSON.stringify(result)) + '\r\n>');
  }
}
