/**
 * A token bucket on a caller-supplied clock: holds up to `capacity` tokens and refills at
 * `ratePerMs`. Pure arithmetic, no timers, so that its guarantee (never more than
 * `capacity + rate × t` admitted over any window of `t` ms) can be checked on a fake clock.
 *
 * A cost larger than the capacity is admitted once the bucket is full and leaves it in
 * debt: later takers wait until the debt is repaid, so the long-run rate still holds.
 */
export class TokenBucket {
  private level: number;
  private last: number;

  constructor(
    readonly capacity: number,
    readonly ratePerMs: number,
    now: number,
  ) {
    this.level = capacity;
    this.last = now;
  }

  /** Tokens in the bucket at `now` (negative while in debt). */
  tokens(now: number): number {
    this.refill(now);
    return this.level;
  }

  /** Milliseconds from `now` until `cost` may be taken; 0 when it may be taken now. */
  waitMs(cost: number, now: number): number {
    this.refill(now);
    const need = Math.min(cost, this.capacity);
    // A little slack against floating-point dust: a wake-up computed from this very
    // difference must find the bucket ready, not a billionth of a token short.
    const missing = need - this.level;
    return missing <= 1e-9 ? 0 : missing / this.ratePerMs;
  }

  /** Takes `cost` tokens at `now`; call only when `waitMs` said 0. */
  take(cost: number, now: number): void {
    this.refill(now);
    this.level -= cost;
  }

  private refill(now: number): void {
    if (now <= this.last) return;
    this.level = Math.min(this.capacity, this.level + (now - this.last) * this.ratePerMs);
    this.last = now;
  }
}
