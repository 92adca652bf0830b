// What the firmware-side modem drivers (modem-e32.ts, modem-hc12.ts) need of the interpreter and
// of the UART they stand in for, and the configuration states they share. The boot line passes
// Espruino's own functions; the tests pass fakes on simulated time.

/** The interpreter's functions a modem driver uses. */
export interface ModemIo {
  /** A pin from its profile name ('B3'; a number passes through). */
  pin(name: string | number): unknown;
  digitalWrite(pin: unknown, value: number): void;
  digitalRead(pin: unknown): number | boolean;
  setTimeout(cb: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Seconds (fractional), as Espruino's getTime(). */
  getTime(): number;
  /** Espruino's E.toUint8Array: a data event's binary string (or bytes) as bytes. */
  toUint8Array(d: string | Uint8Array): Uint8Array;
  print(msg: string): void;
}

/** The UART object a module hangs on (Serial1): what a driver needs of it, and what it offers the adapter. */
export interface ModemUart {
  setup(baud: number, options: { tx?: unknown; rx?: unknown }): void;
  write(data: Uint8Array): void;
  on(event: 'data', cb: (data: string | Uint8Array) => void): void;
}

/** A driver as the board adapter sees it: a UART object plus its configuration state. */
export interface ModemSerialState extends ModemUart {
  /** 'config' until the read-back matched, then 'ready'; 'failed' with `error` set. */
  state(): string;
  error(): string;
}

/** Configuration states of a firmware-side modem driver; STATE_NAMES[state] is what state() says. */
export const ST_INIT = 0;
export const ST_CONFIG = 1;
export const ST_READY = 2;
export const ST_FAILED = 3;
export const STATE_NAMES = ['init', 'config', 'ready', 'failed'];
