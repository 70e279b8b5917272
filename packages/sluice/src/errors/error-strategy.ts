/**
 * What a batch list stage does when an item fails.
 * - `FAIL_FAST`: stop at the first failure; in parallel mode no new item starts and the
 *   signal of the items in flight is aborted.
 * - `SKIP_FAILED`: drop failed items, keep the successes in input order, record each failure.
 * - `COLLECT_ERRORS`: process every item, then fail with every error and every success.
 *
 * @example
 * ```ts
 * const parse = createStep<string, unknown>("parse", ({ input }) => JSON.parse(input));
 * const pipeline = Pipeline.start<string[]>().map("parsed", parse, {
 *   parallel: true,
 *   errorStrategy: ListErrorStrategy.SKIP_FAILED,
 * });
 * ```
 */
export const ListErrorStrategy = {
  /** Stop at the first failure; the stage fails with that item's error. */
  FAIL_FAST: "FAIL_FAST",
  /** Drop failed items, keep the successes in input order and record each failure. */
  SKIP_FAILED: "SKIP_FAILED",
  /** Process every item, then fail with every error and every success. */
  COLLECT_ERRORS: "COLLECT_ERRORS",
} as const;
/** One of {@link ListErrorStrategy}'s values. */
export type ListErrorStrategy = (typeof ListErrorStrategy)[keyof typeof ListErrorStrategy];

/**
 * What a streaming stage does when an item fails: the {@link ListErrorStrategy} cases plus
 * `SPLIT_ERRORS`, which sends failures to the run's typed side stream `run.errors` while
 * the main stream goes on and succeeds.
 *
 * @example
 * ```ts
 * const run = StreamingPipeline.start<string>()
 *   .map("parsed", (line) => JSON.parse(line), {
 *     errorStrategy: StreamingErrorStrategy.SPLIT_ERRORS,
 *   })
 *   .executeFrom(lines);
 * for await (const row of run) save(row); // the main stream drives the run
 * for await (const failure of run.errors) console.warn(failure.key, failure.index, failure.error);
 * ```
 */
export const StreamingErrorStrategy = {
  ...ListErrorStrategy,
  /** Send failed items to `run.errors` while the main stream goes on. */
  SPLIT_ERRORS: "SPLIT_ERRORS",
} as const;
/** One of {@link StreamingErrorStrategy}'s values. */
export type StreamingErrorStrategy =
  (typeof StreamingErrorStrategy)[keyof typeof StreamingErrorStrategy];

const ALL = new Set<string>(Object.values(StreamingErrorStrategy));

/** Throws a `RangeError` naming the option when `value` is not a known strategy. */
export function validateStrategy(value: unknown, where: string, allowSplit: boolean): void {
  if (value === undefined) return;
  if (typeof value !== "string" || !ALL.has(value) || (!allowSplit && value === "SPLIT_ERRORS")) {
    const allowed = [...ALL].filter((s) => allowSplit || s !== "SPLIT_ERRORS").join(", ");
    throw new RangeError(`${where}: errorStrategy must be one of ${allowed}, got ${String(value)}`);
  }
}
