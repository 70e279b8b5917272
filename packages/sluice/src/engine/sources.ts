import type { Chunk, Puller } from "./chunk.js";
import { isPullSource, type PullSource, PullSourcePuller } from "./pull-source.js";
import { keepShape } from "./shapes.js";

/**
 * What `executeFrom` accepts as a source of input items.
 *
 * @example
 * ```ts
 * const outputsOf = (source: Source<string>) => pipeline.executeFrom(source);
 * outputsOf(["a", "b"]); // an Iterable
 * outputsOf(lines); // an AsyncIterable
 * outputsOf(new Blob(["a", "b"]).stream().pipeThrough(new TextDecoderStream())); // a Web ReadableStream
 * outputsOf({ pull: async (demand) => (demand > 0 ? ["a"] : []) }); // a PullSource, asked for the demand
 * ```
 */
export type Source<T> = Iterable<T> | AsyncIterable<T> | ReadableStream<T> | PullSource<T>;

function describe(value: unknown): string {
  if (value === null) return "null";
  if (typeof value === "object") return value.constructor?.name ?? "object";
  return typeof value;
}

function isReadableStream(value: unknown): value is ReadableStream<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { getReader?: unknown }).getReader === "function" &&
    typeof (value as { tee?: unknown }).tee === "function"
  );
}

/**
 * The puller for a source, chosen from what the value explicitly offers. A ReadableStream is
 * read through its reader (not its async iterator, which not every runtime has).
 */
export function sourcePuller<T>(source: Source<T>, where = "executeFrom"): Puller<T> {
  if (Array.isArray(source)) return new ArraySource(source as T[]);
  if (isReadableStream(source)) return new ReadableStreamSource(source as ReadableStream<T>);
  if (source !== null && source !== undefined) {
    const s = source as Partial<AsyncIterable<T> & Iterable<T>>;
    if (typeof s[Symbol.asyncIterator] === "function") {
      return new AsyncIterableSource(s as AsyncIterable<T>);
    }
    if (typeof s[Symbol.iterator] === "function") return new IterableSource(s as Iterable<T>);
    if (isPullSource(source)) return new PullSourcePuller(source as PullSource<T>);
  }
  throw new TypeError(
    `${where}: the source must be an Iterable, AsyncIterable, ReadableStream or PullSource, got ${describe(source)}`,
  );
}

class ArraySource<T> implements Puller<T> {
  private pos = 0;
  private done = false;
  constructor(private readonly array: readonly T[]) {}

  async pull(demand: number): Promise<Chunk<T> | null> {
    return this.pullNow(demand);
  }

  pullNow(demand: number): Chunk<T> | null {
    if (this.done || this.pos >= this.array.length) return null;
    const end = Math.min(this.array.length, this.pos + Math.max(1, demand));
    const values = this.array.slice(this.pos, end);
    this.pos = end;
    return { values, lins: undefined };
  }

  stop(): void {
    this.done = true;
  }

  async cancel(): Promise<void> {
    this.done = true;
  }
}

/** Sync iterables are read a chunk at a time: `demand` items per pull, never more. */
class IterableSource<T> implements Puller<T> {
  private iterator: Iterator<T> | undefined;
  private done = false;
  private closing: Promise<unknown> | undefined;
  constructor(private readonly iterable: Iterable<T>) {}

  async pull(demand: number): Promise<Chunk<T> | null> {
    return this.pullNow(demand);
  }

  pullNow(demand: number): Chunk<T> | null {
    if (this.done) return null;
    this.iterator ??= this.iterable[Symbol.iterator]();
    const values: T[] = [];
    const n = Math.max(1, demand);
    try {
      while (values.length < n) {
        const r = this.iterator.next();
        if (r.done) {
          this.done = true;
          break;
        }
        values.push(r.value);
      }
    } catch (error) {
      this.done = true;
      throw error;
    }
    return values.length > 0 ? { values, lins: undefined } : null;
  }

  stop(): void {
    if (this.done) return;
    this.done = true;
    // A stop is synchronous and may come from anywhere: what `return()` throws is kept for
    // the `cancel()` that follows.
    this.closing = settleOf(() => this.iterator?.return?.());
  }

  async cancel(): Promise<void> {
    this.stop();
    await this.closing;
  }
}

/**
 * Async iterables are read one `next()` per pull: waiting for a second item before handing
 * on the first would hold back a slow source's items. A pending `next()` loses the race
 * against cancellation, so an idle source can never hang a cancelled run.
 */
class AsyncIterableSource<T> implements Puller<T> {
  private iterator: AsyncIterator<T> | undefined;
  private done = false;
  private pending = false;
  /** Settles the pull waiting on `next()` with null when the source is stopped. */
  private wake: (() => void) | undefined;
  /** The iterator's `return()`, started at the stop. */
  private closing: Promise<unknown> | undefined;

  constructor(private readonly iterable: AsyncIterable<T>) {}

  async pull(_demand: number): Promise<Chunk<T> | null> {
    if (this.done) return null;
    this.iterator ??= this.iterable[Symbol.asyncIterator]();
    this.pending = true;
    let r: IteratorResult<T> | null;
    try {
      // A fresh promise per pull, not a race against one long-lived promise: that would
      // keep a reaction per item for the whole run.
      const next = this.iterator.next();
      r = await new Promise<IteratorResult<T> | null>((resolve, reject) => {
        this.wake = () => resolve(null);
        next.then(resolve, reject);
      });
    } catch (error) {
      this.done = true;
      throw error;
    } finally {
      this.pending = false;
      this.wake = undefined;
    }
    if (r === null || this.done) return null;
    if (r.done) {
      this.done = true;
      return null;
    }
    return { values: [r.value], lins: undefined };
  }

  stop(): void {
    if (this.done) return;
    this.done = true;
    this.wake?.();
    const it = this.iterator;
    if (it?.return === undefined) return;
    const closing = settleOf(() => it.return?.());
    // An async generator queues return() behind its pending next(): waiting for it would
    // hang on an idle source. Ask it to stop and move on; a late rejection is observed.
    if (!this.pending) this.closing = closing;
  }

  async cancel(): Promise<void> {
    this.stop();
    await this.closing;
  }
}

class ReadableStreamSource<T> implements Puller<T> {
  private reader: ReadableStreamDefaultReader<T> | undefined;
  private done = false;
  private closing: Promise<unknown> | undefined;
  constructor(private readonly stream: ReadableStream<T>) {}

  async pull(_demand: number): Promise<Chunk<T> | null> {
    if (this.done) return null;
    this.reader ??= this.stream.getReader();
    let r: ReadableStreamReadResult<T>;
    try {
      r = await this.reader.read();
    } catch (error) {
      this.done = true;
      throw error;
    }
    if (this.done) return null;
    if (r.done) {
      this.done = true;
      this.reader.releaseLock();
      return null;
    }
    return { values: [r.value], lins: undefined };
  }

  stop(): void {
    if (this.done) return;
    this.done = true;
    // cancel() also settles a pending read, so an idle stream cannot hang the run.
    const { reader, stream } = this;
    this.closing = settleOf(() => (reader ? reader.cancel() : stream.cancel()));
  }

  async cancel(): Promise<void> {
    this.stop();
    await this.closing;
  }
}

/**
 * Runs a release call and turns what it returns or throws into a promise that is already
 * observed (a release nobody awaits must not become an unhandled rejection); awaiting it
 * still sees the failure.
 */
function settleOf(release: () => unknown): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = Promise.resolve(release());
  } catch (error) {
    p = Promise.reject(error);
  }
  p.then(undefined, () => {});
  return p;
}

keepShape(new ArraySource([]));
keepShape(new IterableSource([]));
keepShape(
  new AsyncIterableSource({ [Symbol.asyncIterator]: () => [][Symbol.iterator]() as never }),
);
