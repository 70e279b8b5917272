import { now } from "../engine/chunk.js";
import type { ItemContext, ItemContextImpl } from "../engine/item-context.js";
import type { ItemOp } from "../engine/item-worker.js";
import type { StageRuntime } from "../engine/run-env.js";
import { AdaptiveLimit, isOverload } from "./adaptive-concurrency.js";
import { CallTimeoutError, callWithTimeout } from "./call-timeout.js";
import { LimitMetrics } from "./limit-metrics.js";
import {
  createRateLimiter,
  isRateLimiter,
  type RateLimiter,
  type RateLimiterOptions,
  validateRateLimiterOptions,
} from "./rate-limiter.js";

/**
 * A stage's `rateLimit` option: figures (a limiter of the stage's own, shared by every run
 * of the pipeline), a limiter made with `createRateLimiter` (shared with whatever else uses
 * it), or such a limiter with a `weigh` for this stage's items. `weigh` says how many units
 * an item costs (tokens, bytes…); without it a call costs no units.
 *
 * @example
 * ```ts
 * const own: RateLimitOption = { requests: 10, perMs: 1_000 };
 * const tokens: RateLimitOption = { units: 90_000, perMs: 60_000, weigh: (text: string) => text.length / 4 };
 * const shared: RateLimitOption = { limiter: createRateLimiter({ requests: 50, perMs: 1_000 }) };
 * ```
 */
export type RateLimitOption =
  | (RateLimiterOptions & WeighOption)
  | RateLimiter
  | ({
      /** A limiter shared with other stages and runs. */
      limiter: RateLimiter;
    } & WeighOption);

/**
 * How many units an item costs under a rate limit.
 *
 * @example
 * ```ts
 * const byTokens: WeighOption = { weigh: (text: string) => Math.ceil(text.length / 4) };
 * ```
 */
export interface WeighOption {
  /** The item's cost in units: a finite number ≥ 0 (annotate the parameter's type). */
  weigh?(item: unknown): number;
}

/** What a stage's calls go through besides the user's function. */
export interface CallLimits {
  readonly limiter: RateLimiter | undefined;
  readonly weigh: ((item: unknown) => number) | undefined;
  readonly timeoutMs: number | undefined;
  readonly adaptive: AdaptiveSettings | undefined;
}

/** The bounds of an adaptive concurrency, and what an item costs for its pace. */
export interface AdaptiveSettings {
  readonly max: number;
  readonly min: number;
  readonly weigh: ((item: unknown) => number) | undefined;
}

/**
 * Validates `rateLimit` and `timeoutMs` and returns the stage's call limits, or undefined
 * when it has none (its calls then cost nothing extra).
 */
export function readCallLimits(
  rateLimit: unknown,
  timeoutMs: unknown,
  adaptive: AdaptiveSettings | undefined,
  key: string,
): CallLimits | undefined {
  const where = `Stage "${key}": rateLimit`;
  let limiter: RateLimiter | undefined;
  let weigh: ((item: unknown) => number) | undefined;
  if (rateLimit !== undefined) {
    if (isRateLimiter(rateLimit)) limiter = rateLimit;
    else if (typeof rateLimit !== "object" || rateLimit === null) {
      throw new TypeError(
        `${where} must be a limiter or { requests?, units?, perMs, weigh? }, got ${rateLimit === null ? "null" : typeof rateLimit}`,
      );
    } else if ("limiter" in rateLimit) {
      const given = (rateLimit as { limiter: unknown }).limiter;
      if (!isRateLimiter(given)) {
        throw new TypeError(`${where}.limiter must be made by createRateLimiter`);
      }
      limiter = given;
    } else {
      validateRateLimiterOptions(rateLimit, where);
      limiter = createRateLimiter(rateLimit as RateLimiterOptions);
    }
    const w = (rateLimit as WeighOption).weigh;
    if (w !== undefined && typeof w !== "function") {
      throw new TypeError(`${where}.weigh must be a function, got ${typeof w}`);
    }
    weigh = w;
  }
  if (
    timeoutMs !== undefined &&
    (typeof timeoutMs !== "number" || !Number.isFinite(timeoutMs) || timeoutMs <= 0)
  ) {
    throw new RangeError(
      `Stage "${key}": timeoutMs must be a finite number greater than 0, got ${String(timeoutMs)}`,
    );
  }
  if (limiter === undefined && timeoutMs === undefined && adaptive === undefined) return undefined;
  return { limiter, weigh, timeoutMs: timeoutMs as number | undefined, adaptive };
}

/**
 * The stage's op for one run with its limits applied to every attempt, retries included:
 * a slot under the adaptive limit (and the end of any overload pause), then the rate
 * limit, then the call under its timeout. Waits end when the item's signal aborts. The
 * call sees a context whose signal also aborts on timeout.
 */
export function guardOp(op: ItemOp, limits: CallLimits, rt: StageRuntime): ItemOp {
  const metrics = new LimitMetrics();
  rt.metrics.limits = metrics;
  const { limiter, weigh, timeoutMs } = limits;
  let adaptive: AdaptiveLimit | undefined;
  if (limits.adaptive !== undefined) {
    adaptive = new AdaptiveLimit(
      limits.adaptive.max,
      limits.adaptive.min,
      (limit, previous, reason, pauseMs) => {
        const events = rt.env.events;
        if (events.active) {
          events.emit({
            type: "concurrency",
            key: rt.key,
            limit,
            previous,
            reason,
            pauseMs,
            time: Date.now(),
          });
        }
      },
    );
    metrics.adaptive = adaptive;
  }
  const adaptiveWeigh = limits.adaptive?.weigh;
  const user = op.invoke;
  const passCtx = op.wantsCtx;
  const invoke = async (item: unknown, ctx: ItemContext | undefined): Promise<unknown> => {
    const c = ctx as ItemContextImpl;
    const signal = c.signal;
    let token = 0;
    let cost = 1;
    if (adaptive !== undefined) {
      const t0 = now();
      cost = adaptiveWeigh === undefined ? 1 : weightOf(adaptiveWeigh, item, rt.key, "concurrency");
      token = await adaptive.acquire(signal, cost);
      metrics.throttledMs += now() - t0;
    }
    let failed = false;
    let error: unknown;
    try {
      if (limiter !== undefined) {
        const units = weigh === undefined ? 0 : weightOf(weigh, item, rt.key, "rateLimit");
        const waitedMs = await limiter.acquire(units, signal);
        metrics.admitted(units);
        if (waitedMs > 0) {
          metrics.throttledMs += waitedMs;
          metrics.throttledCalls++;
          const events = rt.env.events;
          if (events.active) {
            events.emit({
              type: "throttle",
              key: rt.key,
              index: c.index,
              waitedMs,
              units,
              time: Date.now(),
            });
          }
        }
      }
      if (timeoutMs === undefined) return await user(item, passCtx ? c : undefined);
      return await callWithTimeout(
        (s) => user(item, passCtx ? withSignal(c, s) : undefined),
        timeoutMs,
        signal,
      );
    } catch (e) {
      failed = true;
      error = e;
      if (e instanceof CallTimeoutError) metrics.timeouts++;
      else if (isOverload(e)) metrics.overloads++;
      throw e;
    } finally {
      adaptive?.release(token, failed, error, cost);
    }
  };
  return { ...op, invoke, wantsCtx: true };
}

function weightOf(
  weigh: (item: unknown) => number,
  item: unknown,
  key: string,
  option: string,
): number {
  const units = weigh(item);
  if (typeof units !== "number" || !Number.isFinite(units) || units < 0) {
    throw new RangeError(
      `Stage "${key}": ${option}.weigh must return a finite number ≥ 0, got ${String(units)}`,
    );
  }
  return units;
}

/**
 * The stage's context with the call's own signal, which also aborts on timeout. Made by
 * delegation, so that whatever else the context offers stays as it is.
 */
function withSignal(ctx: ItemContextImpl, signal: AbortSignal): ItemContext {
  return Object.create(ctx, { signal: { value: signal, enumerable: true } }) as ItemContext;
}
