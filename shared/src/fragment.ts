/**
 * Fragments of a radio unit larger than one modem packet (an E32 carries 58 bytes, a link frame
 * with a firmware chunk ~600). A fragment is recognisable by its first byte alone (SEAMS: 0xC0–0xFF
 * are fragments; 0x40–0x7F whole v2 link frames; 0x01/0x81 v1), so it can never be taken for a frame.
 *
 * Fragment layout (one modem packet):
 *
 * | offset        | length          | field                                                        |
 * |---------------|-----------------|--------------------------------------------------------------|
 * | 0             | 1               | 0b11LI_IIII: 0xC0 kind, L (0x20) = last fragment, I = index 0..31 |
 * | 1             | SHORT_ADDR_LEN  | sender's short address (the one its v2 link frames carry)    |
 * | 1 + A         | 1               | frame tag: the sender's running count of fragmented units mod 256 |
 * | 2 + A         | 1..chunk        | data: unit[index · chunk ..]                                 |
 *
 * Every fragment but the last carries exactly `chunk` data bytes (the network's packet limit minus
 * this header), so the receiver places a fragment without a length or offset field. Integrity is the
 * unit's own business (CRC-16 and the link MIC): a corrupted fragment yields a unit that fails them.
 *
 * Reassembly holds at most `slots` partial units of `maxUnit` bytes each, one per sender (a new tag
 * from a sender replaces its unfinished unit), each for at most `timeoutMs` after its first fragment;
 * when every slot is busy the oldest partial unit is evicted (counted). Memory is fixed at
 * construction: no allocation per fragment. A sender can thus only hold memory for `timeoutMs`, and
 * a flood of strangers costs the others at worst a retransmission, which is also all a jammer costs.
 */

/** Kind bits of a fragment's first byte (SEAMS: 0xC0–0xFF). */
export const FRAG_KIND = 0xc0;
/** Set in the first byte of a unit's last fragment. */
export const FRAG_LAST = 0x20;
/** Index bits of the first byte. */
export const FRAG_INDEX_MASK = 0x1f;
/** Most fragments per unit (5 index bits). */
export const FRAG_MAX_COUNT = 32;
/**
 * Bytes of the sender's short address. Provisional until wire v2 (H11) fixes the short-address
 * size: every use goes through this constant.
 */
export const SHORT_ADDR_LEN = 2;
/** Header bytes before a fragment's data. */
export const FRAG_HEADER_LEN = 2 + SHORT_ADDR_LEN;

// Results of Reassembler.push (negative: the fragment was dropped, and counted).
export const FRAG_STORED = 0;
export const FRAG_DONE = 1;
export const ERR_FRAG_HEADER = -30; // not a fragment, or shorter than a header plus one byte
export const ERR_FRAG_LENGTH = -31; // a non-last fragment whose data is not exactly `chunk`, or past maxUnit
export const ERR_FRAG_DUPLICATE = -32; // a fragment already held, or of a unit already delivered
export const ERR_FRAG_CONFLICT = -33; // a second "last" fragment at another index

/** True when `b` (a unit's first byte) marks a fragment. */
export function isFragment(b: number): boolean {
  return (b & FRAG_KIND) === FRAG_KIND;
}

/** Data bytes per fragment for a packet limit of `maxPacket` bytes (≤ 0: the limit is too small). */
export function fragmentChunk(maxPacket: number): number {
  return maxPacket - FRAG_HEADER_LEN;
}

/** Fragments needed for a unit of `len` bytes, or −1 when it needs more than FRAG_MAX_COUNT or chunk < 1. */
export function fragmentCount(len: number, chunk: number): number {
  if (chunk < 1 || len < 1) return -1;
  const n = Math.ceil(len / chunk);
  return n > FRAG_MAX_COUNT ? -1 : n;
}

/** Units of at least this many fragments may be sent with copies of their fragments (burstFragment). */
export const FRAG_COPIES_MIN = 4;

/** Packets in a burst of a unit of `count` fragments (1: a whole unit) sent with `copies` copies (see burstFragment). */
export function burstLength(count: number, copies: number): number {
  return count <= 1 ? copies : (count - 1) * copies + 1;
}

/**
 * The fragment sent at step j of a burst: copies of every fragment but the last, round after
 * round, then the last one once, last of all. The unit can only complete with the burst's final
 * packet, so the receiver's immediate answer never collides with the sender's own copies. A whole
 * unit (count 1) is sent `copies` times: always index 0.
 */
export function burstFragment(j: number, count: number, copies: number): number {
  if (count <= 1) return 0;
  return j === burstLength(count, copies) - 1 ? count - 1 : j % (count - 1);
}

/**
 * Writes fragment `index` of unit[off..off+len) to out[outOff..): header (sender address
 * addr[addrOff..+SHORT_ADDR_LEN), frame tag) and data. Returns the fragment's length, or −1 when
 * the index is out of range or out is too short.
 */
export function writeFragment(
  unit: Uint8Array,
  off: number,
  len: number,
  chunk: number,
  index: number,
  addr: Uint8Array,
  addrOff: number,
  tag: number,
  out: Uint8Array,
  outOff: number,
): number {
  const count = fragmentCount(len, chunk);
  if (count < 0 || index < 0 || index >= count) return -1;
  const start = index * chunk;
  const n = index === count - 1 ? len - start : chunk;
  if (outOff < 0 || outOff + FRAG_HEADER_LEN + n > out.length) return -1;
  out[outOff] = FRAG_KIND | (index === count - 1 ? FRAG_LAST : 0) | index;
  for (let i = 0; i < SHORT_ADDR_LEN; i++) out[outOff + 1 + i] = addr[addrOff + i];
  out[outOff + 1 + SHORT_ADDR_LEN] = tag & 0xff;
  for (let i = 0; i < n; i++) out[outOff + FRAG_HEADER_LEN + i] = unit[off + start + i];
  return FRAG_HEADER_LEN + n;
}

/** Slot states. */
const SLOT_FREE = 0;
const SLOT_PARTIAL = 1;
/** The slot remembers the sender's last delivered tag (its duplicates are dropped) and holds no data. */
const SLOT_DONE = 2;

/** Receives one reassembled unit: buf[off..off+len) is valid only during the call. */
export type UnitHandler = (buf: Uint8Array, off: number, len: number) => void;

/** Bounded reassembly of fragments from many senders (allocates only in the constructor). */
export class Reassembler {
  /** Units delivered. */
  done = 0;
  /** Partial units dropped because their timeout passed. */
  expired = 0;
  /** Partial units dropped to make room for another sender's (all slots busy). */
  evicted = 0;
  /** Partial units of a sender replaced by its next unit (the rest of the old one never came). */
  replaced = 0;
  /** Fragments dropped (header, length, conflict). */
  dropped = 0;
  /** Fragments already held or of a unit already delivered. */
  duplicates = 0;
  private readonly state: Uint8Array;
  private readonly addr: Uint8Array;
  private readonly tag: Uint8Array;
  /** Bit i set: fragment i held. */
  private readonly have: Uint32Array;
  /** Index of the last fragment + 1 once known, else 0. */
  private readonly count: Uint8Array;
  private readonly lastLen: Uint16Array;
  private readonly since: Float64Array;
  private readonly bufs: Uint8Array;

  /**
   * `slots` partial units at once, `chunk` data bytes per non-last fragment, units of at most
   * `maxUnit` bytes, a partial unit dropped `timeoutMs` after its first fragment.
   */
  constructor(
    readonly slots: number,
    readonly chunk: number,
    readonly maxUnit: number,
    readonly timeoutMs: number,
  ) {
    this.state = new Uint8Array(slots);
    this.addr = new Uint8Array(slots * SHORT_ADDR_LEN);
    this.tag = new Uint8Array(slots);
    this.have = new Uint32Array(slots);
    this.count = new Uint8Array(slots);
    this.lastLen = new Uint16Array(slots);
    this.since = new Float64Array(slots);
    this.bufs = new Uint8Array(slots * maxUnit);
  }

  /** Partial units held now. */
  held(): number {
    let n = 0;
    for (let s = 0; s < this.slots; s++) if (this.state[s] === SLOT_PARTIAL) n++;
    return n;
  }

  /** Drops partial units older than timeoutMs at `nowMs` (also done by every push). */
  expire(nowMs: number): void {
    for (let s = 0; s < this.slots; s++) {
      if (this.state[s] === SLOT_PARTIAL && !(nowMs - this.since[s] < this.timeoutMs)) {
        this.state[s] = SLOT_FREE;
        this.expired++;
      }
    }
  }

  /**
   * Takes one fragment pkt[off..off+len) received at `nowMs`; calls `onUnit` when it completes a
   * unit. Returns FRAG_STORED, FRAG_DONE or a negative ERR_FRAG_* (the fragment was dropped, counted).
   */
  push(pkt: Uint8Array, off: number, len: number, nowMs: number, onUnit: UnitHandler): number {
    this.expire(nowMs);
    const dlen = len - FRAG_HEADER_LEN;
    if (dlen < 1 || off < 0 || off + len > pkt.length || !isFragment(pkt[off])) return this.drop(ERR_FRAG_HEADER);
    const b0 = pkt[off];
    const index = b0 & FRAG_INDEX_MASK;
    const last = (b0 & FRAG_LAST) !== 0;
    const tag = pkt[off + 1 + SHORT_ADDR_LEN];
    if ((!last && dlen !== this.chunk) || dlen > this.chunk || index * this.chunk + dlen > this.maxUnit) return this.drop(ERR_FRAG_LENGTH);
    let s = this.find(pkt, off + 1);
    if (s >= 0 && this.tag[s] === tag) {
      if (this.state[s] === SLOT_DONE || (this.have[s] & (1 << index)) !== 0) {
        this.duplicates++;
        return ERR_FRAG_DUPLICATE;
      }
    } else {
      if (s >= 0 && this.state[s] === SLOT_PARTIAL) this.replaced++;
      if (s < 0) s = this.claim();
      this.state[s] = SLOT_PARTIAL;
      for (let i = 0; i < SHORT_ADDR_LEN; i++) this.addr[s * SHORT_ADDR_LEN + i] = pkt[off + 1 + i];
      this.tag[s] = tag;
      this.have[s] = 0;
      this.count[s] = 0;
      this.since[s] = nowMs;
    }
    if (last) {
      if (this.count[s] !== 0 && this.count[s] !== index + 1) return this.drop(ERR_FRAG_CONFLICT);
      // A fragment already held above the last one contradicts it.
      if (index < FRAG_MAX_COUNT - 1 && this.have[s] >>> (index + 1) !== 0) return this.drop(ERR_FRAG_CONFLICT);
      this.count[s] = index + 1;
      this.lastLen[s] = dlen;
    } else if (this.count[s] !== 0 && index >= this.count[s] - 1) return this.drop(ERR_FRAG_CONFLICT);
    const base = s * this.maxUnit;
    const at = base + index * this.chunk;
    for (let i = 0; i < dlen; i++) this.bufs[at + i] = pkt[off + FRAG_HEADER_LEN + i];
    this.have[s] = (this.have[s] | (1 << index)) >>> 0;
    const n = this.count[s];
    if (n === 0) return FRAG_STORED;
    const all = n === FRAG_MAX_COUNT ? 0xffffffff : (1 << n) - 1;
    if (this.have[s] >>> 0 !== all >>> 0) return FRAG_STORED;
    this.state[s] = SLOT_DONE;
    this.done++;
    onUnit(this.bufs, base, (n - 1) * this.chunk + this.lastLen[s]);
    return FRAG_DONE;
  }

  private drop(code: number): number {
    this.dropped++;
    return code;
  }

  /** The slot assigned to the address at a[o..], or −1. */
  private find(a: Uint8Array, o: number): number {
    for (let s = 0; s < this.slots; s++) {
      if (this.state[s] === SLOT_FREE) continue;
      let same = true;
      for (let i = 0; i < SHORT_ADDR_LEN && same; i++) same = this.addr[s * SHORT_ADDR_LEN + i] === a[o + i];
      if (same) return s;
    }
    return -1;
  }

  /** A slot for a new sender: a free one, else the oldest delivered one, else the oldest partial (evicted). */
  private claim(): number {
    let best = -1;
    for (let s = 0; s < this.slots; s++) {
      const st = this.state[s];
      if (st === SLOT_FREE) return s;
      if (best < 0) best = s;
      else {
        const bs = this.state[best];
        if ((st === SLOT_DONE && bs !== SLOT_DONE) || (st === bs && this.since[s] < this.since[best])) best = s;
      }
    }
    if (this.state[best] === SLOT_PARTIAL) this.evicted++;
    return best;
  }
}
