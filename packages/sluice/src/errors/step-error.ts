/** One failed item of a list or streaming stage. */
export interface ItemError<TItem = unknown> {
  /** Position of the item in the stage's input (0-based). */
  readonly index: number;
  /** The item that failed. */
  readonly item: TItem;
  /** The error, wrapped so that it always carries a code. */
  readonly error: StepError;
}

/** Options accepted by {@link StepError}. */
export interface StepErrorOptions {
  code?: string;
  retryable?: boolean;
  cause?: unknown;
  key?: string;
  stepName?: string;
  itemIndex?: number;
  attempts?: number;
  traceId?: string;
  spanId?: string;
  errors?: readonly ItemError[];
  results?: readonly unknown[];
}

/**
 * The error model shared by both builders. A failed `StepResult` carries one, and a streaming
 * run throws its subclass {@link StreamingError}.
 *
 * @example
 * ```ts
 * const r = await pipeline.execute(input);
 * if (!r.success) console.error(r.error.code, r.error.key, r.error.errors?.length);
 * ```
 */
export class StepError extends Error {
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
  readonly traceId: string | undefined;
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
 */
export class StreamingError extends StepError {
  override name = "StreamingError";
}

/** Thrown when a run is cancelled through its signal and the signal gave no reason. */
export class AbortError extends Error {
  override name = "AbortError";
  readonly code = "ABORT_ERR";
  constructor(message = "The operation was aborted", options?: { cause?: unknown }) {
    super(message, options);
  }
}
