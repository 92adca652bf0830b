// The hardware interface every board adapter implements and every firmware app receives.
// Apps never reach for globals (Serial1, require("Storage"), Date): they get a Board, so the same
// bundle runs on Espruino, Moddable XS and Node. Type-only file: nothing here exists at run time.
import type { BlockCipher } from '@vakt/shared/aes';

export type { BlockCipher };

/** One radio modem line carrying raw bytes (COBS framing is done by the app with shared/src/serial.ts). */
export interface SerialPort {
  /**
   * Sends data; consumes or copies it before returning (the apps reuse their buffers: the sim
   * board copies, Espruino's Serial.write and ECMA-419 write copy). A frame may come in several
   * writes; frames end with 0x00 (PROTOCOL.md §9), which is where a modem or a tap cuts them.
   */
  write(data: Uint8Array): void;
  onData(cb: (chunk: Uint8Array) => void): void;
}

/** Small named records; write() is atomic per record (write-new-then-switch). */
export interface Storage {
  read(name: string): Uint8Array | undefined;
  /** Returns only when the record is durable; a power loss leaves either the old or the new record. */
  write(name: string, data: Uint8Array): void;
  erase(name: string): void;
}

/** Wall clock in unix seconds plus a periodic timer. */
export interface Clock {
  now(): number;
  set(t: number): void;
  every(ms: number, cb: () => void): unknown;
}

/** The meter's few digital lines: the breaker relay, the energy pulse input and the tamper switch. */
export interface Pins {
  relay(closed: boolean): void;
  onPulse(cb: (count: number) => void): void;
  onTamper(cb: () => void): void;
}

/** Everything a firmware app may touch; built once at boot by the board's adapter. */
export interface Board {
  profile: BoardProfile;
  serial: SerialPort[];
  storage: Storage;
  clock: Clock;
  pins: Pins;
  /** Native AES provider where the board has one (from @vakt/shared aes.ts). */
  aes?: BlockCipher;
  log(msg: string): void;
}

/** Which JavaScript engine a board runs; decides the language subset the bundle is checked against. */
export type Engine = 'espruino' | 'xs' | 'node';

/** A serial port as the profile declares it (data, read by the adapter and the docs). */
export interface SerialPortProfile {
  /** Name on the board: 'Serial1' (Espruino), 'UART1' (ESP32), or a device path placeholder on sim. */
  name: string;
  /**
   * What the line is for: the meter's radio modem or a concentrator's modem toward meters (a
   * profile's `modem` driver, if any, runs on these), a concentrator's line to the HES, or a console.
   */
  role: 'modem' | 'hes' | 'console';
  baud: number;
  /** Pin names for tx/rx where the board needs them (Espruino setup(), ECMA-419 Serial). */
  tx?: string | number;
  rx?: string | number;
}

/**
 * The radio modem on a board's modem line (host drivers: host/src/modem; data, read by the drivers
 * and the docs). Pins are logical names ('m0', 'm1', 'aux' for Ebyte, 'set' for HC-12, 'reset')
 * mapped to a GPIO pin on a board, or to a modem-control line on a host USB-UART ('rts', 'dtr',
 * 'cts', 'dsr', 'dcd'; '!' prefix = inverted).
 */
export interface ModemProfile {
  kind: 'transparent' | 'hc12' | 'e32' | 'e22' | 'xbee' | 'packet';
  /** Largest payload per packet where the kind does not fix it (generic packet radio, E22 sub-packet). */
  maxPayload?: number;
  /** Regulatory band profile name (boards/src/common/radio.ts BANDS); 'lab' must be chosen explicitly. */
  band?: string;
  pins?: { [logical: string]: string | number };
  /** Settings written at start and read back (E32: address, channel 0..31, airRate bit/s, powerDbm). */
  config?: { address?: number; channel?: number; airRate?: number; powerDbm?: number };
  // Firmware-side driver (boards/src/espruino/modem-e32.ts); the host's RadioPort has the same knobs.
  /** Units (frame ‖ CRC) queued for the air (default 4). */
  queue?: number;
  /** Longest unit sent or reassembled, bytes (default 600: a firmware chunk's link frame). */
  maxUnit?: number;
  /** Senders whose fragmented units are reassembled at once (default 2). */
  slots?: number;
  /** Copies of each fragment of a unit of ≥ 4 fragments (a concentrator's firmware chunks; default 1). */
  fragmentCopies?: number;
  /** Copies of a command's response and of the LINK_ACK of a fragmented unit (default 1; meters: 2). */
  replyCopies?: number;
  /** Random delay 0..jitterMs before a spontaneous unit (ALOHA; meters closing an interval together). */
  jitterMs?: number;
}

/** Pin assignment as data; undefined means the board has no such line and the adapter simulates it. */
export interface PinProfile {
  relay?: string | number;
  pulse?: string | number;
  tamper?: string | number;
}

/** A declarative board description, in the spirit of Espruino's boards/*.py and Moddable manifests. */
export interface BoardProfile {
  name: string;
  engine: Engine;
  /** Human description: chip and board. */
  description?: string;
  /** Firmware roles this board may run. */
  roles?: Array<'meter' | 'concentrator'>;
  /** RAM available to JavaScript: Espruino variables (JsVars) or bytes of heap on XS/Node. */
  ram?: { jsVars?: number; bytes?: number };
  /** Flash bytes available for code + storage records. */
  flash?: { codeBytes?: number; storageBytes?: number };
  serial?: SerialPortProfile[];
  pins?: PinProfile;
  /** The radio modem on serial[0] (a meter) or on the meter lines (a concentrator). */
  modem?: ModemProfile;
  /** True when the board offers a hardware/native AES-128 ECB block the adapter exposes as Board.aes. */
  nativeAes?: boolean;
  /** Limits the bundle must meet on this board (checked by build/bench scripts). */
  limits?: { bundleRawBytes?: number; bundleGzipBytes?: number; steadyJsVars?: number };
}
