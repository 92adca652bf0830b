/**
 * A transparent stream modem: bytes in on one side come out on the others (today's PTY pairs, a
 * cabled bench, HC-12 in normal mode). No configuration, no packet limit; what is budgeted is the
 * airtime of each chunk handed to send() at the modem's air rate (`modulation`).
 */
import { timeOnAirMs, type Modulation } from './airtime.ts';
import { ModemDriver, uartStartDelay, type ByteLine, type DriverOptions } from './driver.ts';

/** Idle byte times a stream module waits before it sends what it buffered. */
const STREAM_IDLE_BYTES = 3;

/** Air rate used when the stream is a cable or PTY (no radio): UART 115200 8N1 = 11,520 bytes/s. */
export const CABLE_115200: Modulation = { kind: 'fsk', bps: 92_160, overheadBytes: 0 };

/** A stream modem: the radio sends one chunk at a time (ModemDriver's default ready()). */
export class StreamDriver extends ModemDriver {
  readonly kind: string = 'transparent';
  readonly maxPayload = Infinity;

  /** UART rate toward the module (for the delay before it keys up; default 9600). */
  protected uartBaud = 9600;

  constructor(
    protected readonly line: ByteLine,
    protected modulation: Modulation,
    o: DriverOptions,
  ) {
    super(o);
    line.onData((c) => this.onUart(c));
  }

  airtimeMs(len: number): number {
    return timeOnAirMs(this.modulation, len);
  }

  /** The chunk crosses the UART, then the module waits a few idle byte times before keying up. */
  protected override startDelayMs(len: number): [number, number] {
    return uartStartDelay(len, this.uartBaud, STREAM_IDLE_BYTES);
  }

  protected transmit(payload: Uint8Array): void {
    this.onAir(payload.length);
    this.line.write(payload);
  }

  /** Received bytes, as they come (the caller's framer finds the frames). */
  protected onUart(chunk: Uint8Array): void {
    this.deliver(chunk);
  }
}

/*
 * Test telegram: the stream carries the firmware's serial frames unchanged (PROTOCOL.md §9),
 * e.g. 03 11 22 02 33 00 = COBS of 11 22 00 33, ended by the delimiter 00 (CRC omitted here; the
 * firmware's deframer checks it). test/modem/drivers.test.ts sends it through an emulated pipe.
 */
