/**
 * One failed item of a list or streaming stage.
 *
 * @example
 * ```ts
 * const r = await batchPipeline.execute(rows);
 * if (!r.success) for (const e of r.error.errors ?? []) console.warn(e.index, e.item, e.error.code);
 * ```
 */
export interface ItemError<TItem = unknown> {
  /** Position of the item in the stage's input (0-based). */
  readonly index: number;
  /** The item that failed. */
  readonly item: TItem;
  /** The error, wrapped so that it always carries a code. */
  readonly error: StepError;
}

/**
 * Options accepted by {@link StepError}.
 *
 * @example
 * ```ts
 * throw new StepError("Quota exceeded", { code: "QUOTA", retryable: true, cause: response });
 * ```
 */
export interface StepErrorOptions {
  /** Machine-readable error code; default `"STEP_FAILED"`. */
  code?: string;
  /** Whether retrying the same work may succeed; default `false`. */
  retryable?: boolean;
  /** The underlying error, passed to `Error`'s `cause` (set even when it is `undefined`). */
  cause?: unknown;
  /** The pipeline key of the stage that failed. */
  key?: string;
  /** The name of the step that failed, for steps made with `createStep`. */
  stepName?: string;
  /** Index of the failing item in the stage's input, for per-item failures. */
  itemIndex?: number;
  /** How many times the work was attempted, retries included. */
  attempts?: number;
  /** The run's trace id. */
  traceId?: string;
  /** The span id of the stage (or step) that failed. */
  spanId?: string;
  /** For list stages: every item error (COLLECT_ERRORS and SKIP_FAILED). */
  errors?: readonly ItemError[];
  /** For COLLECT_ERRORS: every successful output, in input order. */
  results?: readonly unknown[];
}

/**
 * The error model shared by both builders. A failed `StepResult` carries one, and a streaming
 * run throws its subclass {@link StreamingError}.
 *
 * @example
 * ```ts
 * const r = await batchPipeline.execute(rows);
 * if (!r.success) console.error(r.error.code, r.error.key, r.error.errors?.length);
 * ```
 */
export class StepError extends Error {
  /** Always `"StepError"`, so logs and `instanceof`-free checks can tell it apart. */
  override name = "StepError";
  /** A stable machine-readable code: the cause's own string `code` when it has one. */
  readonly code: string;
  /** Whether retrying the same work may succeed. */
  readonly retryable: boolean;
  /** The pipeline key of the stage that failed. */
  readonly key: string | undefined;
  /** The step's own name (for steps made with `createStep`). */
  readonly stepName: string | undefined;
  /** Index of the failing item, for per-item failures. */
  readonly itemIndex: number | undefined;
  /** How many times the work was attempted. */
  readonly attempts: number | undefined;
  /** The trace id of the run that failed. */
  readonly traceId: string | undefined;
  /** The span id of the failing stage or step, when known. */
  readonly spanId: string | undefined;
  /** For list stages: every item error (COLLECT_ERRORS and SKIP_FAILED). */
  readonly errors: readonly ItemError[] | undefined;
  /**
   * For COLLECT_ERRORS: every successful output, in input order, so that nothing is lost
   * when the stage fails.
   */
  readonly results: readonly unknown[] | undefined;

  constructor(message: string, options: StepErrorOptions = {}) {
    // `"cause" in options`, not `!== undefined`: a thrown `undefined` is still the cause.
    super(message, "cause" in options ? { cause: options.cause } : undefined);
    this.code = options.code ?? "STEP_FAILED";
    this.retryable = options.retryable ?? false;
    this.key = options.key;
    this.stepName = options.stepName;
    this.itemIndex = options.itemIndex;
    this.attempts = options.attempts;
    this.traceId = options.traceId;
    this.spanId = options.spanId;
    this.errors = options.errors;
    this.results = options.results;
  }
}

/**
 * The error a `StreamingPipeline` run throws or records: a {@link StepError} with the
 * failing stage key, item index and attempt count filled in where they are known.
 *
 * @example
 * ```ts
 * try {
 *   for await (const out of pipeline.executeFrom(items)) use(out);
 * } catch (e) {
 *   if (e instanceof StreamingError) console.error(e.code, e.key, e.itemIndex, e.attempts);
 * }
 * ```
 */
export class StreamingError extends StepError {
  /** Always `"StreamingError"`. */
  override name = "StreamingError";
}

/**
 * Thrown when a run is cancelled through its signal and the signal gave no reason.
 *
 * @example
 * ```ts
 * // A cancelled run throws the signal's reason, or an AbortError when there is none:
 * // checking the name covers both.
 * try {
 *   for await (const row of pipeline.executeFrom(items, { signal })) save(row);
 * } catch (e) {
 *   if ((e as Error).name !== "AbortError") throw e;
 * }
 * ```
 */
export class AbortError extends Error {
  /** Always `"AbortError"`, like the DOM's abort error. */
  override name = "AbortError";
  /** Always `"ABORT_ERR"`, matching Node's abort errors. */
  readonly code = "ABORT_ERR";
  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super(message, options);
  }
}
