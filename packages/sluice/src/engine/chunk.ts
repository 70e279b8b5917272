/**
 * What one item's history looks like: the value each earlier stage produced for it. A node
 * per stage that tracks lineage; N:1 stages (batch, window) hold their members' nodes.
 */
export interface Lineage {
  readonly key: string;
  readonly value: unknown;
  readonly up: Lineage | null;
  readonly members?: readonly (Lineage | null)[];
}

/**
 * Ready items travel between stages in chunks, so that per-item costs are paid once per
 * chunk. `lins[i]` is item i's lineage; `lins` is absent when no later stage reads state.
 */
export interface Chunk<T = unknown> {
  values: T[];
  lins: (Lineage | null)[] | undefined;
}

/** The engine's internal pull protocol: one implementation per stage kind. */
export interface Puller<T = unknown> {
  /**
   * The next non-empty chunk, or null at the end. `demand` is how many items the caller can
   * use; stages stay close to it (a flatMap expansion may exceed it). Never called again
   * while a previous call is pending.
   */
  pull(demand: number): Promise<Chunk<T> | null>;
  /**
   * Optional synchronous `pull`, for stages that can answer without waiting (an array or a
   * sync iterable): a chunk, null at the end, or undefined when only `pull` can tell. Saves
   * a promise round trip per refill. Throws what `pull` would reject with.
   */
  pullNow?(demand: number): Chunk<T> | null | undefined;
  /**
   * Stops the stage and, synchronously, every stage upstream down to the source: no call or
   * retry starts after it, every in-flight call sees its signal abort, a pending pull
   * settles (with null, once its in-flight call has settled). Idempotent.
   */
  stop(): void;
  /**
   * `stop()`, then waits until the in-flight work of this stage and of every stage upstream
   * has settled and the source is released. Idempotent; safe at any time.
   */
  cancel(): Promise<void>;
}

/** A fresh chunk, with a lineage array only when lineage is tracked. */
export function newChunk<T>(track: boolean): Chunk<T> {
  return { values: [], lins: track ? [] : undefined };
}

/** Whether a value is a promise or another thenable. */
export function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null &&
    (typeof value === "object" || typeof value === "function") &&
    typeof (value as { then?: unknown }).then === "function"
  );
}

/** A `performance.now()` that works on every runtime the core supports. */
export const now: () => number =
  // Looked up on every call, not captured: fake timers (tests, and users' own) replace
  // `globalThis.performance`, and a captured object would keep reading the real clock.
  typeof globalThis.performance?.now === "function"
    ? () => globalThis.performance.now()
    : () => Date.now();
