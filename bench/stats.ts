/** Median, min and max of a set of rounds. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Summarizes `values` (at least one); the median of an even count is the mean of the middle two. */
export function spread(values: readonly number[]): Spread {
  if (values.length === 0) throw new Error("spread() of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** `spread` of the values that are numbers, or null when there are none. */
export function spreadOrNull(values: readonly (number | null)[]): Spread | null {
  const present = values.filter((v): v is number => v !== null);
  return present.length === 0 ? null : spread(present);
}
