/** Options of {@link batchItems}. */
export interface BatchOptions<T> {
  /** Most items in one batch. */
  readonly size: number;
  /** Most tokens in one batch (an embedding request limit); an item over it goes alone. */
  readonly maxTokens?: number;
  /** Tokens of an item; required with `maxTokens`. */
  readonly tokensOf?: (item: T) => number;
}

/**
 * Groups items, in order, into batches of at most `size` items and `maxTokens` tokens, lazily, so
 * an endless or huge stream batches in constant memory. An item alone over `maxTokens` forms its
 * own batch rather than being dropped: the embedder then reports the real limit.
 */
export function* batchItems<T>(items: Iterable<T>, options: BatchOptions<T>): Generator<T[]> {
  if (!Number.isInteger(options.size) || options.size < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${options.size}`);
  }
  const { maxTokens, tokensOf } = options;
  if (maxTokens !== undefined && (!tokensOf || !(maxTokens > 0))) {
    throw new RangeError("batch maxTokens must be positive and needs tokensOf");
  }
  let batch: T[] = [];
  let tokens = 0;
  for (const item of items) {
    const itemTokens = maxTokens !== undefined && tokensOf ? tokensOf(item) : 0;
    const overBudget = maxTokens !== undefined && tokens + itemTokens > maxTokens;
    if (batch.length > 0 && (batch.length >= options.size || overBudget)) {
      yield batch;
      batch = [];
      tokens = 0;
    }
    batch.push(item);
    tokens += itemTokens;
  }
  if (batch.length > 0) yield batch;
}
