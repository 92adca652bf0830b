// Serial lines for the Node "sim" board: an in-memory crossed pair for tests, and a real port
// (PTY, USB serial adapter) opened with the `serialport` package.
import type { SerialPort } from '../types.ts';

/** A SerialPort that can be closed (real ports hold a file descriptor). */
export interface ClosableSerialPort extends SerialPort {
  close(): Promise<void>;
}

/**
 * Two ends of a null-modem cable in memory. Bytes written on one end arrive at the other end's
 * onData callbacks on a later microtask (never re-entrantly), copied so the writer may reuse its buffer.
 */
export function createSerialPair(): [ClosableSerialPort, ClosableSerialPort] {
  const cbs: [((c: Uint8Array) => void)[], ((c: Uint8Array) => void)[]] = [[], []];
  let open = true;
  const end = (me: 0 | 1): ClosableSerialPort => ({
    write(data: Uint8Array): void {
      if (!open) return;
      const copy = new Uint8Array(data);
      queueMicrotask(() => {
        if (open) for (const cb of cbs[1 - me]) cb(copy);
      });
    },
    onData(cb: (chunk: Uint8Array) => void): void {
      cbs[me].push(cb);
    },
    async close(): Promise<void> {
      open = false;
    },
  });
  return [end(0), end(1)];
}

/** Default line speed of the radio modems Vakt talks to. */
export const DEFAULT_BAUD = 115200;

/**
 * Opens a real serial device (e.g. /dev/pts/3 from socat, /dev/ttyUSB0) and resolves once it is open.
 * Rejects with the OS's reason in plain words if the device cannot be opened.
 */
export async function openSerialPort(path: string, baudRate: number = DEFAULT_BAUD): Promise<ClosableSerialPort> {
  // Imported lazily so boards that never touch a real port do not load the native binding.
  const { SerialPort: NodeSerialPort } = await import('serialport');
  const port = new NodeSerialPort({ path, baudRate, autoOpen: false });
  await new Promise<void>((resolve, reject) => {
    port.open((err) => (err ? reject(new Error(`cannot open serial port ${path}: ${err.message}`)) : resolve()));
  });
  const cbs: ((c: Uint8Array) => void)[] = [];
  port.on('data', (b: Buffer) => {
    const chunk = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
    for (const cb of cbs) cb(chunk);
  });
  // A port error (device unplugged) must not crash the process; the app sees silence.
  port.on('error', () => {});
  return {
    write(data: Uint8Array): void {
      if (port.isOpen) port.write(Buffer.from(data));
    },
    onData(cb: (chunk: Uint8Array) => void): void {
      cbs.push(cb);
    },
    close(): Promise<void> {
      return new Promise<void>((resolve) => {
        if (!port.isOpen) {
          resolve();
          return;
        }
        port.drain(() => port.close(() => resolve()));
      });
    },
  };
}
