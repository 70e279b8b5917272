/**
 * Folds a sync or async iterable with `step`, using a plain `for...of` when the
 * iterable is synchronous (some libraries, e.g. it-map, stay synchronous on a
 * synchronous source, and `for await` would add an await per item).
 */
export async function fold<T, A>(
  source: Iterable<T> | AsyncIterable<T>,
  initial: A,
  step: (acc: A, item: T) => A,
): Promise<A> {
  let acc = initial;
  if (Symbol.asyncIterator in source) {
    for await (const item of source) acc = step(acc, item);
  } else {
    for (const item of source) acc = step(acc, item);
  }
  return acc;
}
