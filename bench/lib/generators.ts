/**
 * Hand-written async generator stages: the baseline every streaming library is
 * compared with. Each stage is one `async function*` consuming the previous
 * one with `for await`.
 */

/** Any source a `for await` loop accepts. */
export type AnySource<T> = Iterable<T> | AsyncIterable<T>;

/** Maps every item; awaits `fn` if it returns a promise. */
export async function* mapGen<T, U>(
  source: AnySource<T>,
  fn: (item: T) => U | Promise<U>,
): AsyncGenerator<U> {
  for await (const item of source) yield await fn(item);
}

/** Keeps the items `predicate` accepts. */
export async function* filterGen<T>(
  source: AnySource<T>,
  predicate: (item: T) => boolean,
): AsyncGenerator<T> {
  for await (const item of source) if (predicate(item)) yield item;
}
