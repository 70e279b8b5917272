import type { StepError } from "../errors/step-error.js";
import type { StageLimits } from "../limits/limit-metrics.js";
import type { Percentiles } from "./histogram.js";

/**
 * A run's lifecycle.
 *
 * @example
 * ```ts
 * const icon: Record<RunStatus, string> = {
 *   pending: "·", running: "…", completed: "✓", failed: "✗", cancelled: "■",
 * };
 * console.log(icon[run.status]);
 * ```
 */
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/**
 * Per-stage figures, shared by both builders. Times are milliseconds.
 *
 * @example
 * ```ts
 * for (const s of run.metadata().stages) {
 *   console.log(s.key, s.status, s.counts.out, s.timings.p95, s.waitingUpstreamMs);
 * }
 * ```
 */
export interface StageMetadata {
  /** The stage's key in the pipeline. */
  key: string;
  /** The stage's operator: map, filter, batch, …; `transform` for a streaming step, `step` for a batch `add`. */
  kind: string;
  /** The step's own name, when the stage runs a named step. */
  stepName: string | undefined;
  /** The stage's span id (W3C format), fresh for each run. */
  spanId: string;
  /** Epoch ms of the first pull into the stage (undefined while not started). */
  startedAt: number | undefined;
  /** Epoch ms when the stage ended (undefined while it runs). */
  endedAt: number | undefined;
  /** From the first pull to the end, or to now while the stage runs. */
  durationMs: number | undefined;
  /** pending until the first pull, running, then how the stage ended. */
  status: "pending" | "running" | "completed" | "failed" | "cancelled";
  /** Item counters. */
  counts: {
    /** Items the stage took from upstream. */
    in: number;
    /** Items the stage handed downstream. */
    out: number;
    /** Items whose work succeeded. */
    succeeded: number;
    /** Items whose work failed after every attempt. */
    failed: number;
    /** Failed items dropped by SKIP_FAILED / SPLIT_ERRORS / COLLECT_ERRORS. */
    skipped: number;
    /** Retry attempts made. */
    retried: number;
  };
  /** Items whose call is running now. */
  inFlight: number;
  /** The most items in flight at once so far. */
  maxInFlight: number;
  /** Items taken in and not yet handed on (input waiting, finished waiting for their turn). */
  buffered: number;
  /** Time working: processing chunks, or with at least one item in flight. */
  busyMs: number;
  /** Time waiting for upstream to hand over items (starvation). */
  waitingUpstreamMs: number;
  /** Time between handing items on and being asked again (backpressure from downstream). */
  blockedDownstreamMs: number;
  /** From the stage's first pull to its first output. */
  timeToFirstItemMs: number | undefined;
  /** Items out per second of the stage's duration so far. */
  throughputPerSecond: number | undefined;
  /** Per-item processing time. Sequential sync work is timed per chunk (chunk mean per item). */
  timings: Percentiles;
  /** The error strategy of an item stage (undefined for other stages). */
  strategy: string | undefined;
  /** Most items processed at once by an item stage (undefined for other stages). */
  concurrency: number | undefined;
  /**
   * What the stage's `rateLimit`, `timeoutMs` and adaptive `concurrency` did; absent on
   * stages that have none.
   */
  limits?: StageLimits;
}

/**
 * A run's figures: both builders return this shape.
 *
 * @example
 * ```ts
 * const meta = run.metadata();
 * console.log(meta.traceId, meta.status, meta.durationMs, meta.errors.length);
 * ```
 */
export interface RunMetadata {
  /** The run's trace id (W3C format). */
  traceId: string;
  /** Where the run is in its lifecycle. */
  status: RunStatus;
  /** Epoch ms when the run started (undefined before the first pull). */
  startedAt: number | undefined;
  /** Epoch ms when the run ended (undefined while it runs). */
  endedAt: number | undefined;
  /** From the start to the end, or to now while the run goes on. */
  durationMs: number | undefined;
  /** One entry per stage, in pipeline order. */
  stages: StageMetadata[];
  /** Every item error recorded by SKIP_FAILED, COLLECT_ERRORS and SPLIT_ERRORS. */
  errors: readonly StepError[];
}
