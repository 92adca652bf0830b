// Token bucket for uplink alarms: an attacker who makes the meter see bad frames must not be able to
// turn the meter into a radio jammer. Fixed state, integer arithmetic, no allocation.

/** A bucket of at most `burst` tokens refilled by one token every `periodS` seconds. */
export class RateLimiter {
  private tokens_: number;
  /** Start of the refill period in progress. */
  private refillAt_: number;

  constructor(
    private readonly burst_: number,
    private readonly periodS_: number,
    now: number,
  ) {
    this.tokens_ = burst_;
    this.refillAt_ = now;
  }

  /** Tokens available at `now` (refilled first; a clock set backwards restarts the period). */
  available(now: number): number {
    const n = Math.floor((now - this.refillAt_) / this.periodS_);
    // Clock set backwards: restart the period instead of granting or withholding tokens forever.
    if (now < this.refillAt_) this.refillAt_ = now;
    else if (n > 0) {
      this.tokens_ += n;
      this.refillAt_ += n * this.periodS_;
      // A full bucket does not bank the time it spent full.
      if (this.tokens_ >= this.burst_) {
        this.tokens_ = this.burst_;
        this.refillAt_ = now;
      }
    }
    return this.tokens_;
  }

  /** Takes one token if available; true means the caller may send now. */
  take(now: number): boolean {
    if (this.available(now) <= 0) return false;
    this.tokens_--;
    return true;
  }
}
