import type { Chunk, Lineage, Puller } from "./chunk.js";
import { isThenable } from "./chunk.js";
import { type Source, sourcePuller } from "./sources.js";

/**
 * How a source item ended: `done` when something derived from it left the pipeline as an
 * output, `failed` when an error strategy absorbed a failure of it or of something derived
 * from it (failed wins over done), `filtered` when a stage dropped it and everything derived
 * from it (filter, skip, a flatMap that returned nothing, a window step that left it out).
 *
 * @example
 * ```ts
 * const ack = (outcome: AckOutcome) => {
 *   if (outcome === "failed") console.warn("to the dead-letter queue");
 * };
 * ```
 */
export type AckOutcome = "done" | "failed" | "filtered";

/**
 * A source item that must be acknowledged, as a message queue delivers it: `value` goes into
 * the pipeline, `ack(outcome)` is called once that item and every item derived from it have
 * left the pipeline.
 *
 * @example
 * ```ts
 * const delivery: Delivery<string> = { value: "job-1", ack: (outcome) => console.log("job-1", outcome) };
 * ```
 */
export interface Delivery<T> {
  /** What enters the pipeline. */
  readonly value: T;
  /**
   * Called once, never early; a returned promise is awaited before the run ends. With
   * `failed`, `error` is the last failure (a `StreamingError`), e.g. for a dead-letter queue.
   */
  readonly ack: (outcome: AckOutcome, error?: unknown) => unknown;
}

const DELIVERIES: unique symbol = Symbol("sluice.acknowledged");

/**
 * A source of {@link Delivery} items, made by {@link acknowledged}.
 *
 * @example
 * ```ts
 * const source: AcknowledgedSource<string> = acknowledged([{ value: "job-1", ack: () => {} }]);
 * ```
 */
export interface AcknowledgedSource<T> {
  /** The deliveries, read once by the run. */
  readonly [DELIVERIES]: Source<Delivery<T>>;
}

/**
 * Marks a source whose items are deliveries to acknowledge: `executeFrom` passes each
 * delivery's `value` on and calls its `ack` once the item and everything derived from it
 * (through flatMap, batch, window, filters, skips, error strategies, `run.errors`) have left
 * the pipeline, with the outcome. An output leaves when the consumer asks for the next one
 * or the run completes. Items still in the pipeline when the run stops (`break`, `abort()`, a
 * FAIL_FAST error, a `take` that ended the run) are never acknowledged: at-least-once
 * delivery redelivers them.
 *
 * @example
 * ```ts
 * const deliveries = [1, 2, 3].map((n) => ({ value: n, ack: (o: AckOutcome) => console.log(n, o) }));
 * const run = StreamingPipeline.start<number>()
 *   .filter("odd", (n) => n % 2 === 1)
 *   .executeFrom(acknowledged(deliveries));
 * for await (const n of run) console.log("out", n);
 * ```
 */
export function acknowledged<T>(source: Source<Delivery<T>>): AcknowledgedSource<T> {
  return { [DELIVERIES]: source };
}

/** Whether a value is an {@link AcknowledgedSource}. */
export function isAcknowledged(value: unknown): value is AcknowledgedSource<unknown> {
  return typeof value === "object" && value !== null && DELIVERIES in value;
}

/** The deliveries of an acknowledged source. */
export function deliveriesOf<T>(source: AcknowledgedSource<T>): Source<Delivery<T>> {
  return source[DELIVERIES];
}

/**
 * The error a run fails with when an `ack` throws or rejects.
 *
 * @example
 * ```ts
 * try {
 *   for await (const out of run) console.log(out);
 * } catch (error) {
 *   if (error instanceof AckError) console.error(error.code, error.outcome, error.cause);
 * }
 * ```
 */
export class AckError extends Error {
  /** Always `ACK_FAILED`. */
  readonly code = "ACK_FAILED";
  constructor(
    /** The outcome the failed `ack` was called with. */
    readonly outcome: AckOutcome,
    /** What the `ack` threw or rejected with. */
    override readonly cause: unknown,
  ) {
    super(
      `Acknowledging a source item (${outcome}) failed: ${cause instanceof Error ? cause.message : String(cause)}`,
      { cause },
    );
    this.name = "AckError";
  }
}

/** A lineage root: one source delivery and how many items derived from it are still alive. */
class AckRoot implements Lineage {
  readonly key = "";
  readonly up = null;
  /** Items alive in the pipeline that derive from this delivery. */
  live = 1;
  failed = false;
  /** The last failure of an item derived from this delivery. */
  error: unknown = undefined;
  done = false;
  constructor(
    readonly value: unknown,
    readonly ack: Delivery<unknown>["ack"],
  ) {}
}

/**
 * The acknowledgements of one run. Every item in the pipeline carries a lineage node that
 * leads to the deliveries it derives from; stages report each item they drop (`release`)
 * and each extra item they make from one (`retain`), and the run releases each output the
 * consumer has moved past. A delivery is acknowledged when its count of live items reaches 0.
 */
export class AckLedger {
  private readonly pending = new Set<Promise<void>>();
  private failure: AckError | undefined;
  /** Called with the first ack failure (the run stops on it). */
  onError: (error: AckError) => void = () => {};

  /** A puller over the deliveries that hands on their values with a root per item. */
  puller(source: Source<Delivery<unknown>>): Puller {
    return new DeliveryPuller(sourcePuller(source));
  }

  /** `n` more items alive that derive from `lin`'s deliveries. */
  retain(lin: Lineage | null | undefined, n: number): void {
    if (n > 0) forEachRoot(lin, (root) => void (root.live += n));
  }

  /**
   * One item derived from `lin`'s deliveries has left the pipeline (or was dropped); `error`
   * is its failure when the outcome is `failed`.
   */
  release(lin: Lineage | null | undefined, outcome: AckOutcome, error?: unknown): void {
    forEachRoot(lin, (root) => {
      if (outcome === "failed") {
        root.failed = true;
        root.error = error;
      } else if (outcome === "done") root.done = true;
      if (--root.live === 0) this.settle(root);
    });
  }

  /** Resolves once every `ack` called so far has settled; rejects with the first failure. */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    if (this.failure !== undefined) throw this.failure;
  }

  private settle(root: AckRoot): void {
    const outcome: AckOutcome = root.failed ? "failed" : root.done ? "done" : "filtered";
    let result: unknown;
    try {
      result = outcome === "failed" ? root.ack(outcome, root.error) : root.ack(outcome);
    } catch (error) {
      this.fail(outcome, error);
      return;
    }
    if (isThenable(result)) {
      const p = Promise.resolve(result).then(
        () => {},
        (error: unknown) => this.fail(outcome, error),
      );
      this.pending.add(p);
      p.finally(() => this.pending.delete(p));
    }
  }

  private fail(outcome: AckOutcome, cause: unknown): void {
    if (this.failure !== undefined) return;
    this.failure = new AckError(outcome, cause);
    this.onError(this.failure);
  }
}

/** Calls `fn` for each delivery root of a lineage: up its chain and into group members. */
function forEachRoot(lin: Lineage | null | undefined, fn: (root: AckRoot) => void): void {
  let node = lin;
  while (node !== null && node !== undefined) {
    if (node instanceof AckRoot) {
      fn(node);
      return;
    }
    const members = node.members;
    if (members !== undefined) {
      for (const m of members) forEachRoot(m, fn);
      return;
    }
    node = node.up;
  }
}

/** Unwraps deliveries into values, each with a root lineage node holding its `ack`. */
class DeliveryPuller implements Puller {
  private seen = 0;
  constructor(private readonly inner: Puller) {}

  async pull(demand: number): Promise<Chunk | null> {
    const chunk = await this.inner.pull(demand);
    return chunk === null ? null : this.unwrap(chunk);
  }

  private unwrap(chunk: Chunk): Chunk {
    const n = chunk.values.length;
    const values: unknown[] = new Array(n);
    const lins: Lineage[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const d = chunk.values[i] as Partial<Delivery<unknown>> | null;
      if (typeof d !== "object" || d === null || typeof d.ack !== "function" || !("value" in d)) {
        throw new TypeError(
          `acknowledged source: item ${this.seen + i} is not a delivery ({ value, ack(outcome) }), got ${d === null ? "null" : typeof d}`,
        );
      }
      values[i] = d.value;
      lins[i] = new AckRoot(d.value, d.ack);
    }
    this.seen += n;
    return { values, lins };
  }

  stop(): void {
    this.inner.stop();
  }

  cancel(): Promise<void> {
    return this.inner.cancel();
  }
}
