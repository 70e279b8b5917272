import { now } from "../engine/chunk.js";
import { readStatus, retryAfterMs } from "../errors/retry-policy.js";
import { readCode, unwrapFailure } from "../errors/to-error.js";

/**
 * A concurrency that adapts to the service it calls: `max` calls at once until the service
 * signals overload, then fewer, probing back up while calls succeed.
 *
 * @example
 * ```ts
 * const concurrency: AdaptiveConcurrencyOptions = { max: 16, min: 1, adaptive: true };
 * ```
 */
export interface AdaptiveConcurrencyOptions {
  /** Most calls at once; the stage starts here. */
  max: number;
  /** Fewest calls at once the limit may fall to (default 1). */
  min?: number;
  /** `true` adapts; `false` runs `max` calls at once, as `concurrency: max` would. */
  adaptive: boolean;
  /**
   * What an item costs the service (its tokens, say), for the pace learnt from overloads:
   * calls are then spaced by their cost, not one pace per call. Default 1 per call.
   */
  weigh?(item: unknown): number;
}

/**
 * One point of a stage's concurrency limit over time.
 *
 * @example
 * ```ts
 * const history: readonly ConcurrencySample[] = run.metadata().stages[0]?.limits?.concurrencyHistory ?? [];
 * for (const { time, limit } of history) console.log(new Date(time).toISOString(), limit);
 * ```
 */
export interface ConcurrencySample {
  /** Epoch ms of the change. */
  time: number;
  /** The limit from then on. */
  limit: number;
}

/** Why the limit changed. */
export type ConcurrencyChange = "overload" | "probe";

/** Status codes that mean "too much, slow down". */
const OVERLOAD_STATUS = new Set([429, 503]);

/**
 * Whether an error says the service is overloaded: an HTTP status 429 or 503, the code
 * `RATE_LIMITED`, or a requested wait (`retryAfterMs`, `retryAfter`, a Retry-After header),
 * on the error or any of its causes.
 *
 * @example
 * ```ts
 * isOverload({ status: 429 }); // true
 * isOverload(Object.assign(new Error("slow down"), { code: "RATE_LIMITED" })); // true
 * isOverload(new Error("bad input")); // false
 * ```
 */
export function isOverload(error: unknown): boolean {
  let e = unwrapFailure(error);
  for (let depth = 0; depth < 8 && typeof e === "object" && e !== null; depth++) {
    const status = readStatus(e);
    if (status !== undefined && OVERLOAD_STATUS.has(status)) return true;
    if (readCode(e) === "RATE_LIMITED") return true;
    const next = (e as { cause?: unknown }).cause;
    if (next === e) break;
    e = next;
  }
  return retryAfterMs(error) !== undefined;
}

interface Waiter {
  cost: number;
  resolve: (epoch: number) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
}

/** Most samples kept: enough to plot a run, bounded for long ones. */
const MAX_SAMPLES = 256;

/**
 * The changing concurrency limit of one stage in one run (AIMD, as TCP does): an overload
 * halves the limit (once per round of calls: the calls already in flight when it happened
 * do not halve it again) and pauses new calls until the requested Retry-After has passed,
 * on one clock shared by every call of the stage, retries included; successes raise it by
 * one per `limit` successes, but only once the stage has gone without an overload for twice
 * the last pause (and at least a second), so that a limit that is merely being respected is
 * not probed over and over. Never above `max` nor below `min`.
 *
 * Concurrency alone cannot respect a rate limit against a fast service (one call at a time
 * may still go too fast), so the stage also learns a pace: the calls that got through
 * between two overloads, over the time between them, is the service's rate; call starts are
 * spaced to it, and the spacing shrinks by 2% per success to probe for more.
 */
export class AdaptiveLimit {
  private limitNow: number;
  private inUse = 0;
  private readonly queue: Waiter[] = [];
  private pauseUntil = 0;
  private epoch = 0;
  private credit = 0;
  private quietUntil = 0;
  /** Least time between call starts, learnt from overloads (0: unpaced). */
  private gapMs = 0;
  private nextStartAt = 0;
  /** When the last counted overload happened (-1: none yet), and successes since. */
  private lastOverloadAt = -1;
  private successesSince = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Overload signals seen. */
  overloads = 0;
  /** Time spent paused for Retry-After, in milliseconds (pauses that overlap count once). */
  pausedMs = 0;
  readonly samples: ConcurrencySample[] = [];

  constructor(
    readonly max: number,
    readonly min: number,
    private readonly onChange?: (
      limit: number,
      previous: number,
      reason: ConcurrencyChange,
      pauseMs: number,
    ) => void,
  ) {
    this.limitNow = max;
    this.samples.push({ time: Date.now(), limit: max });
  }

  /** The limit now. */
  get limit(): number {
    return this.limitNow;
  }

  /**
   * Waits for a free slot and for any pause to end; resolves with a token to give back to
   * `release`. Rejects with the signal's reason if it aborts first.
   */
  acquire(signal?: AbortSignal, cost = 1): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    const t = now();
    if (
      this.queue.length === 0 &&
      this.inUse < this.limitNow &&
      t >= this.pauseUntil &&
      t >= this.nextStartAt
    ) {
      this.started(t, cost);
      return Promise.resolve(this.epoch);
    }
    return new Promise<number>((resolve, reject) => {
      const waiter: Waiter = { cost, resolve, reject, signal, onAbort: undefined };
      if (signal !== undefined) {
        waiter.onAbort = () => {
          const i = this.queue.indexOf(waiter);
          if (i < 0) return;
          this.queue.splice(i, 1);
          reject(signal.reason);
          if (this.queue.length === 0) this.clearTimer();
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.queue.push(waiter);
      this.drain();
    });
  }

  /**
   * Gives a slot back with what the call did: `error` undefined for a success, else what it
   * threw (an overload lowers the limit; other failures change nothing). `cost` is what
   * was given to `acquire`.
   */
  release(token: number, failed: boolean, error?: unknown, cost = 1): void {
    this.inUse--;
    if (!failed) this.succeeded(cost);
    else if (isOverload(error)) this.overloaded(token, error, cost);
    this.drain();
  }

  /**
   * The pace learnt from the last overloads: milliseconds between call starts per unit of
   * cost (per call, without `weigh`); 0 while unpaced.
   */
  get pacingMs(): number {
    return this.gapMs;
  }

  private started(t: number, cost: number): void {
    this.inUse++;
    if (this.gapMs > 0) this.nextStartAt = Math.max(t, this.nextStartAt) + this.gapMs * cost;
  }

  private succeeded(cost: number): void {
    this.successesSince += cost;
    // Probe the pace up a little per success; an overload measures it again.
    if (this.gapMs > 0) {
      this.gapMs *= 0.98;
      // Below half a millisecond per call the spacing costs more (a timer) than it saves.
      if (this.gapMs * cost < 0.5) this.gapMs = 0;
    }
    if (this.limitNow >= this.max || now() < this.quietUntil) return;
    this.credit += 1 / this.limitNow;
    if (this.credit < 1) return;
    this.credit = 0;
    this.set(this.limitNow + 1, "probe", 0);
  }

  private overloaded(token: number, error: unknown, cost: number): void {
    this.overloads++;
    const t = now();
    const pause = retryAfterMs(error) ?? 0;
    if (pause > 0 && t + pause > this.pauseUntil) {
      this.pausedMs += Math.min(pause, t + pause - Math.max(t, this.pauseUntil));
      this.pauseUntil = t + pause;
    }
    this.quietUntil = Math.max(this.quietUntil, t + Math.max(1000, 2 * pause));
    this.credit = 0;
    // Calls that started before the last decrease report the same overload again.
    if (token !== this.epoch) return;
    this.learnPace(t, cost);
    this.epoch++;
    const next = Math.max(this.min, Math.floor(this.limitNow / 2));
    this.set(next, "overload", pause);
  }

  /**
   * Between two overloads the service let `successesSince` units of cost through in the time
   * between them (pauses included): that is its rate, and calls are paced to it. None got
   * through: the pause was too short for the call that failed, so the pace at least doubles.
   */
  private learnPace(t: number, cost: number): void {
    if (this.lastOverloadAt >= 0) {
      const elapsed = t - this.lastOverloadAt;
      this.gapMs =
        this.successesSince > 0
          ? elapsed / this.successesSince
          : Math.max(2 * this.gapMs, elapsed / Math.max(cost, 1e-9));
    }
    this.lastOverloadAt = t;
    this.successesSince = 0;
  }

  private set(limit: number, reason: ConcurrencyChange, pauseMs: number): void {
    const previous = this.limitNow;
    this.limitNow = limit;
    if (limit !== previous) {
      if (this.samples.length >= MAX_SAMPLES) this.samples.splice(1, 1);
      this.samples.push({ time: Date.now(), limit });
    }
    this.onChange?.(limit, previous, reason, pauseMs);
  }

  /** Admits waiters while slots are free and no pause holds; wakes up when a pause ends. */
  private drain = (): void => {
    this.clearTimer();
    while (this.queue.length > 0 && this.inUse < this.limitNow) {
      const t = now();
      const wait = Math.max(this.pauseUntil, this.nextStartAt) - t;
      if (wait > 0) {
        this.timer = setTimeout(this.drain, Math.ceil(wait));
        return;
      }
      const w = this.queue.shift() as Waiter;
      w.signal?.removeEventListener("abort", w.onAbort as () => void);
      this.started(t, w.cost);
      w.resolve(this.epoch);
    }
  };

  private clearTimer(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * Validates a `concurrency` option: a positive integer or `{ max, min?, adaptive }`.
 * Returns the fixed concurrency and, when adaptive, the bounds.
 */
export function readConcurrency(
  value: unknown,
  key: string,
): {
  max: number;
  adaptive: { min: number; weigh: ((item: unknown) => number) | undefined } | undefined;
} {
  if (typeof value !== "object" || value === null) {
    return { max: positiveInt(value, "concurrency", key), adaptive: undefined };
  }
  const o = value as AdaptiveConcurrencyOptions;
  const max = positiveInt(o.max, "concurrency.max", key);
  if (typeof o.adaptive !== "boolean") {
    throw new TypeError(
      `Stage "${key}": concurrency.adaptive must be a boolean, got ${typeof o.adaptive}`,
    );
  }
  const min = positiveInt(o.min ?? 1, "concurrency.min", key);
  if (min > max) {
    throw new RangeError(
      `Stage "${key}": concurrency.min (${min}) must not exceed concurrency.max (${max})`,
    );
  }
  if (o.weigh !== undefined && typeof o.weigh !== "function") {
    throw new TypeError(
      `Stage "${key}": concurrency.weigh must be a function, got ${typeof o.weigh}`,
    );
  }
  return { max, adaptive: o.adaptive ? { min, weigh: o.weigh } : undefined };
}

function positiveInt(value: unknown, option: string, key: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
    throw new RangeError(
      `Stage "${key}": ${option} must be a positive integer, got ${String(value)}`,
    );
  }
  return value;
}
