// Token bucket for uplink alarms: an attacker who makes the meter see bad frames must not be able to
// turn the meter into a radio jammer. Fixed state, integer arithmetic, no allocation.

/** A bucket of at most `capacity` tokens refilled by one token every `periodS` seconds. */
export class RateLimiter {
  private tokens: number;
  private last: number;

  constructor(private readonly capacity: number, private readonly periodS: number, now: number) {
    this.tokens = capacity;
    this.last = now;
  }

  /** Tokens available at `now` (refilled first; a clock set backwards restarts the period). */
  available(now: number): number {
    if (now < this.last) {
      // Clock set backwards: restart the period instead of granting or withholding tokens forever.
      this.last = now;
      return this.tokens;
    }
    const n = Math.floor((now - this.last) / this.periodS);
    if (n > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + n);
      this.last += n * this.periodS;
      if (this.tokens === this.capacity) this.last = now;
    }
    return this.tokens;
  }

  /** Takes one token if available; true means the caller may send now. */
  take(now: number): boolean {
    if (this.available(now) <= 0) return false;
    this.tokens--;
    return true;
  }
}
