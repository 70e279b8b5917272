/**
 * The Node.js parts, kept on the `sluice/node` subpath so the core stays free of Node-only APIs:
 * stream adapters, and `threadPool` (thread-pool.ts) for CPU-heavy stages in worker threads.
 * Node `Readable` streams are async iterables already: pass one to `executeFrom` directly
 * (cancelling the run destroys it).
 */
import { Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";

export * from "./thread-pool.js";

/**
 * Options of {@link toNodeReadable}.
 *
 * @example
 * ```ts
 * toNodeReadable(pipeline.executeFrom(items), { highWaterMark: 64 }).pipe(output);
 * ```
 */
export interface ToNodeReadableOptions {
  /** Items the Readable buffers ahead of its consumer (default 16). */
  highWaterMark?: number;
}

/**
 * A run (or any async iterable) as an object-mode Node `Readable`. It pulls only while its
 * buffer is below `highWaterMark`, so a slow consumer keeps the pipeline's pulled-but-
 * undelivered items bounded. Destroying the Readable returns the iterator: the run is
 * cancelled and its in-flight calls see their signal abort.
 *
 * @example
 * ```ts
 * toNodeReadable(pipeline.executeFrom(items)).pipe(process.stdout);
 * ```
 */
export function toNodeReadable<T>(
  source: AsyncIterable<T>,
  options: ToNodeReadableOptions = {},
): Readable {
  return Readable.from(source, { objectMode: true, highWaterMark: options.highWaterMark ?? 16 });
}

/**
 * Pipes a run into a Node `Writable` with backpressure, resolving when the writable has
 * finished. If the writable fails or is destroyed, the run is cancelled; if the run fails,
 * the writable is destroyed with its error and the promise rejects with it.
 *
 * @example
 * ```ts
 * await pipeToNodeWritable(pipeline.executeFrom(lines), fs.createWriteStream("out.txt"));
 * ```
 */
export async function pipeToNodeWritable<T>(
  source: AsyncIterable<T>,
  writable: Writable,
): Promise<void> {
  await pipeline(toNodeReadable(source), writable);
}
