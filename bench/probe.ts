import type { Probe } from "./types.ts";

/** Figures a probe has gathered by the end of a run. */
export interface ProbeFigures {
  readonly firstResultNs: bigint | null;
  readonly peakHeapBytes: number;
  readonly readAhead: number | null;
  readonly maxInFlight: number | null;
  readonly delivered: number;
  /** Figures recorded with `record`. */
  readonly figures: Readonly<Record<string, number>>;
}

/** A probe that also exposes what it measured. */
export interface MeasuringProbe extends Probe {
  /** Marks the start of the timed run (time zero for the first result). */
  start(): void;
  /** Stops the background sampler and returns the figures. */
  finish(): ProbeFigures;
}

const SAMPLE_INTERVAL_MS = 10;

/**
 * Creates the probe a worker hands to an implementation: it records the time
 * of the first delivered result, the largest read-ahead (items pulled from the
 * source but not yet delivered), the most tasks in flight at once and the peak
 * `heapUsed`, sampled every 10 ms by
 * a timer and also on demand (pipelines that only run microtasks never let the
 * timer fire, so cases call `sample()` from their source and consumer), plus
 * any case-specific figures passed to `record`.
 */
export function createProbe(): MeasuringProbe {
  let startNs = 0n;
  let firstResultNs: bigint | null = null;
  let pulled = 0;
  let delivered = 0;
  let readAhead: number | null = null;
  let inFlight = 0;
  let maxInFlight: number | null = null;
  let peakHeap = process.memoryUsage().heapUsed;
  let timer: NodeJS.Timeout | undefined;
  const figures: Record<string, number> = {};

  const sample = (): void => {
    const heap = process.memoryUsage().heapUsed;
    if (heap > peakHeap) peakHeap = heap;
  };

  return {
    start() {
      peakHeap = process.memoryUsage().heapUsed;
      timer = setInterval(sample, SAMPLE_INTERVAL_MS);
      timer.unref();
      startNs = process.hrtime.bigint();
    },
    pulled() {
      pulled++;
    },
    delivered() {
      if (firstResultNs === null) firstResultNs = process.hrtime.bigint() - startNs;
      delivered++;
      if (pulled > 0) {
        const ahead = pulled - delivered;
        if (readAhead === null || ahead > readAhead) readAhead = ahead;
      }
    },
    sample,
    inFlight(delta) {
      inFlight += delta;
      if (maxInFlight === null || inFlight > maxInFlight) maxInFlight = inFlight;
    },
    record(key, value) {
      figures[key] = value;
    },
    finish() {
      if (timer !== undefined) clearInterval(timer);
      sample();
      return {
        firstResultNs,
        peakHeapBytes: peakHeap,
        readAhead,
        maxInFlight,
        delivered,
        figures,
      };
    },
  };
}
