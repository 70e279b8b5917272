/**
 * Two reference points for the parallel cases, not peers: the least work any ordered
 * concurrent map can do per item, with and without an async iterator in front. They have no
 * error handling, no cancellation and no metrics; they show how far above the peers the event
 * loop lets anything go on the same tasks (`parallel-gap.ts` measures them beside the peers).
 */

/**
 * Every result passed to `onResult` in input order, at most `concurrency` items held (running,
 * or finished and waiting for their turn), the replacements started in the callback that
 * delivered; resolves to the number of results. No iterator and no promise per result beyond
 * the task's own: the ceiling.
 */
export function callbackPool<T>(
  count: number,
  task: (i: number) => Promise<T>,
  concurrency: number,
  onResult: (value: T) => void,
): Promise<number> {
  return new Promise((resolve) => {
    const done: (T | undefined)[] = [];
    const has: boolean[] = [];
    let next = 0;
    let delivered = 0;
    const start = (): void => {
      const i = next++;
      task(i).then((value) => {
        done[i] = value;
        has[i] = true;
        while (has[delivered] === true) {
          const v = done[delivered] as T;
          done[delivered] = undefined;
          delivered++;
          onResult(v);
        }
        fill();
        if (delivered === count) resolve(count);
      });
    };
    const fill = (): void => {
      while (next < count && next - delivered < concurrency) start();
    };
    if (count === 0) resolve(0);
    fill();
  });
}

/**
 * An ordered concurrent map behind a minimal async iterator that holds at most `concurrency`
 * items (running, finished, or handed to the consumer, which holds it until it asks again):
 * a finished item goes straight to a waiting consumer, and its replacement starts at the
 * consumer's next call, in the same callback's microtasks when the consumer is quick. The
 * least an async-iterator API with the peers' memory bound can do per item.
 */
export function minimalIterator<T>(
  count: number,
  task: (i: number) => Promise<T>,
  concurrency: number,
): AsyncIterableIterator<T> {
  const done: (T | undefined)[] = [];
  const has: boolean[] = [];
  let next = 0;
  let taken = 0;
  let waiter: ((result: IteratorResult<T>) => void) | null = null;
  const take = (): T => {
    const v = done[taken] as T;
    done[taken] = undefined;
    has[taken] = false;
    taken++;
    return v;
  };
  const fill = (): void => {
    // `taken` counts the item the consumer holds: it asks again only when done with it.
    while (next < count && next - taken < concurrency) {
      const i = next++;
      task(i).then((value) => {
        done[i] = value;
        has[i] = true;
        if (waiter !== null && i === taken) {
          const w = waiter;
          waiter = null;
          w({ value: take(), done: false });
        }
      });
    }
  };
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next(): Promise<IteratorResult<T>> {
      // The consumer is done with what it took: its slot is free.
      fill();
      if (taken >= count) return Promise.resolve({ value: undefined, done: true });
      if (has[taken] === true) {
        const value = take();
        return Promise.resolve({ value, done: false });
      }
      return new Promise((resolve) => {
        waiter = resolve;
      });
    },
  };
}
