import type { Chunk, Puller } from "./chunk.js";

/**
 * A source that is asked for exactly the demand: a message queue's read takes a count, so a
 * pull-based run can read what it can use and leave the rest to other consumers.
 *
 * @example
 * ```ts
 * let next = 0;
 * const counter: PullSource<number> = {
 *   async pull(demand) {
 *     if (next >= 10) return null;
 *     const n = Math.min(demand, 10 - next);
 *     return Array.from({ length: n }, () => next++);
 *   },
 * };
 * for await (const n of StreamingPipeline.start<number>().executeFrom(counter)) console.log(n);
 * ```
 */
export interface PullSource<T> {
  /**
   * Up to `demand` items, `[]` to be asked again, or null at the end. `signal` aborts when
   * the run stops: a read that waits (a blocking queue read) must then settle promptly; what
   * it returns after that is dropped. It aborts too when the run stops after the source
   * ended, so a source that keeps a resource until what it delivered is settled can let go.
   */
  pull(demand: number, signal: AbortSignal): Promise<readonly T[] | null>;
  /** Releases the source, once, after its last pull settled (at the end or at the stop). */
  close?(): unknown;
}

/** Whether a value is a {@link PullSource} (it has `pull` and is not iterable). */
export function isPullSource(value: unknown): value is PullSource<unknown> {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { pull?: unknown }).pull === "function" &&
    !(Symbol.asyncIterator in value) &&
    !(Symbol.iterator in value)
  );
}

/** The engine's puller over a {@link PullSource}. */
export class PullSourcePuller<T> implements Puller<T> {
  private readonly controller = new AbortController();
  private done = false;
  /** The source's pull in progress, which `cancel()` waits for. */
  private reading: Promise<unknown> | undefined;
  /** Settles the engine's pull with null at the stop, before the source's read settles. */
  private wake: (() => void) | undefined;
  private closing: Promise<unknown> | undefined;

  constructor(private readonly source: PullSource<T>) {}

  async pull(demand: number): Promise<Chunk<T> | null> {
    for (;;) {
      if (this.done) return null;
      const read = this.source.pull(Math.max(1, demand), this.controller.signal);
      this.reading = Promise.resolve(read).then(
        () => {},
        () => {},
      );
      let values: readonly T[] | null;
      try {
        values = await new Promise<readonly T[] | null>((resolve, reject) => {
          this.wake = () => resolve(null);
          Promise.resolve(read).then(resolve, reject);
        });
      } catch (error) {
        this.done = true;
        throw error;
      } finally {
        this.wake = undefined;
      }
      if (this.done) return null;
      if (values === null) {
        this.done = true;
        this.close();
        return null;
      }
      if (!Array.isArray(values)) {
        this.done = true;
        throw new TypeError(
          `PullSource: pull must return an array or null, got ${values === null ? "null" : typeof values}`,
        );
      }
      if (values.length > 0) return { values: values.slice() as T[], lins: undefined };
    }
  }

  stop(): void {
    // Aborted also after the source ended by itself: a source that keeps something open until
    // its deliveries are acknowledged learns that the run stopped and they never will be.
    this.controller.abort();
    if (this.done && this.closing !== undefined) return;
    this.done = true;
    this.wake?.();
  }

  async cancel(): Promise<void> {
    this.stop();
    await this.reading;
    await this.close();
  }

  /** Calls the source's `close`, once; its failure is the cancel's failure. */
  private close(): Promise<unknown> {
    if (this.closing === undefined) {
      let p: Promise<unknown>;
      try {
        p = Promise.resolve(this.source.close?.());
      } catch (error) {
        p = Promise.reject(error);
      }
      p.then(undefined, () => {});
      this.closing = p;
    }
    return this.closing;
  }
}
