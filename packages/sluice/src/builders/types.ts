/**
 * Keys the state object reserves for its snapshot API.
 *
 * @example
 * ```ts
 * // @ts-expect-error: "Error: \"stream\" is reserved by the state API; choose another key"
 * StreamingPipeline.start<string>().map("stream", (s) => s.length);
 * ```
 */
export type ReservedKey = "accumulated" | "materialize" | "stream" | "hasSnapshot";

/**
 * `K` when it is a fresh key; otherwise a string literal that explains the problem, so the
 * compiler's error at the offending call reads as a sentence.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<string>()
 *   .map("len", (s) => s.length)
 *   // @ts-expect-error: "Error: duplicate key \"len\": every stage needs a key of its own"
 *   .map("len", (n) => n * 2);
 * ```
 */
export type UniqueKey<K extends string, TState> = K extends keyof TState
  ? `Error: duplicate key "${K}": every stage needs a key of its own`
  : K extends ReservedKey
    ? `Error: "${K}" is reserved by the state API; choose another key`
    : string extends K
      ? "Error: a stage key must be a string literal"
      : K;

/**
 * State after a stage with key `K` produced `V`.
 *
 * @example
 * ```ts
 * // A reusable step that needs what the "raw" stage produced.
 * const label = createStep<number, string, WithKey<{}, "raw", string>>("label", ({ input, state }) =>
 *   `${state.raw}: ${input}`,
 * );
 * Pipeline.start<string>()
 *   .add("raw", createStep("trim", ({ input }) => input.trim()))
 *   .add("len", createStep("len", ({ input }) => input.length))
 *   .add("label", label);
 * ```
 */
export type WithKey<TState, K extends string, V> = TState & { readonly [P in K]: V };

/**
 * State after an N:1 stage (batch, window, bufferTime): each earlier key now gives the
 * array of the group's members' values.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<string>()
 *   .map("len", (s) => s.length)
 *   .batch("group", 10)
 *   .map("chars", (group, ctx) => ctx.state.len.reduce((a, b) => a + b, 0)); // len: number[]
 * ```
 */
export type Members<TState> = { readonly [P in keyof TState]: TState[P][] };

/**
 * The checkpoint snapshot API carried by every state object.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<number>()
 *   .checkpoint("all")
 *   .map("rank", (n, ctx) => ctx.state.materialize("all").filter((m) => m < n).length);
 * ```
 */
export interface SnapshotApi<TState> {
  /** Every snapshot taken so far in this run, by checkpoint key. */
  readonly accumulated: Readonly<Record<string, readonly unknown[]>>;
  /** The full snapshot of a checkpoint key; throws if no checkpoint with that key ran. */
  materialize<K extends keyof TState & string>(key: K): readonly TState[K][];
  /** The snapshot of a checkpoint key as an async iterable. */
  stream<K extends keyof TState & string>(key: K): AsyncIterable<TState[K]>;
  /** Whether a checkpoint with that key has completed its snapshot. */
  hasSnapshot(key: keyof TState & string): boolean;
}

/**
 * What `ctx.state` is in a streaming stage: the lineage's values plus the snapshot API.
 *
 * @example
 * ```ts
 * const share = (n: number, state: StateView<{ all: number }>) => n / state.materialize("all").length;
 * StreamingPipeline.start<number>().checkpoint("all").map("share", (n, ctx) => share(n, ctx.state));
 * ```
 */
export type StateView<TState> = TState & SnapshotApi<TState>;

/**
 * The element type of an array type.
 *
 * @example
 * ```ts
 * const limits = [10, 100, 1_000] as const;
 * const limit: ElementOf<typeof limits> = 100; // 10 | 100 | 1000
 * ```
 */
export type ElementOf<T> = T extends readonly (infer E)[] ? E : never;
