// Token bucket for uplink alarms: an attacker who makes the meter see bad frames must not be able to
// turn the meter into a radio jammer. Fixed state, integer arithmetic, no allocation.

/** A bucket of at most `burst` tokens refilled by one token every `periodS` seconds. */
export class RateLimiter {
  private tokens: number;
  /** Start of the refill period in progress. */
  private refillAt: number;

  constructor(private readonly burst: number, private readonly periodS: number, now: number) {
    this.tokens = burst;
    this.refillAt = now;
  }

  /** Tokens available at `now` (refilled first; a clock set backwards restarts the period). */
  available(now: number): number {
    const n = Math.floor((now - this.refillAt) / this.periodS);
    // Clock set backwards: restart the period instead of granting or withholding tokens forever.
    if (now < this.refillAt) this.refillAt = now;
    else if (n > 0) {
      this.tokens += n;
      this.refillAt += n * this.periodS;
      // A full bucket does not bank the time it spent full.
      if (this.tokens >= this.burst) {
        this.tokens = this.burst;
        this.refillAt = now;
      }
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
