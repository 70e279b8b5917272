import { now } from "../engine/chunk.js";
import { TokenBucket } from "./token-bucket.js";

/**
 * How fast calls may go: up to `requests` calls and `units` units (tokens, bytes, rows…)
 * per `perMs` milliseconds. Give either or both.
 *
 * @example
 * ```ts
 * // OpenAI text-embedding-3-small, tier 1 (check your account's limits page).
 * const options: RateLimiterOptions = { requests: 3_000, units: 1_000_000, perMs: 60_000 };
 * ```
 */
export interface RateLimiterOptions {
  /** Calls allowed per `perMs`. */
  requests?: number;
  /** Units allowed per `perMs`; each call's cost in units is what it asks for. */
  units?: number;
  /** The period the figures above are given for, in milliseconds (60 000 for "per minute"). */
  perMs: number;
  /**
   * What may pass at once after a quiet spell (the bucket sizes). Default: what the rate
   * allows in one second (or in `perMs` when shorter), and at least one call. Many APIs
   * enforce "per minute" limits over shorter windows, so a full minute's worth at once
   * would be refused.
   */
  burst?: {
    /** Calls that may start at once. */
    requests?: number;
    /** Units that may be spent at once. */
    units?: number;
  };
}

/**
 * Figures of a {@link RateLimiter} since it was made.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ requests: 10, perMs: 1_000 });
 * const { admitted, waiting, throttledMs } = limiter.stats();
 * ```
 */
export interface RateLimiterStats {
  /** Calls admitted. */
  admitted: number;
  /** Units admitted. */
  units: number;
  /** Calls waiting now. */
  waiting: number;
  /** Total time calls spent waiting, in milliseconds. */
  throttledMs: number;
}

/**
 * A token-bucket rate limit that several stages, pipelines and runs in one process can
 * share: each call takes one request and its units; calls that do not fit wait in line.
 * Waiters are served first come, first served: a heavy call at the head is not overtaken by
 * light ones behind it (which would starve it), so the line moves at the pace of its head.
 * A call costing more units than the burst is admitted alone, once the bucket is full, and
 * the calls after it wait until the overdraft is paid back.
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ requests: 60, perMs: 60_000 });
 * await limiter.acquire(0, signal); // resolves once the call may go
 * ```
 */
export interface RateLimiter {
  /**
   * Waits until a call costing `units` (default 0) may go, then counts it. Resolves with the
   * milliseconds waited; rejects with the signal's reason if it aborts first (the place in
   * line is given up and no timer is left behind).
   */
  acquire(units?: number, signal?: AbortSignal): Promise<number>;
  /** Figures since the limiter was made. */
  stats(): RateLimiterStats;
  /** The options it was made with, defaults filled in. */
  readonly options: Readonly<Required<Omit<RateLimiterOptions, "burst">>> & {
    /** The bucket sizes in effect. */
    readonly burst: {
      /** Calls that may start at once. */
      readonly requests: number;
      /** Units that may be spent at once. */
      readonly units: number;
    };
  };
}

interface Waiter {
  units: number;
  since: number;
  resolve: (waitedMs: number) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

const LIMITER = Symbol.for("sluice.rateLimiter");

class TokenBucketLimiter implements RateLimiter {
  readonly [LIMITER] = true;
  readonly options: RateLimiter["options"];
  private readonly requests: TokenBucket | undefined;
  private readonly unitBucket: TokenBucket | undefined;
  private readonly queue: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;
  private admitted = 0;
  private admittedUnits = 0;
  private throttledMs = 0;

  constructor(options: RateLimiterOptions) {
    const { perMs } = options;
    const t = now();
    const burstMs = Math.min(perMs, 1000);
    const req = options.requests;
    const units = options.units;
    const burstRequests =
      options.burst?.requests ?? (req === undefined ? 0 : Math.max(1, (req * burstMs) / perMs));
    const burstUnits =
      options.burst?.units ?? (units === undefined ? 0 : Math.max(1, (units * burstMs) / perMs));
    this.options = {
      requests: req ?? Number.POSITIVE_INFINITY,
      units: units ?? Number.POSITIVE_INFINITY,
      perMs,
      burst: { requests: burstRequests, units: burstUnits },
    };
    if (req !== undefined) this.requests = new TokenBucket(burstRequests, req / perMs, t);
    if (units !== undefined) this.unitBucket = new TokenBucket(burstUnits, units / perMs, t);
  }

  acquire(units = 0, signal?: AbortSignal): Promise<number> {
    if (typeof units !== "number" || !Number.isFinite(units) || units < 0) {
      return Promise.reject(
        new RangeError(
          `Rate limiter: a call's units must be a finite number ≥ 0, got ${String(units)}`,
        ),
      );
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const t = now();
    if (this.queue.length === 0 && this.waitMs(units, t) === 0) {
      this.admit(units, t, 0);
      return Promise.resolve(0);
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { units, since: t, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => this.abandon(waiter);
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      if (this.queue.length === 1) this.schedule();
    });
  }

  stats(): RateLimiterStats {
    return {
      admitted: this.admitted,
      units: this.admittedUnits,
      waiting: this.queue.length,
      throttledMs: this.throttledMs,
    };
  }

  private waitMs(units: number, t: number): number {
    const a = this.requests?.waitMs(1, t) ?? 0;
    const b = this.unitBucket?.waitMs(units, t) ?? 0;
    return Math.max(a, b);
  }

  private admit(units: number, t: number, waited: number): void {
    this.requests?.take(1, t);
    this.unitBucket?.take(units, t);
    this.admitted++;
    this.admittedUnits += units;
    this.throttledMs += waited;
  }

  /** Admits waiters from the head while they fit, then sleeps until the head fits. */
  private schedule = (): void => {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    for (;;) {
      const head = this.queue[0];
      if (head === undefined) return;
      const t = now();
      const wait = this.waitMs(head.units, t);
      if (wait > 0) {
        this.timer = setTimeout(this.schedule, Math.max(1, Math.ceil(wait)));
        return;
      }
      this.queue.shift();
      head.signal?.removeEventListener("abort", head.onAbort as () => void);
      const waited = t - head.since;
      this.admit(head.units, t, waited);
      head.resolve(waited);
    }
  };

  private abandon(waiter: Waiter): void {
    const i = this.queue.indexOf(waiter);
    if (i < 0) return;
    this.queue.splice(i, 1);
    waiter.reject(waiter.signal?.reason);
    // The head left: the next one may fit now, or need a different wake-up.
    if (i === 0) this.schedule();
  }
}

/**
 * Makes a rate limiter to share between stages (`rateLimit: limiter`), pipelines and runs.
 * Throws a `RangeError` naming the option when a figure is not a positive number.
 *
 * @example
 * ```ts
 * // Two pipelines calling one API share its budget.
 * const api = createRateLimiter({ requests: 500, units: 200_000, perMs: 60_000 });
 * const weigh = (text: string) => Math.ceil(text.length / 4);
 * const a = StreamingPipeline.start<string>().map("e", download, { concurrency: 8, rateLimit: { limiter: api, weigh } });
 * const b = StreamingPipeline.start<string>().map("e", download, { rateLimit: { limiter: api, weigh } });
 * ```
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  validateRateLimiterOptions(options, "createRateLimiter");
  return new TokenBucketLimiter(options);
}

/** Whether a value is a limiter made by {@link createRateLimiter}. */
export function isRateLimiter(value: unknown): value is RateLimiter {
  return typeof value === "object" && value !== null && LIMITER in value;
}

/** Throws a `RangeError` or `TypeError` naming the option and `where` on bad options. */
export function validateRateLimiterOptions(options: unknown, where: string): void {
  if (typeof options !== "object" || options === null) {
    throw new TypeError(`${where}: rate limit options must be an object, got ${typeof options}`);
  }
  const o = options as RateLimiterOptions;
  positive(o.perMs, "perMs", where);
  if (o.requests === undefined && o.units === undefined) {
    throw new RangeError(`${where}: a rate limit needs requests or units (or both)`);
  }
  if (o.requests !== undefined) positive(o.requests, "requests", where);
  if (o.units !== undefined) positive(o.units, "units", where);
  if (o.burst !== undefined) {
    if (typeof o.burst !== "object" || o.burst === null) {
      throw new TypeError(`${where}: burst must be an object, got ${typeof o.burst}`);
    }
    if (o.burst.requests !== undefined) {
      positive(o.burst.requests, "burst.requests", where);
      if (o.burst.requests < 1) {
        throw new RangeError(
          `${where}: burst.requests must be at least 1, got ${o.burst.requests}`,
        );
      }
    }
    if (o.burst.units !== undefined) positive(o.burst.units, "burst.units", where);
  }
}

function positive(value: unknown, name: string, where: string): void {
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(
      `${where}: ${name} must be a finite number greater than 0, got ${String(value)}`,
    );
  }
}
