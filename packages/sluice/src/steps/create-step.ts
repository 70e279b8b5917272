import { now } from "../engine/chunk.js";
import { isRetryable, type RetryOptions, validateRetry } from "../errors/retry-policy.js";
import { StepError } from "../errors/step-error.js";
import { markWrapper, readCode, toError } from "../errors/to-error.js";
import type { Step, StepContext, StepMetadata, StepResult } from "./step.js";

/**
 * Options of {@link createStep}.
 *
 * @example
 * ```ts
 * const fetchPage = createStep<string, string>("fetch", ({ input }) => download(input), {
 *   retry: { maxAttempts: 3, backoffMs: 200 },
 * });
 * ```
 */
export interface StepOptions {
  /** Retry policy; pipelines apply it per call, per item in list stages. */
  retry?: RetryOptions;
}

/**
 * Starts timing one execution of a step: each call of the returned function gives the
 * step's metadata (name, trace and span ids, start, end and duration so far).
 */
export function stepTimer(
  name: string,
  ctx: Pick<StepContext<unknown, unknown, unknown>, "traceId" | "spanId">,
): () => StepMetadata {
  const startedAt = Date.now();
  const t0 = now();
  return () => ({
    name,
    traceId: ctx.traceId,
    spanId: ctx.spanId,
    startedAt,
    endedAt: Date.now(),
    durationMs: now() - t0,
  });
}

/**
 * Makes a {@link Step} from a function. A thrown error (or a thrown non-Error value,
 * wrapped) becomes a failed result, never an exception. Declare the types once on a
 * reusable step; inline steps infer them from the pipeline.
 *
 * @example
 * ```ts
 * const parse = createStep<string, number>("parse", ({ input }) => Number.parseInt(input, 10));
 * const needsRaw = createStep<number, string, { raw: string }>("label", ({ input, state }) =>
 *   `${state.raw} -> ${input}`,
 * );
 * ```
 */
export function createStep<TInput, TOutput, TState = {}, TContext = unknown>(
  name: string,
  fn: (ctx: StepContext<TInput, TState, TContext>) => TOutput | PromiseLike<TOutput>,
  options: StepOptions = {},
): Step<TInput, TOutput, TState, TContext> {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(`createStep: name must be a non-empty string, got ${String(name)}`);
  }
  if (typeof fn !== "function") {
    throw new TypeError(`createStep("${name}"): fn must be a function, got ${typeof fn}`);
  }
  validateRetry(options.retry, `createStep("${name}")`);
  const execute = async (
    ctx: StepContext<TInput, TState, TContext>,
  ): Promise<StepResult<TOutput>> => {
    const metadata = stepTimer(name, ctx);
    try {
      const data = await fn(ctx);
      return { success: true, data, metadata: metadata() };
    } catch (thrown) {
      return { success: false, error: toStepError(thrown, name, ctx), metadata: metadata() };
    }
  };
  return { name, execute, retry: options.retry };
}

function toStepError(
  thrown: unknown,
  stepName: string,
  ctx: { traceId: string; spanId: string },
): StepError {
  if (thrown instanceof StepError) return thrown;
  const message = thrown instanceof Error ? thrown.message : toError(thrown).message;
  // The cause is exactly what was thrown, Error or not, so nothing is ever one level deeper.
  return markWrapper(
    new StepError(`Step "${stepName}" failed: ${message}`, {
      code: thrown instanceof Error ? (readCode(thrown) ?? "STEP_FAILED") : "NON_ERROR_THROWN",
      retryable: isRetryable(thrown),
      cause: thrown,
      stepName,
      traceId: ctx.traceId,
      spanId: ctx.spanId,
    }),
  );
}
