import type { RetryOptions } from "../errors/retry-policy.js";
import type { StepError } from "../errors/step-error.js";
import type { RunStatus, StageMetadata } from "../metrics/metadata.js";

/**
 * What a step's function receives.
 *
 * @example
 * ```ts
 * const fetchUser = createStep<string, User>("fetch-user", async ({ input, signal, traceId }) =>
 *   (await fetch(`/users/${input}`, { signal, headers: { "x-trace-id": traceId } })).json(),
 * );
 * ```
 */
export interface StepContext<TInput, TState = {}, TContext = unknown> {
  /** The value to work on: the previous stage's output, or one item in list stages. */
  readonly input: TInput;
  /** Outputs of the earlier keys, typed. */
  readonly state: TState;
  /** The run's context, built once per execution. */
  readonly context: TContext;
  /** Aborted when the run is cancelled or a FAIL_FAST sibling failed. */
  readonly signal: AbortSignal;
  /** The run's trace id (W3C format). */
  readonly traceId: string;
  /** The span id of the stage running the step. */
  readonly spanId: string;
}

/**
 * Timing and tracing of a step result; a pipeline result adds its stages and status.
 *
 * @example
 * ```ts
 * const { metadata } = await batchPipeline.execute(rows);
 * console.log(metadata.status, metadata.durationMs, metadata.stages?.map((s) => s.key));
 * ```
 */
export interface StepMetadata {
  /** The step's or pipeline's name. */
  name: string;
  /** The run's trace id. */
  traceId: string;
  /** The span id: the running stage's for a step, the execution's own for a pipeline. */
  spanId: string;
  /** Epoch ms when the work started. */
  startedAt: number;
  /** Epoch ms when the work ended. */
  endedAt: number;
  /** How long the work took, in milliseconds (monotonic clock). */
  durationMs: number;
  /** For pipelines: how the run ended. */
  status?: RunStatus;
  /** For pipelines: one entry per stage, in order. */
  stages?: StageMetadata[];
  /** For pipelines: item errors that SKIP_FAILED / COLLECT_ERRORS recorded. */
  errors?: readonly StepError[];
}

/**
 * A step's outcome: never an exception.
 *
 * @example
 * ```ts
 * const result = await batchPipeline.execute(rows);
 * if (result.success) console.log(result.data, result.metadata.durationMs);
 * else console.error(result.error.code, result.error.message);
 * ```
 */
export type StepResult<T> =
  | {
      /** The work succeeded. */
      success: true;
      /** The output. */
      data: T;
      /** Timing and tracing of the work. */
      metadata: StepMetadata;
    }
  | {
      /** The work failed. */
      success: false;
      /** Why it failed. */
      error: StepError;
      /** Timing and tracing of the work, up to the failure. */
      metadata: StepMetadata;
    };

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
  /** The step's name, reported in metadata and errors. */
  readonly name: string;
  /** Runs the step once; resolves to a result and never rejects. */
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
