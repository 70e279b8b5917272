/**
 * A run (or any async iterable) as a Web `ReadableStream` that pulls one item per read:
 * the stream's own queue holds at most `highWaterMark` items (default 1), so a slow reader
 * slows the pipeline. Cancelling the stream returns the iterator, which cancels the run
 * and aborts its in-flight work.
 *
 * @example
 * ```ts
 * const stream = toReadableStream(pipeline.executeFrom(items));
 * const reader = stream.getReader();
 * ```
 */
export function toReadableStream<T>(
  source: AsyncIterable<T>,
  highWaterMark = 1,
): ReadableStream<T> {
  let iterator: AsyncIterator<T> | undefined;
  return new ReadableStream<T>(
    {
      async pull(controller) {
        iterator ??= source[Symbol.asyncIterator]();
        try {
          const r = await iterator.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (error) {
          controller.error(error);
        }
      },
      async cancel() {
        await iterator?.return?.();
      },
    },
    { highWaterMark },
  );
}
