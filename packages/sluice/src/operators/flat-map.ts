/**
 * Normalizes what a flatMap function returned to an array: arrays as they are, sync
 * iterables spread, async iterables drained (so a retried item cannot emit twice).
 */
export function collectResult(result: unknown): unknown[] | Promise<unknown[]> {
  if (Array.isArray(result)) return result;
  if (result !== null && result !== undefined) {
    const r = result as Partial<Iterable<unknown> & AsyncIterable<unknown>>;
    if (typeof r[Symbol.iterator] === "function") return Array.from(r as Iterable<unknown>);
    if (typeof r[Symbol.asyncIterator] === "function") return drain(r as AsyncIterable<unknown>);
  }
  throw new TypeError(
    `flatMap's function must return an array, Iterable or AsyncIterable, got ${result === null ? "null" : typeof result}`,
  );
}

async function drain(iterable: AsyncIterable<unknown>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const v of iterable) out.push(v);
  return out;
}
