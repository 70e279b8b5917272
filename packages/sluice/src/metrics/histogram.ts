const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** Smallest value told apart from zero: 1 µs when values are milliseconds. */
const MIN_VALUE = 1e-3;
/** Buckets from 1 µs to about 10^7 ms (almost three hours) at 2% width. */
const BUCKETS = Math.ceil(Math.log(1e7 / MIN_VALUE) / LOG_GROWTH) + 1;

/**
 * Percentiles of a {@link LatencyHistogram}, in the unit the values were recorded in.
 *
 * @example
 * ```ts
 * for (const s of run.metadata().stages) console.log(s.key, s.timings.p50, s.timings.p99);
 * ```
 */
export interface Percentiles {
  /** Number of samples recorded. */
  count: number;
  /** Smallest sample (exact); 0 when there are none. */
  min: number;
  /** Largest sample (exact); 0 when there are none. */
  max: number;
  /** Arithmetic mean (exact); 0 when there are none. */
  mean: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 95th percentile. */
  p95: number;
  /** 99th percentile. */
  p99: number;
}

/**
 * A fixed-memory latency histogram: logarithmic buckets 2% wide, so a reported percentile is
 * within about 1% of the exact one; the maximum and minimum are exact. Memory is a few KB
 * whatever the number of samples.
 *
 * @example
 * ```ts
 * const h = new LatencyHistogram();
 * for (const ms of [12, 15, 9, 240]) h.record(ms);
 * const { p50, p99, max } = h.summary();
 * console.log(h.count, p50, p99, max); // 4, ~12, ~240, 240
 * ```
 */
export class LatencyHistogram {
  private counts: Uint32Array | undefined;
  private zeros = 0;
  private total = 0;
  private sum = 0;
  private lo = Number.POSITIVE_INFINITY;
  private hi = 0;

  /** Records `count` samples of `value` (negative values count as zero). */
  record(value: number, count = 1): void {
    const v = Number.isNaN(value) ? 0 : Math.max(value, 0);
    this.total += count;
    this.sum += v * count;
    if (v < this.lo) this.lo = v;
    if (v > this.hi) this.hi = v;
    if (v < MIN_VALUE) {
      this.zeros += count;
      return;
    }
    const counts = (this.counts ??= new Uint32Array(BUCKETS));
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log(v / MIN_VALUE) / LOG_GROWTH));
    counts[i] = (counts[i] ?? 0) + count;
  }

  /** The number of samples recorded. */
  get count(): number {
    return this.total;
  }

  /** The value below which a fraction `q` (0..1) of the samples fall. */
  quantile(q: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(q * this.total));
    if (rank <= this.zeros) return this.lo;
    let seen = this.zeros;
    const counts = this.counts;
    if (counts) {
      for (let i = 0; i < counts.length; i++) {
        seen += counts[i] ?? 0;
        if (seen >= rank) {
          // The bucket's geometric middle halves the worst-case error.
          const mid = MIN_VALUE * GROWTH ** (i + 0.5);
          return Math.min(this.hi, Math.max(this.lo, mid));
        }
      }
    }
    return this.hi;
  }

  /** A summary of all samples. */
  summary(): Percentiles {
    return {
      count: this.total,
      min: this.total === 0 ? 0 : this.lo,
      max: this.hi,
      mean: this.total === 0 ? 0 : this.sum / this.total,
      p50: this.quantile(0.5),
      p90: this.quantile(0.9),
      p95: this.quantile(0.95),
      p99: this.quantile(0.99),
    };
  }
}
