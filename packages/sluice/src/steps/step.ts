import type { RetryOptions } from "../errors/retry-policy.js";
import type { StepError } from "../errors/step-error.js";
import type { RunStatus, StageMetadata } from "../metrics/metadata.js";

/** What a step's function receives. */
export interface StepContext<TInput, TState = {}, TContext = unknown> {
  /** The value to work on: the previous stage's output, or one item in list stages. */
  readonly input: TInput;
  /** Outputs of the earlier keys, typed. */
  readonly state: TState;
  /** The run's context, built once per execution. */
  readonly context: TContext;
  /** Aborted when the run is cancelled or a FAIL_FAST sibling failed. */
  readonly signal: AbortSignal;
  readonly traceId: string;
  readonly spanId: string;
}

/** Timing and tracing of a step result; a pipeline result adds its stages and status. */
export interface StepMetadata {
  /** The step's or pipeline's name. */
  name: string;
  traceId: string;
  spanId: string;
  startedAt: number;
  endedAt: number;
  durationMs: number;
  /** For pipelines: how the run ended. */
  status?: RunStatus;
  /** For pipelines: one entry per stage, in order. */
  stages?: StageMetadata[];
  /** For pipelines: item errors that SKIP_FAILED / COLLECT_ERRORS recorded. */
  errors?: readonly StepError[];
}

/** A step's outcome: never an exception. */
export type StepResult<T> =
  | { success: true; data: T; metadata: StepMetadata }
  | { success: false; error: StepError; metadata: StepMetadata };

/**
 * A unit of work usable in both builders. `execute` is a property (not a method) so that
 * TypeScript checks the state a step needs against the pipeline's, contravariantly: a step
 * that needs `{ raw: string }` fits any pipeline whose state has at least that.
 *
 * @example
 * ```ts
 * const double: Step<number, number> = createStep("double", ({ input }) => input * 2);
 * ```
 */
export interface Step<TInput, TOutput, TState = {}, TContext = unknown> {
  readonly name: string;
  readonly execute: (ctx: StepContext<TInput, TState, TContext>) => Promise<StepResult<TOutput>>;
  /** Retry policy; pipelines apply it per call (per item in list stages). */
  readonly retry?: RetryOptions | undefined;
}

/** Whether a value looks like a {@link Step}. */
export function isStep(value: unknown): value is Step<unknown, unknown, unknown, unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { execute?: unknown }).execute === "function" &&
    typeof (value as { name?: unknown }).name === "string"
  );
}
