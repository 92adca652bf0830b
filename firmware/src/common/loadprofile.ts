// Load-profile ring buffer kept in board storage: one record per interval slot plus a head record.
// Readings stay until the HES acknowledges them (PROTOCOL.md §10 ACK [0, 1, seq]); a full ring
// overwrites the oldest unacknowledged interval and counts it, as billing meters do. Slot record
// names (REC_LP_PREFIX + seq mod slots) are built when needed: 96 resident strings cost ~190 Espruino blocks.
import type { Storage } from '@vakt/boards';
import { readU32BE } from '@vakt/shared/utils';
import { REC_LP_HEAD, REC_LP_PREFIX, readFixed, readU64, writeBE, REC_VERSION } from './records.ts';

/** Interval slots kept in storage: one day of 15-minute intervals. */
export const LP_SLOTS = 96;
// Record layouts (byte 0: REC_VERSION), each offset derived from the field before it.
// 'lph' (9 bytes)          offset       size
//   next sequence u32      H_NEXT       4
//   acked up to u32        H_ACKED      4
const H_NEXT = 1;
const H_ACKED = H_NEXT + 4;
const HEAD_LEN = H_ACKED + 4;
// 'lp0'…'lp95' (21 bytes)  offset       size
//   seq u32                I_SEQ        4
//   t u32 (interval end)   I_T          4
//   wh u64                 I_WH         8
//   w u32                  I_W          4
const I_SEQ = 1;
const I_T = I_SEQ + 4;
const I_WH = I_T + 4;
const I_W = I_WH + 8;
const SLOT_LEN = I_W + 4;

/** One load-profile interval, a reusable output structure. */
export interface Interval {
  seq: number;
  t: number;
  wh: number;
  w: number;
}

/** Creates an empty interval structure to be filled by LoadProfile.get. */
export function createInterval(): Interval {
  return { seq: 0, t: 0, wh: 0, w: 0 };
}

/** The load-profile ring; every mutation is persisted before the method returns. */
export class LoadProfile {
  /** Sequence number the next interval gets (first interval is 1). */
  nextSeq_ = 1;
  /** Highest sequence number the HES acknowledged (0: none). */
  acked_ = 0;
  /** Intervals overwritten before the HES acknowledged them. */
  overwritten = 0;
  private head = new Uint8Array(HEAD_LEN);
  /** The record of the interval closed last (also what append writes from). */
  private lastClosed_ = new Uint8Array(SLOT_LEN);

  constructor(
    private readonly st: Storage,
    private readonly ringSlots_: number,
  ) {
    const h = readFixed(st, REC_LP_HEAD, HEAD_LEN);
    // acked < nextSeq (so nextSeq >= 1), or the head is impossible and the ring starts empty.
    if (h !== undefined && readU32BE(h, H_ACKED) < readU32BE(h, H_NEXT)) {
      this.nextSeq_ = readU32BE(h, H_NEXT);
      this.acked_ = readU32BE(h, H_ACKED);
    }
  }

  /** Number of intervals held and not acknowledged; the oldest of them is nextSeq − pending(). */
  pending(): number {
    // Unacknowledged ones (acked ≥ 0, so the oldest is never below seq 1), at most a ring's worth.
    return Math.min(this.nextSeq_ - this.acked_ - 1, this.ringSlots_);
  }

  /** Records a closed interval (slot first, then head, so a cut in between only repeats the slot) and returns its seq. */
  append(t: number, wh: number, w: number): number {
    const seq = this.nextSeq_;
    if (seq - this.acked_ > this.ringSlots_) this.overwritten++;
    const s = this.lastClosed_;
    s[0] = REC_VERSION;
    writeBE(s, I_SEQ, 4, seq);
    writeBE(s, I_T, 4, t);
    writeBE(s, I_WH, 8, wh);
    writeBE(s, I_W, 4, w);
    this.st.write(REC_LP_PREFIX + (seq % this.ringSlots_), s);
    this.nextSeq_ = seq + 1;
    this.writeHead_();
    return seq;
  }

  /** Fills `out` with interval `seq` if it is still held; false when it was never recorded or was overwritten. */
  get(seq: number, out: Interval): boolean {
    if (seq < 1 || seq >= this.nextSeq_ || this.nextSeq_ - seq > this.ringSlots_) return false;
    // The interval just closed is still in RAM: the periodic push reads no storage.
    // (Before the first append the buffer is zeros: seq 0, never asked for.)
    const r =
      readU32BE(this.lastClosed_, I_SEQ) === seq ? this.lastClosed_ : readFixed(this.st, REC_LP_PREFIX + (seq % this.ringSlots_), SLOT_LEN);
    if (r === undefined || readU32BE(r, I_SEQ) !== seq) return false;
    out.seq = seq;
    out.t = readU32BE(r, I_T);
    out.wh = readU64(r, I_WH);
    out.w = readU32BE(r, I_W);
    return true;
  }

  /** Marks every interval up to `upTo` as stored by the HES; ignores stale or impossible values. */
  ack(upTo: number): boolean {
    if (upTo <= this.acked_ || upTo >= this.nextSeq_) return false;
    this.acked_ = upTo;
    this.writeHead_();
    return true;
  }

  private writeHead_(): void {
    const h = this.head;
    h[0] = REC_VERSION;
    writeBE(h, H_NEXT, 4, this.nextSeq_);
    writeBE(h, H_ACKED, 4, this.acked_);
    this.st.write(REC_LP_HEAD, h);
  }
}
