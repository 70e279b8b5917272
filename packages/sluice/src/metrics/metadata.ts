import type { StepError } from "../errors/step-error.js";
import type { Percentiles } from "./histogram.js";

/** A run's lifecycle. */
export type RunStatus = "pending" | "running" | "completed" | "failed" | "cancelled";

/** Per-stage figures, shared by both builders. Times are milliseconds. */
export interface StageMetadata {
  key: string;
  /** The stage's operator: map, filter, batch, …; `transform` for a streaming step, `step` for a batch `add`. */
  kind: string;
  /** The step's own name, when the stage runs a named step. */
  stepName: string | undefined;
  spanId: string;
  /** Epoch ms of the first pull into the stage (undefined while not started). */
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  /** pending until the first pull, running, then how the stage ended. */
  status: "pending" | "running" | "completed" | "failed" | "cancelled";
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
  inFlight: number;
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
  strategy: string | undefined;
  concurrency: number | undefined;
}

/** A run's figures: both builders return this shape. */
export interface RunMetadata {
  traceId: string;
  status: RunStatus;
  startedAt: number | undefined;
  endedAt: number | undefined;
  durationMs: number | undefined;
  stages: StageMetadata[];
  /** Every item error recorded by SKIP_FAILED, COLLECT_ERRORS and SPLIT_ERRORS. */
  errors: readonly StepError[];
}
