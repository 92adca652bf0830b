/**
 * A generic packet radio behind a UART (an nRF24L01 or RFM69 UART bridge, a custom board): packets
 * of at most `maxPayload` bytes, optionally addressed. UART framing, both directions:
 *
 * | byte     | field                                                         |
 * |----------|---------------------------------------------------------------|
 * | 0        | LEN: bytes that follow (address + payload), 1..255            |
 * | 1..2     | ADDR (only when `addressed`): destination on TX, source on RX  |
 * | ..       | payload                                                        |
 *
 * The radio is fixed-function: no configuration to write (its limit and air rate are data).
 * A partial frame older than RX_GAP_MS is dropped (resynchronises after a lost byte).
 */
import { timeOnAirMs, type Modulation } from './airtime.ts';
import { ModemDriver, uartStartDelay, type ByteLine, type DriverOptions } from './driver.ts';

/** UART rate of the packet radio's host interface. */
const PACKET_UART_BAUD = 9600;

export interface PacketRadioConfig {
  maxPayload: number;
  modulation: Modulation;
  /** Destination address (TX) when the radio is addressed; 0xFFFF broadcast. */
  address?: number;
}

/** Idle gap that abandons a partial UART frame. */
export const PACKET_RX_GAP_MS = 20;
const ADDR_LEN = 2;
const MAX_LEN = 255;

/** UART frame of one packet. */
export function encodePacketFrame(payload: Uint8Array, address: number | undefined): Uint8Array {
  const a = address === undefined ? 0 : ADDR_LEN;
  const out = new Uint8Array(1 + a + payload.length);
  out[0] = a + payload.length;
  if (address !== undefined) {
    out[1] = address >> 8;
    out[2] = address & 0xff;
  }
  out.set(payload, 1 + a);
  return out;
}

/** Driver of a generic packet radio. */
export class PacketRadioDriver extends ModemDriver {
  readonly kind = 'packet radio';
  readonly maxPayload: number;
  private rx: number[] = [];
  private rxAt = 0;
  /** Frames dropped by the UART parser (bad length, incomplete). */
  bad = 0;

  constructor(
    private readonly line: ByteLine,
    readonly config: PacketRadioConfig,
    o: DriverOptions,
  ) {
    super(o);
    const a = config.address === undefined ? 0 : ADDR_LEN;
    if (!(config.maxPayload >= 1 && config.maxPayload + a <= MAX_LEN))
      throw new Error(`packet radio on ${o.name}: payload limit ${config.maxPayload} out of 1..${MAX_LEN - a}`);
    this.maxPayload = config.maxPayload;
    line.onData((c) => this.onUart(c));
  }

  airtimeMs(len: number): number {
    return timeOnAirMs(this.config.modulation, len + (this.config.address === undefined ? 0 : ADDR_LEN));
  }

  /** The UART frame (length, address, payload) crosses the 9600-baud UART before the radio keys up. */
  protected override startDelayMs(len: number): [number, number] {
    return uartStartDelay(1 + (this.config.address === undefined ? 0 : ADDR_LEN) + len, PACKET_UART_BAUD, 0);
  }

  protected transmit(payload: Uint8Array): void {
    this.onAir(payload.length);
    this.line.write(encodePacketFrame(payload, this.config.address));
  }

  private onUart(chunk: Uint8Array): void {
    const now = this.timers.now();
    if (this.rx.length > 0 && now - this.rxAt > PACKET_RX_GAP_MS) {
      this.bad++;
      this.rx = [];
    }
    this.rxAt = now;
    const a = this.config.address === undefined ? 0 : ADDR_LEN;
    for (const b of chunk) {
      this.rx.push(b);
      const len = this.rx[0]!;
      if (len <= a) {
        this.bad++;
        this.rx = [];
        continue;
      }
      if (this.rx.length === 1 + len) {
        const p = Uint8Array.from(this.rx.slice(1 + a));
        this.rx = [];
        this.deliver(p);
      }
    }
  }
}

/*
 * Test telegram (this file's framing, addressed): 05 FF FF C1 AB CD
 *   05 length, FF FF broadcast address, C1 AB CD payload (a fragment's first bytes: 0xC1 = index 1).
 */
