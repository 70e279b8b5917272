import type { RetryOptions } from "../errors/retry-policy.js";
import { validateRetry } from "../errors/retry-policy.js";

/**
 * What a streaming step's generator receives.
 *
 * @example
 * ```ts
 * const forward = createStreamingStep("forward", async function* ({ input, signal }: StreamingStepContext<string>) {
 *   for await (const body of input) yield await send(body, { signal });
 * });
 * ```
 */
export interface StreamingStepContext<TInput, TState = {}, TContext = unknown> {
  /** The stage's whole input, pulled on demand. */
  readonly input: AsyncIterable<TInput>;
  /**
   * The checkpoint snapshot API (`materialize`, `stream`, `hasSnapshot`, `accumulated`).
   * Per-item keys are not available here: the step sees a stream, not one item.
   */
  readonly state: TState;
  /** The run's context, built once per run by the context builder. */
  readonly context: TContext;
  /** Aborted when the run is cancelled or fails. */
  readonly signal: AbortSignal;
  /** The run's trace id (W3C format). */
  readonly traceId: string;
  /** The stage's span id. */
  readonly spanId: string;
}

/**
 * A transformer of a whole stream, made by {@link createStreamingStep}.
 *
 * @example
 * ```ts
 * const dedupe = createStreamingStep("dedupe", async function* ({ input }: StreamingStepContext<string>) {
 *   const seen = new Set<string>();
 *   for await (const s of input) if (!seen.has(s)) { seen.add(s); yield s; }
 * });
 * ```
 */
export interface StreamingStep<TInput, TOutput, TState = {}, TContext = unknown> {
  /** The step's name, reported in metadata and errors. */
  readonly name: string;
  /** Turns the stage's input stream into its output stream. */
  readonly transform: (
    ctx: StreamingStepContext<TInput, TState, TContext>,
  ) => AsyncIterable<TOutput>;
  /** Used when the step runs per item in a batch pipeline (interop). */
  readonly retry?: RetryOptions | undefined;
}

/**
 * Options of {@link createStreamingStep}.
 *
 * @example
 * ```ts
 * const options: StreamingStepOptions = { retry: { maxAttempts: 3, backoffMs: 100 } };
 * ```
 */
export interface StreamingStepOptions {
  /** Retry policy, applied per item when the step runs in a batch pipeline (interop). */
  retry?: RetryOptions;
}

/**
 * Makes a {@link StreamingStep} from an async generator function over the stage's input.
 * Errors it throws end the run (a generator cannot resume after throwing), whatever the
 * error strategy.
 *
 * @example
 * ```ts
 * const pairs = createStreamingStep("pairs", async function* ({ input }: StreamingStepContext<number>) {
 *   let prev: number | undefined;
 *   for await (const n of input) {
 *     if (prev !== undefined) yield [prev, n] as const;
 *     prev = n;
 *   }
 * });
 * ```
 */
export function createStreamingStep<TInput, TOutput, TState = {}, TContext = unknown>(
  name: string,
  transform: (ctx: StreamingStepContext<TInput, TState, TContext>) => AsyncIterable<TOutput>,
  options: StreamingStepOptions = {},
): StreamingStep<TInput, TOutput, TState, TContext> {
  if (typeof name !== "string" || name === "") {
    throw new TypeError(
      `createStreamingStep: name must be a non-empty string, got ${String(name)}`,
    );
  }
  if (typeof transform !== "function") {
    throw new TypeError(`createStreamingStep("${name}"): transform must be a function`);
  }
  validateRetry(options.retry, `createStreamingStep("${name}")`);
  return { name, transform, retry: options.retry };
}
