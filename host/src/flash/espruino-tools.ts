/**
 * A connection to an Espruino board through EspruinoTools (the `espruino` npm package, the code the
 * Espruino CLI and Web IDE upload with), used as a library: its REPL handshake, expression
 * evaluation, Storage upload code and file read-back. That library sets globals, logs to the
 * console and reports several failures only there ("Unable to connect!", "No result found for ..."),
 * so this module loads it once, diverts its console output to a log (printed with VAKT_DEBUG=1), and
 * turns every outcome into a resolved value or a FlashError with one plain line: a timeout, a
 * disconnect or an answer that is not the REPL's.
 *
 * Serial ports and PTYs are opened here with `serialport` (registered as a device of the library,
 * so a socat PTY that the library's own port scan cannot see works too); Bluetooth LE addresses are
 * left to the library's own Bluetooth devices.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { SerialPort } from 'serialport';

/** A failure the user can act on; its message is the one line `vakt flash` prints. */
export class FlashError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlashError';
  }
}

/** What the board says about itself (`process.env`). */
export interface BoardEnv {
  BOARD?: string;
  VERSION?: string;
  CONSOLE?: string;
  [k: string]: unknown;
}

/** The part of EspruinoTools' global `Espruino` object used here (it ships no types). */
interface EspruinoTools {
  Config: Record<string, unknown>;
  Core: {
    Serial: {
      devices: SerialDevice[];
      open(port: string, connected: (info: unknown) => void, disconnected: () => void): void;
      close(): void;
      isConnected(): boolean;
      startListening(cb: ((data: ArrayBuffer) => void) | undefined): ((data: ArrayBuffer) => void) | undefined;
      setSlowWrite(on: boolean, force?: boolean): void;
      write(data: string, showStatus?: boolean, done?: () => void): void;
    };
    Utils: {
      executeExpression(expr: string, cb: (result: string | undefined) => void, opts?: object): void;
      executeStatement(stmt: string, cb: (result: string | undefined) => void, opts?: object): void;
      getUploadFileCode(name: string, contents: string): string;
      downloadFile(name: string, cb: (contents: string | undefined) => void): void;
      versionToFloat(v: string): number;
    };
    Notifications: Record<'success' | 'error' | 'warning' | 'info', (msg: string) => void>;
    Status: { setStatus(msg: string, len?: number): void; hasProgress(): boolean; incrementProgress(n: number): void };
  };
}

/** A serial device as EspruinoTools' core/serial.js expects one. */
interface SerialDevice {
  name: string;
  getPorts(cb: (ports: { path: string; description?: string }[], instant: boolean) => void): void;
  open(path: string, opened: (info: unknown) => void, received: (data: ArrayBuffer) => void, disconnected: (err?: unknown) => void): void;
  write(data: string, done: () => void): void;
  close(): void;
}

/** How long the board may take to answer one command before it counts as gone. */
export const ANSWER_TIMEOUT_MS = 15_000;
/** How long opening the port and the first prompt may take. */
export const CONNECT_TIMEOUT_MS = 20_000;
/** How long a link check waits for a port to report that its other side is gone. */
const LINK_PROBE_MS = 500;
/** How long closing the port may take. */
const CLOSE_TIMEOUT_MS = 2000;
/** Lines of the library's console output kept for VAKT_DEBUG=1 and error messages. */
const LOG_LINES = 400;
/** Espruino firmware from this version on takes fast (unthrottled) writes over USB, Bluetooth and Telnet (EspruinoTools' rule). */
const FAST_WRITE_MIN_VERSION = 1.43;
const FAST_WRITE_CONSOLES = ['USB', 'Bluetooth', 'Telnet'];

/** A Bluetooth LE address (aa:bb:cc:dd:ee:ff), which the library's Bluetooth devices handle. */
export const isBleAddress = (port: string): boolean => /^([0-9a-f]{2}:){5}[0-9a-f]{2}( (public|random))?$/i.test(port);

let tools: EspruinoTools | undefined;
/** The console lines EspruinoTools printed during the current session. */
const log: string[] = [];
let wantedPath: string | undefined;
/** The serialport of the current session, its last error, and who to tell when it goes away. */
let current: { port: SerialPort; lastError?: Error } | undefined;

function remember(kind: string, args: unknown[]): void {
  log.push(kind + ' ' + args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' '));
  if (log.length > LOG_LINES) log.splice(0, log.length - LOG_LINES);
}

/** EspruinoTools' own files (it loads them with vm.Script under their paths, so they show in stacks). */
const TOOLS_FRAME = /[\\/]node_modules[\\/]espruino[\\/]/;

/**
 * Routes console.log/info/warn/error calls made by EspruinoTools to the session log, for good:
 * the library also logs from its serial callbacks and timers, long after the call that started
 * them returned (even after the port closed). Everyone else's console output is untouched.
 */
function divertToolsConsole(): void {
  for (const kind of ['log', 'info', 'warn', 'error'] as const) {
    const original = console[kind].bind(console);
    console[kind] = (...a: unknown[]) => {
      if (TOOLS_FRAME.test(new Error().stack ?? '')) remember(kind, a);
      else original(...a);
    };
  }
}

/**
 * While a session is open, an exception thrown from an event handler, where no caller can catch
 * it, becomes `onFatal(err)` instead of a crash with a stack trace. During `vakt flash` only the
 * library and its Bluetooth stack run such handlers (node-ble's D-Bus connection throws this way
 * when BlueZ is unreachable, and its error's stack names only node:net). Returns the remover.
 */
function guardLibraryCrashes(onFatal: (e: Error) => void): () => void {
  const handler = (e: Error): void => onFatal(e instanceof Error ? e : new Error(String(e)));
  process.prependListener('uncaughtException', handler);
  return () => process.removeListener('uncaughtException', handler);
}

/** The D-Bus system bus socket BlueZ is reached through (as dbus-next finds it), if there is one. */
function systemBusSocket(): string | undefined {
  const env = /^unix:path=([^,;]+)/.exec(process.env.DBUS_SYSTEM_BUS_ADDRESS ?? '')?.[1];
  return [env, '/run/dbus/system_bus_socket', '/var/run/dbus/system_bus_socket'].find((f) => f !== undefined && existsSync(f));
}

/** Our serial device: any path that exists (tty, PTY); the library's scan lists only USB ports. */
function pathDevice(baud: number): SerialDevice {
  return {
    name: 'vakt serialport',
    getPorts: (cb) => cb(wantedPath !== undefined ? [{ path: wantedPath, description: 'serial port' }] : [], true),
    open(path, opened, received, disconnected) {
      const port = new SerialPort({ path, baudRate: baud, autoOpen: false });
      const session: { port: SerialPort; lastError?: Error } = { port };
      current = session;
      port.on('error', (e: Error) => {
        session.lastError = e;
      });
      port.on('data', (d: Buffer) => received(new Uint8Array(d).buffer));
      port.on('close', () => disconnected());
      port.open((e) => {
        if (e) {
          session.lastError = e;
          opened(undefined);
        } else opened({ portName: path });
      });
    },
    write(data, done) {
      const port = current?.port;
      if (!port || !port.isOpen) return done();
      port.write(Buffer.from(data, 'latin1'), () => done());
    },
    close() {
      const port = current?.port;
      if (port && port.isOpen) port.close();
    },
  };
}

/** Loads EspruinoTools once (it keeps global state) and sets it up for scripted use. */
function loadTools(baud: number): EspruinoTools {
  if (tools) {
    tools.Config.BAUD_RATE = baud;
    return tools;
  }
  const req = createRequire(import.meta.url);
  const lib = req('espruino') as { init(cb: () => void): void };
  divertToolsConsole();
  lib.init(() => undefined);
  const t = (globalThis as unknown as { Espruino: EspruinoTools }).Espruino;
  t.Core.Notifications = {
    success: (m) => remember('success', [m]),
    error: (m) => remember('error', [m]),
    warning: (m) => remember('warn', [m]),
    info: (m) => remember('info', [m]),
  };
  t.Core.Status = { setStatus: () => undefined, hasProgress: () => false, incrementProgress: () => undefined };
  // process.env is queried here, not by the library: its board-JSON step would fetch from the internet.
  t.Config.ENV_ON_CONNECT = false;
  // Each Storage.write line is confirmed by the board before the next is sent, so the library's
  // fixed 250 ms pause after each one (for uploads sent blind) is not needed.
  t.Config.STORAGE_UPLOAD_METHOD = 1;
  t.Config.BAUD_RATE = baud;
  t.Core.Serial.devices.push(pathDevice(baud));
  // The library's timers write on their own (getEspruinoPrompt sends Ctrl-C 500 ms after a
  // command); after a session ended such a write finds no device and throws a TypeError from the
  // timer. A write with no board connected has nowhere to go: drop it.
  const write = t.Core.Serial.write.bind(t.Core.Serial);
  t.Core.Serial.write = (data, showStatus, done) => {
    if (t.Core.Serial.isConnected()) write(data, showStatus, done);
    else remember('log', ['dropped a write after the session ended: ' + JSON.stringify(data)]);
  };
  tools = t;
  return t;
}

/** The last lines the library logged, for VAKT_DEBUG=1. */
export function toolsLog(): string[] {
  return log.slice();
}

/** A plain description of what came back, for "it answered ..." messages. */
export function preview(s: string | undefined): string {
  if (s === undefined || s.length === 0) return 'nothing';
  const t = s.replace(/[^\x20-\x7e]/g, '.').slice(0, 40);
  return JSON.stringify(t) + (s.length > 40 ? '...' : '');
}

/** An open connection to one board; every method rejects with a FlashError on timeout or disconnect. */
export interface BoardSession {
  readonly port: string;
  /** process.env of the board, or a FlashError when what answers is not an Espruino REPL. */
  env(): Promise<BoardEnv>;
  /** JSON value of a JavaScript expression evaluated on the board. */
  evaluate<T>(expr: string): Promise<T>;
  /** Runs statements; resolves with what they printed. */
  run(statements: string): Promise<string>;
  /** Writes `data` (a binary string) to Storage file `name` line by line; `progress(bytes)` after each line. */
  upload(name: string, data: string, progress: (bytes: number) => void): Promise<void>;
  /** Reads Storage file `name` back (undefined when it does not exist). */
  readBack(name: string): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Opens `port` (a serial device, a PTY or a Bluetooth LE address) and waits for the REPL. */
export async function connect(port: string, opts: { baud: number; answerTimeoutMs?: number }): Promise<BoardSession> {
  const ble = isBleAddress(port);
  if (!ble && !existsSync(port)) throw new FlashError(`no board: ${port} does not exist (is it plugged in? see 'ls /dev/ttyACM*')`);
  if (ble && systemBusSocket() === undefined) {
    throw new FlashError(
      'Bluetooth LE needs BlueZ through the D-Bus system bus, and this machine has none (no /run/dbus/system_bus_socket): start dbus and bluetoothd, or connect the board over USB or a serial adapter',
    );
  }
  log.length = 0;
  let onFatal: (e: Error) => void = () => undefined;
  const fatal = new Promise<never>((_, reject) => {
    onFatal = (e) =>
      reject(
        new FlashError(
          ble
            ? `Bluetooth LE failed: ${e.message} (is bluetoothd running, and may this user use BlueZ over D-Bus?)`
            : `the Espruino tools failed: ${e.message}`,
        ),
      );
  });
  fatal.catch(() => undefined); // raced below; a failure after the session ended is ignored
  const unguard = guardLibraryCrashes((e) => onFatal(e));
  try {
    return await openSession(port, ble, opts.baud, opts.answerTimeoutMs ?? ANSWER_TIMEOUT_MS, fatal, unguard);
  } catch (e) {
    unguard();
    const p = current?.port;
    if (p && p.isOpen) await new Promise<void>((r) => p.close(() => r()));
    throw e;
  }
}

async function openSession(
  port: string,
  ble: boolean,
  baud: number,
  answerTimeout: number,
  fatal: Promise<never>,
  unguard: () => void,
): Promise<BoardSession> {
  const t = loadTools(baud);
  // Bluetooth LE through BlueZ/D-Bus (node-ble) only: noble needs a native addon whose install
  // script this project does not run, and its own crash handler rethrows every other error.
  t.Config.BLUETOOTH_LOW_ENERGY = false;
  t.Config.BLUETOOTH_LOW_ENERGY_DBUS = ble;
  wantedPath = ble ? undefined : port;
  current = undefined;

  let gone = false;
  let onGone: (() => void) | undefined;
  const disconnected = new Promise<void>((r) => (onGone = r));
  // Everything the board sends outside a command's own exchange, e.g. an "Uncaught" error.
  let stray = '';
  const listener = (d: ArrayBuffer): void => {
    stray = (stray + Buffer.from(d).toString('latin1')).slice(-2000);
  };

  const opened = withTimeout(
    new Promise<void>((resolve, reject) => {
      t.Core.Serial.open(
        port,
        (info) => {
          if (info === undefined || (info !== null && typeof info === 'object' && 'message' in (info as object))) {
            const why = current?.lastError?.message ?? lastLogged(/Unable|not found|error/i) ?? 'the port could not be opened';
            reject(new FlashError(openFailure(port, ble, why)));
          } else resolve();
        },
        () => {
          gone = true;
          onGone?.();
        },
      );
    }),
    CONNECT_TIMEOUT_MS,
    () =>
      new FlashError(
        ble
          ? `no board found at ${port} (is it advertising, in range, and not connected elsewhere?)`
          : `no answer from ${port} while opening it`,
      ),
  );
  await Promise.race([opened, fatal]);
  t.Core.Serial.startListening(listener);

  /** Runs one library call that answers through a callback, against a timeout and a disconnect. */
  const exchange = <T>(what: string, call: (done: (v: T) => void) => void, ms = answerTimeout): Promise<T> => {
    if (gone) return Promise.reject(new FlashError(`the board disconnected before ${what}`));
    return Promise.race([
      withTimeout(
        new Promise<T>((resolve) => call(resolve)),
        ms,
        () => new FlashError(`the board did not answer ${what} within ${ms / 1000} s`),
      ),
      disconnected.then(() => {
        throw new FlashError(`the board disconnected during ${what}`);
      }),
      fatal,
    ]);
  };

  /**
   * After a command got no answer: is the board gone? A PTY or USB port whose other side vanished
   * fails only on the next write, so write a harmless newline and wait briefly for the close.
   */
  const linkLost = async (): Promise<boolean> => {
    const port = current?.port;
    if (!gone && port && port.isOpen) {
      port.write('\n');
      await Promise.race([disconnected, new Promise((r) => setTimeout(r, LINK_PROBE_MS))]);
    }
    return gone;
  };

  const session: BoardSession = {
    port,
    async env() {
      const raw = await exchange<string | undefined>('the board query (process.env)', (done) =>
        t.Core.Utils.executeExpression('process.env', done),
      );
      let env: BoardEnv | undefined;
      try {
        env = raw === undefined ? undefined : (JSON.parse(raw) as BoardEnv);
      } catch {
        env = undefined;
      }
      if (env === undefined || env === null || typeof env !== 'object' || typeof env.BOARD !== 'string') {
        throw new FlashError(
          `no Espruino REPL answered on ${port}: it sent ${preview(raw ?? stray)} (wrong port or baud rate, or not an Espruino board)`,
        );
      }
      const v = typeof env.VERSION === 'string' ? t.Core.Utils.versionToFloat(env.VERSION) : 0;
      // The library's own rule (plugins/versionChecker.js): throttle writes unless the console can take them.
      t.Core.Serial.setSlowWrite(!(v > FAST_WRITE_MIN_VERSION && FAST_WRITE_CONSOLES.includes(String(env.CONSOLE))));
      return env;
    },
    async evaluate<T>(expr: string): Promise<T> {
      const raw = await exchange<string | undefined>(`'${expr.slice(0, 40)}'`, (done) => t.Core.Utils.executeExpression(expr, done));
      if (raw === undefined) throw new FlashError(`the board gave no answer to '${expr.slice(0, 40)}' (it sent ${preview(stray)})`);
      try {
        return JSON.parse(raw) as T;
      } catch {
        throw new FlashError(`the board answered '${expr.slice(0, 40)}' with ${preview(raw)}, not a value`);
      }
    },
    async run(statements: string): Promise<string> {
      const out = await exchange<string | undefined>('a command', (done) => t.Core.Utils.executeStatement(statements, done));
      if (out === undefined) throw new FlashError(`the board did not confirm a command (it sent ${preview(stray)})`);
      return out;
    },
    async upload(name, data, progress) {
      const lines = t.Core.Utils.getUploadFileCode(name, data).split('\n');
      let sent = 0;
      for (const line of lines) {
        stray = '';
        const out = await exchange<string | undefined>(`the upload of ${name} (${sent} of ${data.length} bytes written)`, (done) =>
          t.Core.Utils.executeStatement(line, done),
        );
        if (out === undefined && (await linkLost()))
          throw new FlashError(`the board disconnected during the upload of ${name} (${sent} of ${data.length} bytes written)`);
        if (out === undefined || /Uncaught|Error/.test(out)) {
          const why = /Uncaught[^\r\n]*/.exec((out ?? '') + stray)?.[0];
          throw new FlashError(
            `the board refused the upload of ${name} at byte ${sent} of ${data.length}${why ? ': ' + why : ` (it sent ${preview(out ?? stray)})`}`,
          );
        }
        sent = Math.min(data.length, sent + uploadLineBytes(line));
        progress(sent);
      }
    },
    async readBack(name) {
      const exists = await session.evaluate<boolean>(`require("Storage").read(${JSON.stringify(name)})!==undefined`);
      if (!exists) return undefined;
      const got = await exchange<string | undefined>(`the read-back of ${name}`, (done) => t.Core.Utils.downloadFile(name, done));
      if (got === undefined)
        throw new FlashError(`the board did not send ${name} back for the read-back check (it sent ${preview(stray)})`);
      return got;
    },
    async close() {
      t.Core.Serial.startListening(undefined);
      if (!gone && t.Core.Serial.isConnected()) t.Core.Serial.close();
      // Our own port is closed whatever the library thinks its state is, so the device is free again.
      const port = current?.port;
      if (port && port.isOpen) await new Promise<void>((r) => port.close(() => r()));
      if (!gone) await withTimeout(disconnected, CLOSE_TIMEOUT_MS, () => new FlashError('close timed out')).catch(() => undefined);
      unguard();
    },
  };
  return session;
}

/** Bytes of file data one `require("Storage").write(name, atob("..."), offset[, size])` line carries. */
function uploadLineBytes(line: string): number {
  const m = /atob\("([A-Za-z0-9+/=]*)"\)/.exec(line);
  return m ? Buffer.from(m[1]!, 'base64').length : 0;
}

function lastLogged(re: RegExp): string | undefined {
  for (let i = log.length - 1; i >= 0; i--) if (re.test(log[i]!)) return log[i]!.replace(/^\w+ /, '');
  return undefined;
}

function openFailure(port: string, ble: boolean, why: string): string {
  if (/EACCES|permission/i.test(why)) return `cannot open ${port}: permission denied (add yourself to the 'dialout' group)`;
  if (/EBUSY|locked|Resource temporarily/i.test(why))
    return `cannot open ${port}: it is in use by another program (close the Web IDE or a terminal)`;
  if (ble) return `no board found at ${port} (${why})`;
  return `cannot open ${port}: ${why}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, err: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(err()), ms);
    }),
  ]);
}
