/**
 * What a batch list stage does when an item fails.
 * - `FAIL_FAST`: stop at the first failure; in parallel mode no new item starts and the
 *   signal of the items in flight is aborted.
 * - `SKIP_FAILED`: drop failed items, keep the successes in input order, record each failure.
 * - `COLLECT_ERRORS`: process every item, then fail with every error and every success.
 */
export const ListErrorStrategy = {
  FAIL_FAST: "FAIL_FAST",
  SKIP_FAILED: "SKIP_FAILED",
  COLLECT_ERRORS: "COLLECT_ERRORS",
} as const;
/** One of {@link ListErrorStrategy}'s values. */
export type ListErrorStrategy = (typeof ListErrorStrategy)[keyof typeof ListErrorStrategy];

/**
 * What a streaming stage does when an item fails: the {@link ListErrorStrategy} cases plus
 * `SPLIT_ERRORS`, which sends failures to the run's typed side stream `run.errors` while
 * the main stream goes on and succeeds.
 */
export const StreamingErrorStrategy = {
  ...ListErrorStrategy,
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
