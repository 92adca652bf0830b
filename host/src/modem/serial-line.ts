/**
 * A modem on a host serial port (`serialport`): its UART as a ByteLine and its control pins on the
 * adapter's modem-control lines, as the board profile maps them (boards/src/types.ts ModemProfile):
 *
 * | profile value | direction | module pin level                                             |
 * |---------------|-----------|--------------------------------------------------------------|
 * | 'rts', 'dtr'  | out       | follows the line's electrical level (asserted = low on a USB-UART) |
 * | '!rts', '!dtr'| out       | inverted (through a transistor stage)                         |
 * | 'cts', 'dsr', 'dcd' | in  | electrical level (asserted = low)                             |
 * | '!cts', …     | in        | inverted                                                      |
 *
 * E.g. an E32 on a CP2102 board: m0 → 'rts', m1 → 'dtr', aux → 'cts'.
 */
import { SerialPort } from 'serialport';
import type { ByteLine, ControlLines } from './driver.ts';

/** A modem's serial port opened for a driver. */
export interface ModemSerial {
  line: ByteLine;
  pins: ControlLines;
  close(): Promise<void>;
}

const OUT_LINES = ['rts', 'dtr'] as const;
const IN_LINES = ['cts', 'dsr', 'dcd'] as const;

/** Parses a profile pin value: the line and whether it is inverted; throws a plain error otherwise. */
export function parsePinLine(v: string): { line: string; inverted: boolean; out: boolean } {
  const inverted = v.startsWith('!');
  const line = inverted ? v.slice(1) : v;
  if ((OUT_LINES as readonly string[]).includes(line)) return { line, inverted, out: true };
  if ((IN_LINES as readonly string[]).includes(line)) return { line, inverted, out: false };
  throw new Error(`pin line "${v}" is not a serial modem-control line (rts, dtr, cts, dsr, dcd; prefix ! to invert)`);
}

/** Opens `path` at `baud` with the pin map {logical name: line}; rejects with a plain message naming the path. */
export async function openModemSerial(path: string, baud: number, pinMap: { [pin: string]: string }): Promise<ModemSerial> {
  const map = new Map(Object.entries(pinMap).map(([k, v]) => [k, parsePinLine(v)]));
  const port = new SerialPort({ path, baudRate: baud, autoOpen: false });
  await new Promise<void>((resolve, reject) =>
    port.open((e) => (e ? reject(new Error(`cannot open serial port ${path}: ${e.message}`)) : resolve())),
  );
  port.on('error', () => undefined); // a vanished device shows as silence and failed writes, never a crash
  const cbs: ((c: Uint8Array) => void)[] = [];
  port.on('data', (b: Buffer) => {
    const c = new Uint8Array(b.buffer, b.byteOffset, b.length);
    for (const cb of cbs) cb(c);
  });
  const pinOf = (pin: string, out: boolean): { line: string; inverted: boolean } => {
    const p = map.get(pin);
    if (p === undefined) throw new Error(`modem on ${path}: the board profile maps no line to pin "${pin}"`);
    if (p.out !== out)
      throw new Error(`modem on ${path}: pin "${pin}" is mapped to ${p.line}, which is ${p.out ? 'an output' : 'an input'}`);
    return p;
  };
  return {
    line: {
      write: (d) => {
        if (port.isOpen) port.write(Buffer.from(d));
      },
      onData: (cb) => {
        cbs.push(cb);
      },
    },
    pins: {
      set: (pin, high) => {
        const p = pinOf(pin, true);
        // Asserted (true) drives the line low: the module sees `high` when the line is deasserted.
        const asserted = p.inverted ? high : !high;
        return new Promise((resolve, reject) =>
          port.set({ [p.line]: asserted }, (e) =>
            e ? reject(new Error(`modem on ${path}: cannot set ${p.line}: ${e.message}`)) : resolve(),
          ),
        );
      },
      get: (pin) => {
        const p = pinOf(pin, false);
        return new Promise((resolve, reject) =>
          port.get((e, s) => {
            if (e || s === undefined) {
              reject(new Error(`modem on ${path}: cannot read ${p.line}: ${e?.message ?? 'no status'}`));
              return;
            }
            const asserted = (s as unknown as Record<string, boolean>)[p.line] === true;
            resolve(p.inverted ? asserted : !asserted);
          }),
        );
      },
    },
    close: () =>
      new Promise((resolve) => {
        if (!port.isOpen) resolve();
        else port.close(() => resolve());
      }),
  };
}
