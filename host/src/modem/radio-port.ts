/**
 * The firmware's SerialPort on top of a modem driver. The firmware writes serial frames
 * (COBS(frame ‖ CRC16) ‖ 0x00, PROTOCOL.md §9) and reads the same; on the air:
 *
 * - a stream modem (transparent, HC-12) carries the serial frames unchanged, one send() per frame;
 * - a packet modem (E32/E22, XBee, generic) carries one radio unit per packet: the frame ‖ CRC16
 *   without COBS and delimiter (the packet has its own boundaries; the CRC stays, so line noise is
 *   told from forgery, D-9), or, when the unit is longer than the packet limit, its fragments
 *   (shared/src/fragment.ts). The unit's first byte says what it is (SEAMS: 0x40–0x7F v2 frame,
 *   0xC0–0xFF fragment, 0x01/0x81 v1). Received units are COBS-encoded again for the firmware,
 *   whose deframer checks the CRC.
 */
import type { SerialPort } from '@vakt/boards';
import { cobsDecode, cobsEncode, cobsMaxEncodedLen, COBS_DELIMITER } from '@vakt/shared/cobs';
import { LINK_DATA } from '@vakt/shared';
import { CRC16_LEN } from '@vakt/shared/crc16';
import {
  burstFragment,
  burstLength,
  FRAG_COPIES_MIN,
  FRAG_HEADER_LEN,
  fragmentChunk,
  fragmentCount,
  isFragment,
  Reassembler,
  SHORT_ADDR_LEN,
  writeFragment,
} from '@vakt/shared/fragment';
import { FrameCutter } from '../bridge/frame-cutter.ts';
import type { ModemDriver } from './driver.ts';

export interface RadioPortOptions {
  /**
   * This device's short address (SHORT_ADDR_LEN bytes). Fragments of a v2 hop frame name the
   * meter's short address from the frame itself (wire-v2 §7: the sender's UP, the receiver's DOWN);
   * fragments of any other unit (v1) name this address.
   */
  shortAddr: Uint8Array;
  /**
   * Which fragments to reassemble, by the address they name (default: all — a concentrator). A meter
   * takes only its own and its concentrator's, so other meters' traffic costs it no buffer.
   */
  accept?: (addr: Uint8Array, off: number) => boolean;
  /**
   * The address a unit's fragments name when it is not a v2 hop frame (whose own address field is
   * used): e.g. a v1 downlink's receiver's short address, so that meters reassemble only their own.
   * Default: `shortAddr`.
   */
  addressOf?: (unit: Uint8Array, len: number) => Uint8Array | undefined;
  /** Largest unit (frame ‖ CRC) reassembled (default 1100: a link frame of MAX_LINK_FRAME + CRC). */
  maxUnit?: number;
  /** Senders whose units are reassembled at once (default 8). */
  reassemblySlots?: number;
  /** A partial unit is dropped this long after its first fragment (default 30 s). */
  reassemblyTimeoutMs?: number;
  /**
   * Quiet time after each unit that is not itself a reply, for its receiver's LINK_ACK (default:
   * the airtime of a 48-byte packet plus 50 ms).
   */
  listenMs?: number;
  /**
   * Copies of each fragment of a unit of at least FRAG_COPIES_MIN fragments (LoRaWAN's NbTrans, for
   * fragments), all but the last fragment: on a 30 % loss channel a 12-fragment firmware chunk arrives
   * whole in 1.4 % of single tries, in ~52 % with three copies. The receiver drops the duplicates. Default 1.
   */
  fragmentCopies?: number;
  /**
   * Copies of a reply that is costly to lose (LoRaWAN's NbTrans, for answers), sent back to back:
   * a command's response (a DATA frame written as the command arrived, fragmented or not) — it is
   * sent once per command, and a lost answer costs the HES a whole retry (minutes on a slow radio) —
   * and the LINK_ACK of a unit that came in fragments, whose loss makes the sender repeat the whole
   * burst. The receiver drops the copies (recentUnits). Default 1.
   */
  replyCopies?: number;
}

/**
 * RadioPort settings per role (netsim uses the same): a concentrator reassembles many meters at
 * once and sends its long downlink units (firmware chunks) with 3 copies of each fragment; a meter
 * sends its answers to commands twice (one answer per command: a lost one costs a whole HES retry).
 */
export const ROLE_PORT: { [role in 'meter' | 'concentrator']: Omit<RadioPortOptions, 'shortAddr'> } = {
  meter: { replyCopies: 2 },
  concentrator: { reassemblySlots: 64, fragmentCopies: 3 },
};

/** Units with this many fragments or more are sent `fragmentCopies` times (shared/src/fragment.ts). */
export { FRAG_COPIES_MIN };

/** Counters of a radio port. */
export interface RadioPortStats {
  framesOut: number;
  fragmentsOut: number;
  /** Frames not sent because the modem refused (part of) them. */
  framesRefused: number;
  /** Frames the firmware wrote that were not valid COBS (never sent). */
  badFrames: number;
  unitsIn: number;
  /** Fragments not for this device (accept() said no). */
  fragmentsIgnored: number;
  /** Reassembled v2 units whose address field differs from their fragments' (refused). */
  addressMismatch: number;
  /** Units dropped as copies of one just received (replyCopies of the sender, channel duplicates). */
  unitCopies: number;
}

const DEFAULT_MAX_UNIT = 1100;
/** A frame the firmware writes within this long of a received unit answers it (no access jitter). */
const REPLY_WINDOW_MS = 1;
/** A LINK_ACK reply fits this many bytes (v1: 26-byte header, body, 8-byte tag, CRC). */
const REPLY_BYTES = 48;
const LISTEN_MARGIN_MS = 50;

/** A unit identical to one received this recently is a copy (replyCopies, a duplicating channel) and dropped. */
const COPY_WINDOW_MS = 10_000;
/** Units remembered for that (a concentrator hears many meters between one's copies). */
const RECENT_UNITS = 16;
/** Bytes of a unit's head in its fingerprint: hop first byte, short address, counter (wire-v2 §2). */
const PRINT_HEAD = 4;
/** Type bits of a v2 hop frame's first byte (wire-v2 §2: 1 DATA, 4 LINK_ACK). */
const HOP_TYPE_MASK = 0x0f;

/** Where a fragment names its address, and where a v2 hop frame carries the meter's short address (wire-v2 §2). */
const FRAG_ADDR_OFF = 1;
const HOP_ADDR_OFF = 1;

/** True for the first byte of a v2 radio link frame (SEAMS: 0x40–0x7F). */
export function isHopV2(b: number): boolean {
  return (b & 0xc0) === 0x40;
}

function sameAddr(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let i = 0; i < SHORT_ADDR_LEN; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}

/** A SerialPort whose bytes travel over a radio modem. */
export class RadioPort implements SerialPort {
  readonly stats: RadioPortStats = {
    framesOut: 0,
    fragmentsOut: 0,
    framesRefused: 0,
    badFrames: 0,
    unitsIn: 0,
    fragmentsIgnored: 0,
    addressMismatch: 0,
    unitCopies: 0,
  };
  readonly reassembler: Reassembler | null;
  private readonly cutter = new FrameCutter();
  private readonly cbs: ((c: Uint8Array) => void)[] = [];
  private readonly stream: boolean;
  private readonly unit: Uint8Array;
  private readonly frag: Uint8Array;
  private readonly chunk: number;
  private tag = 0;
  private readonly listenMs: number;
  /** When the last unit arrived (a frame written at that very time is the firmware's reply to it). */
  private lastRxAt = -Infinity;
  /** Whether that unit came in fragments. */
  private lastRxFragmented = false;
  /** Fingerprints (length, CRC-16 trailer, head) and arrival times of recent units, a ring. */
  private readonly recent: string[] = [];
  private readonly recentAt: number[] = [];
  private recentNext = 0;

  constructor(
    readonly driver: ModemDriver,
    private readonly o: RadioPortOptions,
  ) {
    if (o.shortAddr.length !== SHORT_ADDR_LEN) throw new Error(`short address must be ${SHORT_ADDR_LEN} bytes`);
    this.stream = driver.maxPayload === Infinity;
    const maxUnit = o.maxUnit ?? DEFAULT_MAX_UNIT;
    this.unit = new Uint8Array(maxUnit + 8);
    this.chunk = this.stream ? 0 : fragmentChunk(driver.maxPayload);
    this.frag = new Uint8Array(this.stream ? 0 : driver.maxPayload);
    this.reassembler = this.stream ? null : new Reassembler(o.reassemblySlots ?? 8, this.chunk, maxUnit, o.reassemblyTimeoutMs ?? 30_000);
    this.listenMs = o.listenMs ?? (this.stream ? 0 : driver.airtimeMs(Math.min(REPLY_BYTES, driver.maxPayload)) + LISTEN_MARGIN_MS);
    driver.onPacket((p) => this.onPacket(p));
  }

  /** Firmware → air: cuts the byte stream into serial frames and sends each as packets. */
  write(data: Uint8Array): void {
    this.cutter.push(data, (f) => this.sendFrame(f));
  }

  onData(cb: (chunk: Uint8Array) => void): void {
    this.cbs.push(cb);
  }

  private sendFrame(f: Uint8Array): void {
    const reply = this.driver.now() - this.lastRxAt < REPLY_WINDOW_MS;
    const listen = reply ? 0 : this.listenMs;
    if (this.stream) {
      if (this.driver.send(f, reply) === 'queued') this.stats.framesOut++;
      else this.stats.framesRefused++;
      return;
    }
    // f = COBS(unit) ‖ 0x00
    const n = f.length > 1 ? cobsDecode(f, 0, f.length - 1, this.unit, 0) : -1;
    if (n <= 0) {
      this.stats.badFrames++;
      return;
    }
    const costly = reply && (this.lastRxFragmented || (isHopV2(this.unit[0]!) && (this.unit[0]! & HOP_TYPE_MASK) === LINK_DATA));
    // A unit starting like a fragment (never a v1/v2 frame, but the port is transparent) goes as fragments.
    if (n <= this.driver.maxPayload && !isFragment(this.unit[0]!)) {
      const copies = costly ? Math.max(1, this.o.replyCopies ?? 1) : 1;
      for (let c = 0; c < burstLength(1, copies); c++) {
        if (this.driver.send(this.unit.subarray(0, n), reply, listen) !== 'queued') {
          this.stats.framesRefused++;
          return;
        }
      }
      this.stats.framesOut++;
      return;
    }
    const count = fragmentCount(n, this.chunk);
    if (count < 0) {
      this.stats.framesRefused++;
      return;
    }
    const tag = this.tag;
    this.tag = (this.tag + 1) & 0xff;
    const v2 = isHopV2(this.unit[0]!);
    const named = v2 ? this.unit : (this.o.addressOf?.(this.unit, n) ?? this.o.shortAddr);
    const copies = Math.max(1, count >= FRAG_COPIES_MIN ? (this.o.fragmentCopies ?? 1) : costly ? (this.o.replyCopies ?? 1) : 1);
    const total = burstLength(count, copies);
    for (let j = 0; j < total; j++) {
      const i = burstFragment(j, count, copies);
      const len = writeFragment(this.unit, 0, n, this.chunk, i, named, v2 ? HOP_ADDR_OFF : 0, tag, this.frag, 0);
      // A refused fragment makes the rest useless: the receiver drops the partial unit on its timeout.
      if (this.driver.send(this.frag.subarray(0, len), reply, j === total - 1 ? listen : 0) !== 'queued') {
        this.stats.framesRefused++;
        return;
      }
      this.stats.fragmentsOut++;
    }
    this.stats.framesOut++;
  }

  /** Air → firmware. */
  private onPacket(p: Uint8Array): void {
    if (this.stream) {
      this.emit(p);
      return;
    }
    if (p.length > 0 && isFragment(p[0]!)) {
      if (p.length < FRAG_HEADER_LEN || (this.o.accept !== undefined && !this.o.accept(p, FRAG_ADDR_OFF))) {
        this.stats.fragmentsIgnored++;
        return;
      }
      this.reassembler!.push(p, 0, p.length, this.driver.now(), (buf, off, len) => {
        const u = buf.subarray(off, off + len);
        // wire-v2 §7: the hop frame's address must be the one its fragments named.
        if (isHopV2(u[0]!) && (len < HOP_ADDR_OFF + SHORT_ADDR_LEN || !sameAddr(u, HOP_ADDR_OFF, p, FRAG_ADDR_OFF))) {
          this.stats.addressMismatch++;
          return;
        }
        this.emitUnit(u, true);
      });
      return;
    }
    this.emitUnit(p, false);
  }

  /** True (and counted) when `u` is a copy of a unit received within COPY_WINDOW_MS; else remembers it. */
  private isCopy(u: Uint8Array, now: number): boolean {
    let print = `${u.length}`;
    for (let i = 0; i < Math.min(PRINT_HEAD, u.length); i++) print += `.${u[i]!}`;
    for (let i = Math.max(0, u.length - CRC16_LEN); i < u.length; i++) print += `.${u[i]!}`;
    for (let i = 0; i < this.recent.length; i++) {
      if (this.recent[i] === print && now - this.recentAt[i]! < COPY_WINDOW_MS) {
        this.stats.unitCopies++;
        return true;
      }
    }
    this.recent[this.recentNext] = print;
    this.recentAt[this.recentNext] = now;
    this.recentNext = (this.recentNext + 1) % RECENT_UNITS;
    return false;
  }

  private emitUnit(u: Uint8Array, fragmented: boolean): void {
    if (this.isCopy(u, this.driver.now())) return;
    this.stats.unitsIn++;
    this.lastRxFragmented = fragmented;
    this.lastRxAt = this.driver.now();
    const out = new Uint8Array(cobsMaxEncodedLen(u.length) + 1);
    const n = cobsEncode(u, 0, u.length, out, 0);
    if (n < 0) return;
    out[n] = COBS_DELIMITER;
    this.emit(out.subarray(0, n + 1));
  }

  private emit(c: Uint8Array): void {
    if (this.stream) this.lastRxAt = this.driver.now();
    for (const cb of this.cbs) cb(c);
  }
}
