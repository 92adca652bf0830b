/**
 * The emulated radio channel: packets take their airtime, radios are half-duplex, and the channel
 * loses, corrupts, duplicates and reorders packets and destroys packets that overlap in time
 * (no capture effect) — all drawn from one seeded PRNG, so a failing run replays with its seed.
 *
 * Independently of the drivers, the channel logs every radio's transmissions: the tests check
 * duty cycle against this log, not against the drivers' own accounting.
 */
import { Rng, type SimScheduler } from './sched.ts';

/** Impairments of the channel. */
export interface ChannelOptions {
  seed: number;
  /** Probability that a receiver misses a packet (fading, interference). */
  loss?: number;
  /** Bit error rate of a received packet. */
  ber?: number;
  /** Probability that a received packet is delivered twice. */
  duplicate?: number;
  /** Probability that a received packet is held back (delivered after later ones). */
  reorder?: number;
  /** How long a reordered packet is held, ms (default 500). */
  reorderMs?: number;
  /** Overlapping transmissions destroy each other at every receiver (default true). */
  collisions?: boolean;
}

/** A radio on the channel (an emulated modem). */
export interface RadioEndpoint {
  /** Radios hear each other only on the same `tuning` (channel number and air rate). */
  tuning(): string;
  /** True when the radio checks a packet CRC and drops corrupted packets (LoRa, 802.15.4). */
  readonly hasCrc: boolean;
  /** A packet arrived (possibly corrupted when !hasCrc). */
  receive(data: Uint8Array): void;
}

/** No packet is longer than this on air (bounds the half-duplex scan). */
const MAX_AIRTIME_MS = 60_000;

interface Tx {
  from: RadioEndpoint;
  start: number;
  end: number;
  data: Uint8Array;
  tuning: string;
  collided: boolean;
}

/** What the channel did (monotonic counters). */
export interface ChannelStats {
  transmissions: number;
  deliveries: number;
  lost: number;
  collided: number;
  corruptedDropped: number;
  corruptedDelivered: number;
  duplicated: number;
  reordered: number;
  /** Packets a radio missed because it was transmitting itself (half-duplex). */
  deaf: number;
}

/** One shared radio channel. */
export class RadioChannel {
  readonly stats: ChannelStats = {
    transmissions: 0,
    deliveries: 0,
    lost: 0,
    collided: 0,
    corruptedDropped: 0,
    corruptedDelivered: 0,
    duplicated: 0,
    reordered: 0,
    deaf: 0,
  };
  /** Every transmission per radio: [start, airtime] pairs in ms (for duty-cycle checks). */
  readonly log = new Map<RadioEndpoint, number[]>();
  private readonly radios: RadioEndpoint[] = [];
  private readonly rng: Rng;
  private active: Tx[] = [];

  constructor(
    readonly sched: SimScheduler,
    readonly o: ChannelOptions,
  ) {
    this.rng = new Rng(o.seed);
  }

  attach(r: RadioEndpoint): void {
    this.radios.push(r);
    this.log.set(r, []);
  }

  /** True while `r` is on air. */
  transmitting(r: RadioEndpoint): boolean {
    const now = this.sched.now();
    return this.active.some((t) => t.from === r && t.end > now);
  }

  /** Puts `data` on air from `from` for `airtimeMs`; receivers get it when it ends. */
  transmit(from: RadioEndpoint, data: Uint8Array, airtimeMs: number): void {
    const now = this.sched.now();
    this.active = this.active.filter((t) => t.end > now);
    const tx: Tx = { from, start: now, end: now + airtimeMs, data: data.slice(), tuning: from.tuning(), collided: false };
    if (this.o.collisions !== false) {
      for (const t of this.active) {
        if (t.tuning === tx.tuning && t.end > now) {
          t.collided = true;
          tx.collided = true;
        }
      }
    }
    this.active.push(tx);
    this.stats.transmissions++;
    this.log.get(from)!.push(now, airtimeMs);
    this.sched.after(airtimeMs, () => this.finish(tx));
  }

  private finish(tx: Tx): void {
    for (const r of this.radios) {
      if (r === tx.from || r.tuning() !== tx.tuning) continue;
      // Half-duplex: a radio that transmitted during any part of this packet did not hear it.
      if (this.onAirDuring(r, tx.start, tx.end)) {
        this.stats.deaf++;
        continue;
      }
      if (tx.collided) {
        this.stats.collided++;
        continue;
      }
      if (this.rng.next() < (this.o.loss ?? 0)) {
        this.stats.lost++;
        continue;
      }
      const data = tx.data.slice();
      let flipped = 0;
      const ber = this.o.ber ?? 0;
      if (ber > 0) {
        // Bit errors: geometric gaps between flipped bits (one draw per error, not per bit).
        const bits = data.length * 8;
        for (let pos = this.gap(ber); pos < bits; pos += 1 + this.gap(ber)) {
          data[pos >> 3] ^= 1 << (pos & 7);
          flipped++;
        }
      }
      if (flipped > 0 && r.hasCrc) {
        this.stats.corruptedDropped++;
        continue;
      }
      if (flipped > 0) this.stats.corruptedDelivered++;
      const held = this.rng.next() < (this.o.reorder ?? 0);
      if (held) this.stats.reordered++;
      const delay = held ? (this.o.reorderMs ?? 500) : 0;
      this.sched.after(delay, () => {
        this.stats.deliveries++;
        r.receive(data);
      });
      if (this.rng.next() < (this.o.duplicate ?? 0)) {
        this.stats.duplicated++;
        this.sched.after(delay + 1, () => {
          this.stats.deliveries++;
          r.receive(data);
        });
      }
    }
  }

  /** Bits until the next error at rate `ber` (geometric). */
  private gap(ber: number): number {
    return Math.floor(Math.log(1 - this.rng.next()) / Math.log(1 - ber));
  }

  /** True when `r` was on air at some time in (start, end); scans its log from the newest entry back. */
  private onAirDuring(r: RadioEndpoint, start: number, end: number): boolean {
    const l = this.log.get(r)!;
    for (let i = l.length - 2; i >= 0; i -= 2) {
      if (l[i]! < end && l[i]! + l[i + 1]! > start) return true;
      if (l[i]! + MAX_AIRTIME_MS < start) return false;
    }
    return false;
  }

  /** Largest airtime `r` used in any window of `windowMs` (exact, over its whole log). */
  maxWindowAirtime(r: RadioEndpoint, windowMs: number): number {
    const l = this.log.get(r) ?? [];
    let best = 0;
    let sum = 0;
    let j = 0;
    // Windows ending at each transmission's end: the maximum of a sliding sum over intervals is attained there.
    for (let i = 0; i < l.length; i += 2) {
      sum += l[i + 1]!;
      const end = l[i]! + l[i + 1]!;
      while (l[j]! + l[j + 1]! <= end - windowMs) {
        sum -= l[j + 1]!;
        j += 2;
      }
      // The first kept transmission may straddle the window start: count only its part inside.
      const cut = Math.max(0, end - windowMs - l[j]!);
      best = Math.max(best, sum - cut);
    }
    return best;
  }
}
