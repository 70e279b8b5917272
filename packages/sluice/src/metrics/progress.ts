import type { RunMetadata } from "./metadata.js";

/**
 * Where a run stands. Rates are measured over the last few seconds, never invented.
 *
 * @example
 * ```ts
 * const p = run.progressNow();
 * console.log(`${p.done}/${p.total ?? "?"}`, p.ratePerSecond?.toFixed(1), p.etaMs);
 * ```
 */
export interface Progress {
  /** Source items the first stage has finished with (taken in, for non-item stages). */
  done: number;
  /** Source items expected: the array's length, `expectedItems`, or undefined if unknown. */
  total: number | undefined;
  /** done / total, when the total is known. */
  fraction: number | undefined;
  /** Items the run has handed to its consumer. */
  outputs: number;
  /** Source items per second over the recent window (undefined until measurable). */
  ratePerSecond: number | undefined;
  /** Time left at the recent rate, when the total is known and the rate is above zero. */
  etaMs: number | undefined;
  /** Per stage: items out per item in (1:N stages show their expansion). */
  expansion: Record<string, number>;
}

const WINDOW_MS = 5_000;
const ITEM_KINDS = new Set(["map", "flatMap", "filter", "tap", "step", "branch", "flatten"]);

/** Turns metadata snapshots into progress figures, keeping a few seconds of samples. */
export class ProgressTracker {
  private readonly samples: { t: number; done: number }[] = [];

  constructor(private readonly total: number | undefined) {}

  measure(meta: RunMetadata, outputs: number, t: number): Progress {
    const first = meta.stages[0];
    const done =
      first === undefined
        ? outputs
        : ITEM_KINDS.has(first.kind)
          ? first.counts.succeeded + first.counts.failed
          : first.counts.in;
    this.samples.push({ t, done });
    while (this.samples.length > 2 && (this.samples[0]?.t ?? t) < t - WINDOW_MS)
      this.samples.shift();
    const oldest = this.samples[0];
    const dt = oldest === undefined ? 0 : t - oldest.t;
    const ratePerSecond =
      oldest !== undefined && dt > 0 ? ((done - oldest.done) * 1000) / dt : undefined;
    const total = this.total;
    const expansion: Record<string, number> = {};
    for (const s of meta.stages) if (s.counts.in > 0) expansion[s.key] = s.counts.out / s.counts.in;
    return {
      done,
      total,
      fraction: total === undefined || total === 0 ? undefined : Math.min(1, done / total),
      outputs,
      ratePerSecond,
      etaMs:
        total !== undefined && ratePerSecond !== undefined && ratePerSecond > 0
          ? (Math.max(0, total - done) / ratePerSecond) * 1000
          : undefined,
      expansion,
    };
  }
}
