// Bounded store-and-forward queue of end-to-end frames. Capacity and slot size are fixed at boot;
// push() refuses explicitly when full and an accepted frame leaves only when its receiver
// acknowledged it (LINK_ACK) or after a bounded number of transmissions, counted as expired.
// Fairness (issue 10): every frame has an owner, the meter it comes from or goes to, and one owner
// holds at most `perOwner` slots, so a meter whose frames are never acknowledged (a hostile key
// holder, or a meter that stopped answering) delays only its own traffic: the other slots stay
// free for the meters beside it.

/** One queued frame with its preallocated buffer. */
export interface QueueEntry {
  used: boolean;
  buf: Uint8Array;
  len: number;
  /** Destination: meter-table slot index, or DEST_HES. */
  dest: number;
  /** Link counter of the last transmission (what the LINK_ACK names); 0 = not sent yet. */
  sentCounter: number;
  /** Time of the last transmission (unix s). */
  sentAt: number;
  tries: number;
  /** Arrival order, so frames to one destination leave in the order they came. */
  order: number;
  /** The meter-table slot this frame comes from (uplink) or goes to (downlink). */
  owner: number;
  /** queue.acks at the first transmission: a later acknowledgment proves the receiver is reachable. */
  acksAtFirst: number;
}

/** Destination value for frames going up to the HES. */
export const DEST_HES = -1;

/** A fixed-capacity queue; never allocates after construction. */
export class FrameQueue {
  readonly entries: QueueEntry[] = [];
  /** Frames refused because the queue was full. */
  refused = 0;
  /** Frames dropped after too many unacknowledged transmissions. */
  expired = 0;
  /** Frames refused because their owner already held perOwner slots (included in refused). */
  refusedOwner = 0;
  /** Acknowledgments so far. */
  acks = 0;
  private seq = 0;
  private count = 0;

  /** Slots one owner may hold. */
  readonly perOwner: number;

  /** perOwner: slots one owner may hold (default: all of them). */
  constructor(
    readonly capacity: number,
    readonly slotLen: number,
    perOwner?: number,
  ) {
    this.perOwner = perOwner === undefined ? capacity : perOwner;
    for (let i = 0; i < capacity; i++) {
      this.entries.push({
        used: false,
        buf: new Uint8Array(slotLen),
        len: 0,
        dest: 0,
        sentCounter: 0,
        sentAt: 0,
        tries: 0,
        order: 0,
        owner: 0,
        acksAtFirst: 0,
      });
    }
  }

  /** Number of frames held. */
  size(): number {
    return this.count;
  }

  /** Slots held by `owner`. */
  held(owner: number): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) if (this.entries[i].used && this.entries[i].owner === owner) n++;
    return n;
  }

  /**
   * Copies src[off..off+len) into a free slot for `dest` on behalf of `owner` (default: dest);
   * returns false (and counts the refusal) when full, too long, or the owner holds its share.
   */
  push(src: Uint8Array, off: number, len: number, dest: number, owner?: number): boolean {
    const who = owner === undefined ? dest : owner;
    if (len > this.slotLen || len <= 0) {
      this.refused++;
      return false;
    }
    if (this.held(who) >= this.perOwner) {
      this.refused++;
      this.refusedOwner++;
      return false;
    }
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used) continue;
      for (let j = 0; j < len; j++) e.buf[j] = src[off + j];
      e.used = true;
      e.len = len;
      e.dest = dest;
      e.sentCounter = 0;
      e.sentAt = 0;
      e.tries = 0;
      e.owner = who;
      e.acksAtFirst = 0;
      e.order = ++this.seq;
      this.count++;
      return true;
    }
    this.refused++;
    return false;
  }

  /** Removes the entry for `dest` sent with link counter `counter`; true when one was found. */
  ack(dest: number, counter: number): boolean {
    if (counter <= 0) return false;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e.dest === dest && e.sentCounter === counter) {
        this.release(e);
        this.acks++;
        return true;
      }
    }
    return false;
  }

  /**
   * The receiver took the entry for `dest` sent with link counter `counter`: drops (and returns
   * how many) the entries for `dest` that came before it and that `superseded(older, newer)` says
   * it makes useless. Call before ack(), which removes the acknowledged entry itself.
   */
  supersede(dest: number, counter: number, superseded: (older: Uint8Array, newer: Uint8Array) => boolean): number {
    let taken: QueueEntry | undefined;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e.dest === dest && e.sentCounter === counter && counter > 0) taken = e;
    }
    if (taken === undefined) return 0;
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e !== taken && e.dest === dest && e.order < taken.order && superseded(e.buf, taken.buf)) {
        this.release(e);
        n++;
      }
    }
    return n;
  }

  /**
   * True when an entry for e's destination that came after e has been transmitted and
   * `superseded(e, it)` holds: once the receiver may hold the later frame, e is useless to resend.
   */
  overtaken(e: QueueEntry, superseded: (older: Uint8Array, newer: Uint8Array) => boolean): boolean {
    for (let i = 0; i < this.capacity; i++) {
      const x = this.entries[i];
      if (x.used && x !== e && x.dest === e.dest && x.order > e.order && x.tries > 0 && superseded(e.buf, x.buf)) return true;
    }
    return false;
  }

  /** Drops every entry for `dest` (meter left the table); returns how many. */
  dropDest(dest: number): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e.dest === dest) {
        this.release(e);
        n++;
      }
    }
    return n;
  }

  /**
   * Makes every transmitted, unacknowledged frame for `dest` due at once, as if new: its receiver
   * changed (a new HES connection, perhaps another HES node), so the LINK_ACKs of the earlier
   * transmissions will never come. The refusal rule starts over with the new receiver. Returns how many.
   */
  resendAll(dest: number): number {
    let n = 0;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (e.used && e.dest === dest && e.tries > 0) {
        e.tries = 0;
        e.sentCounter = 0;
        n++;
      }
    }
    return n;
  }

  /** The oldest entry that is due for (re)transmission at `now`, or undefined. */
  nextDue(now: number, retryS: number): QueueEntry | undefined {
    let best: QueueEntry | undefined;
    for (let i = 0; i < this.capacity; i++) {
      const e = this.entries[i];
      if (!e.used) continue;
      if (e.tries > 0 && now - e.sentAt < retryS && now >= e.sentAt) continue;
      if (best === undefined || e.order < best.order) best = e;
    }
    return best;
  }

  /**
   * True when e has had maxTries transmissions and its receiver acknowledged another frame since
   * the first: the receiver is reachable but does not take this one, so it is dropped (expire),
   * not resent forever. While the receiver is unreachable nothing expires on this rule.
   */
  refusedByReceiver(e: QueueEntry, maxTries: number): boolean {
    return e.tries >= maxTries && this.acks > e.acksAtFirst;
  }

  /** Drops an entry that will not be delivered, counted as expired. */
  expire(e: QueueEntry): void {
    this.expired++;
    this.release(e);
  }

  /** Frees an entry (acknowledged or expired). */
  release(e: QueueEntry): void {
    if (!e.used) return;
    e.used = false;
    e.len = 0;
    e.buf.fill(0);
    this.count--;
  }
}
