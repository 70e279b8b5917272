import type { RESERVED_KEYS } from "../engine/state-view.js";

/**
 * Keys the state object reserves for its snapshot API: the same list the builders check at
 * run time, so the two cannot drift apart.
 *
 * @example
 * ```ts
 * // @ts-expect-error: "Error: \"stream\" is reserved by the state API; choose another key"
 * StreamingPipeline.start<string>().map("stream", (s) => s.length);
 * ```
 */
export type ReservedKey = (typeof RESERVED_KEYS)[number];

/**
 * One plain object type with the members of `T`, so that hovers and errors show
 * `{ readonly a: number; readonly b: string }` rather than the chain of intersections a
 * pipeline's state is built from (`& {}` keeps the compiler from naming the result
 * `Simplify<…>`).
 */
type Simplify<T> = { [K in keyof T]: T[K] } & {};

/**
 * `T`, once every member type of `TState` is computed. A flattened state is a chain of
 * mapped types, one per stage, whose member types the compiler computes on first use:
 * reading an early key at the end of a long chain would walk the whole chain at once and
 * stop at the compiler's depth limit (TS2589) well before 100 stages. Computing each state
 * as the next stage is added keeps every such walk one step long.
 */
type Resolved<TState, T> = [TState[keyof TState]] extends [never] ? T : T;

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
 * State after a stage with key `K` produced `V`, flattened into one object type.
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
export type WithKey<TState, K extends string, V> = Resolved<
  TState,
  Simplify<TState & { readonly [P in K]: V }>
>;

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
// `-?`: a group is always an array, even of a key only some members have (after a merge).
export type Members<TState> = { readonly [P in keyof TState]-?: TState[P][] };

/**
 * The checkpoint snapshot API carried by every state object. `TSnapshots` maps each
 * checkpoint upstream to the item type its snapshot holds; only those keys compile.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<number>()
 *   .map("double", (n) => n * 2)
 *   .checkpoint("all")
 *   .map("rank", (n, ctx) => ctx.state.materialize("all").filter((m) => m < n).length);
 * ```
 */
export interface SnapshotApi<TSnapshots> {
  /** Every snapshot taken so far in this run, by checkpoint key. */
  readonly accumulated: Readonly<Record<string, readonly unknown[]>>;
  /** The full snapshot of a checkpoint key; throws if that checkpoint has not run. */
  materialize<K extends CheckpointKey<TSnapshots>>(
    key: K,
  ): readonly TSnapshots[K & keyof TSnapshots][];
  /** The snapshot of a checkpoint key as an async iterable. */
  stream<K extends CheckpointKey<TSnapshots>>(
    key: K,
  ): AsyncIterable<TSnapshots[K & keyof TSnapshots]>;
  /** Whether the checkpoint with that key has completed its snapshot. */
  hasSnapshot(key: CheckpointKey<TSnapshots>): boolean;
}

/**
 * The keys the snapshot API accepts: those of the checkpoints upstream. With none, a
 * sentence instead, so that reading a snapshot is a compile error that says what is missing.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<number>()
 *   .map("double", (n) => n * 2)
 *   .checkpoint("all")
 *   // @ts-expect-error: not assignable to parameter of type '"all"'
 *   .map("rank", (n, ctx) => ctx.state.materialize("double"));
 * StreamingPipeline.start<number>()
 *   // @ts-expect-error: Error: no checkpoint upstream
 *   .map("rank", (n, ctx) => ctx.state.materialize("all"));
 * ```
 */
export type CheckpointKey<TSnapshots> = [keyof TSnapshots & string] extends [never]
  ? "Error: no checkpoint upstream: add .checkpoint(key) before the stage that reads its snapshot"
  : keyof TSnapshots & string;

/**
 * What `ctx.state` is in a streaming stage: the lineage's values, plus the snapshot API
 * over the checkpoints upstream (`TSnapshots`: checkpoint key to item type; none by default).
 *
 * @example
 * ```ts
 * const share = (n: number, state: StateView<{}, { all: number }>) => n / state.materialize("all").length;
 * StreamingPipeline.start<number>().checkpoint("all").map("share", (n, ctx) => share(n, ctx.state));
 * ```
 */
export type StateView<TState, TSnapshots = {}> = TState & SnapshotApi<TSnapshots>;

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
