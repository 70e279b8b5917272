import { now } from "../engine/chunk.js";
import type { ConcurrencySample } from "./adaptive-concurrency.js";

/**
 * What a stage's limits did in one run (`StageMetadata.limits`), present only on stages
 * with `rateLimit`, `timeoutMs` or an adaptive `concurrency`. Times are milliseconds.
 *
 * @example
 * ```ts
 * for (const s of run.metadata().stages) {
 *   if (s.limits) console.log(s.key, s.limits.throttledMs, s.limits.requestsPerSecond, s.limits.concurrencyLimit);
 * }
 * ```
 */
export interface StageLimits {
  /** Time calls waited for the rate limit or an overload pause, summed over calls. */
  throttledMs: number;
  /** Calls that had to wait for the rate limit. */
  throttledCalls: number;
  /** Calls the rate limit admitted in the last few seconds, per second. */
  requestsPerSecond: number;
  /** Units (`weigh`) the rate limit admitted in the last few seconds, per second. */
  unitsPerSecond: number;
  /** Overload signals seen (429, 503, `RATE_LIMITED`, a Retry-After). */
  overloads: number;
  /** Attempts that ran past `timeoutMs`. */
  timeouts: number;
  /** The adaptive concurrency limit now (undefined when not adaptive). */
  concurrencyLimit: number | undefined;
  /** The adaptive limit over time: its first value, then each change (bounded). */
  concurrencyHistory: readonly ConcurrencySample[];
  /** The pace the adaptive limit learnt from overloads: least ms between call starts (0: none). */
  pacingMs: number | undefined;
}

/** Seconds of history the rate figures cover. */
const WINDOW_S = 5;

/** Live limit counters of one stage in one run. */
export class LimitMetrics {
  throttledMs = 0;
  throttledCalls = 0;
  overloads = 0;
  timeouts = 0;
  /** Reads the adaptive limit and its samples, when the stage adapts. */
  adaptive:
    | {
        readonly limit: number;
        readonly pacingMs: number;
        readonly samples: readonly ConcurrencySample[];
      }
    | undefined;
  private readonly counts = new Float64Array(WINDOW_S * 2);
  private readonly started = now();

  /** Counts one admitted call and its units. */
  admitted(units: number): void {
    const slot = this.slot(now());
    this.counts[slot * 2] = (this.counts[slot * 2] ?? 0) + 1;
    this.counts[slot * 2 + 1] = (this.counts[slot * 2 + 1] ?? 0) + units;
  }

  snapshot(): StageLimits {
    const t = now();
    this.slot(t);
    let requests = 0;
    let units = 0;
    for (let i = 0; i < WINDOW_S; i++) {
      requests += this.counts[i * 2] ?? 0;
      units += this.counts[i * 2 + 1] ?? 0;
    }
    // Before the window has filled, divide by the time there has been.
    const seconds = Math.max(1e-3, Math.min(WINDOW_S, (t - this.started) / 1000));
    return {
      throttledMs: this.throttledMs,
      throttledCalls: this.throttledCalls,
      requestsPerSecond: requests / seconds,
      unitsPerSecond: units / seconds,
      overloads: this.overloads,
      timeouts: this.timeouts,
      concurrencyLimit: this.adaptive?.limit,
      concurrencyHistory: this.adaptive === undefined ? [] : [...this.adaptive.samples],
      pacingMs: this.adaptive?.pacingMs,
    };
  }

  private lastSecond = 0;

  /** The ring slot of the second `t` falls in, clearing seconds passed since the last call. */
  private slot(t: number): number {
    const second = Math.floor((t - this.started) / 1000);
    const stale = Math.min(WINDOW_S, second - this.lastSecond);
    for (let k = 1; k <= stale; k++) {
      const s = (this.lastSecond + k) % WINDOW_S;
      this.counts[s * 2] = 0;
      this.counts[s * 2 + 1] = 0;
    }
    if (second > this.lastSecond) this.lastSecond = second;
    return second % WINDOW_S;
  }
}
