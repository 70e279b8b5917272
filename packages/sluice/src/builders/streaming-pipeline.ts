import {
  AckLedger,
  type AcknowledgedSource,
  type Delivery,
  deliveriesOf,
  isAcknowledged,
} from "../engine/acknowledgement.js";
import { isThenable } from "../engine/chunk.js";
import type { ItemContext } from "../engine/item-context.js";
import { EmitMode } from "../engine/item-worker.js";
import { type Source, sourcePuller } from "../engine/sources.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { type RunOptions, StreamingRun } from "../engine/streaming-run.js";
import type { StreamingErrorStrategy } from "../errors/error-strategy.js";
import { validateStrategy } from "../errors/error-strategy.js";
import type { RunMetadata } from "../metrics/metadata.js";
import { type BatchOptions, batchStage } from "../operators/batch.js";
import { bufferTimeStage } from "../operators/buffer-time.js";
import {
  type BufferUntilOptions,
  type BufferUntilPredicate,
  bufferUntilStage,
} from "../operators/buffer-until.js";
import { type CheckpointOptions, checkpointStage } from "../operators/checkpoint.js";
import { type DistinctOptions, distinctStage } from "../operators/distinct.js";
import { collectResult } from "../operators/flat-map.js";
import { type ItemStageOptions, itemStage, wantsContext } from "../operators/item-stage.js";
import { type MergeInput, type MergeOptions, mergeStage, toPuller } from "../operators/merge.js";
import { requireFunction } from "../operators/options.js";
import { type ScanReducer, scanStage } from "../operators/scan.js";
import { skipStage } from "../operators/skip.js";
import { takeStage } from "../operators/take.js";
import { transformStage } from "../operators/transform.js";
import { whileStage } from "../operators/while-stage.js";
import { windowStage } from "../operators/window.js";
import { runStep } from "../steps/run-step.js";
import { isStep, type Step } from "../steps/step.js";
import type { StreamingStep } from "../steps/streaming-step.js";
import { checkKey } from "./stage-key.js";
import type { Members, SnapshotApi, StateView, UniqueKey, WithKey } from "./types.js";

/**
 * A per-item function: sync or async, given the item and its context.
 *
 * @example
 * ```ts
 * const fetchPage: ItemFn<string, string, {}, unknown> = async (url, { signal }) =>
 *   (await fetch(url, { signal })).text();
 * StreamingPipeline.start<string>().map("page", fetchPage, { concurrency: 8 });
 * ```
 */
export type ItemFn<I, O, TState, TContext, TSnapshots = {}> = (
  item: I,
  ctx: ItemContext<StateView<TState, TSnapshots>, TContext>,
) => O | PromiseLike<O>;

/**
 * A per-item predicate.
 *
 * @example
 * ```ts
 * type Seen = { seen: Set<string> };
 * const isNew: ItemPredicate<string, {}, Seen> = (id, { context }) => !context.seen.has(id);
 * StreamingPipeline.start<string, Seen>(() => ({ seen: new Set() })).filter("new", isNew);
 * ```
 */
export type ItemPredicate<I, TState, TContext, TSnapshots = {}> = (
  item: I,
  ctx: ItemContext<StateView<TState, TSnapshots>, TContext>,
) => unknown;

/**
 * Options of {@link StreamingPipeline.start}.
 *
 * @example
 * ```ts
 * const pipeline = StreamingPipeline.start<string>(undefined, { errorStrategy: "SKIP_FAILED" })
 *   .map("parsed", (line) => JSON.parse(line));
 * ```
 */
export interface StreamingPipelineOptions {
  /** The error strategy of every per-item stage that sets none (default FAIL_FAST). */
  errorStrategy?: StreamingErrorStrategy;
}

interface Definition {
  readonly stages: readonly StageSpec[];
  readonly contextBuilder: (() => unknown) | undefined;
  readonly defaultStrategy: StreamingErrorStrategy;
}

/**
 * The lazy, pull-based builder. Each stage has a key; the state type accumulates every
 * key's value for an item's lineage, and `TSnapshots` every checkpoint's key with the item
 * type it snapshots (what `ctx.state.materialize` accepts). Nothing runs until the run is
 * iterated; a pipeline is immutable and can run many times, concurrently.
 *
 * @example
 * ```ts
 * const pipeline = StreamingPipeline.start<string>()
 *   .map("length", (s) => s.length)
 *   .filter("long", (n) => n > 3)
 *   .map("label", (n, ctx) => `${ctx.state.length}:${n}`);
 * for await (const label of pipeline.executeFrom(["a", "abcd", "abcdef"])) console.log(label);
 * ```
 */
export class StreamingPipeline<TInput, TOut, TState, TContext, TSnapshots = {}> {
  private constructor(private readonly def: Definition) {}

  /**
   * Starts a pipeline whose items are `TInput`. The context builder runs once per run, at
   * its first pull, and every stage of that run sees the same context object. If it throws,
   * the run fails with a `StreamingError` of code `CONTEXT_FAILED`, as a batch run does.
   *
   * @example
   * ```ts
   * const p = StreamingPipeline.start<string, { db: Db }>(async () => ({ db: await connect() }), { errorStrategy: "SKIP_FAILED" });
   * ```
   */
  static start<TInput, TContext = unknown>(
    contextBuilder?: () => TContext | Promise<TContext>,
    options: StreamingPipelineOptions = {},
  ): StreamingPipeline<TInput, TInput, {}, TContext> {
    if (contextBuilder !== undefined) requireFunction(contextBuilder, "contextBuilder", "start");
    validateStrategy(options.errorStrategy, "StreamingPipeline.start", true);
    return new StreamingPipeline({
      stages: [],
      contextBuilder,
      defaultStrategy: options.errorStrategy ?? "FAIL_FAST",
    });
  }

  /** The stage keys, in order. */
  get keys(): readonly string[] {
    return this.def.stages.map((s) => s.key);
  }

  /**
   * The stages as the engine sees them (for interop and tooling).
   *
   * @internal
   */
  get stages(): readonly StageSpec[] {
    return this.def.stages;
  }

  /**
   * A per-item stage over a function or a batch `Step` (run per item, its retry honoured);
   * `after` shapes each call's result (flatMap's expansion). A plain function without `after`
   * is called as it is, so sequential ones can fuse.
   */
  private callStage(
    key: string,
    kind: string,
    mode: EmitMode,
    fnOrStep: unknown,
    options: ItemStageOptions | undefined,
    after?: (result: unknown) => unknown,
  ): StageSpec {
    const base = { key, kind, mode, defaultStrategy: this.def.defaultStrategy, allowSplit: true };
    if (isStep(fnOrStep)) {
      const step = fnOrStep as Step<unknown, unknown, unknown, unknown>;
      const run = (item: unknown, ctx: ItemContext | undefined) =>
        runStep(step, item, ctx as ItemContext);
      return itemStage(
        {
          ...base,
          invoke: after === undefined ? run : (item, ctx) => after(run(item, ctx)),
          wantsCtx: true,
          stepName: step.name,
          stepRetry: step.retry,
        },
        options,
      );
    }
    requireFunction(fnOrStep, `${kind}'s function`, key);
    const fn = fnOrStep as (item: unknown, ctx: unknown) => unknown;
    return itemStage(
      {
        ...base,
        invoke: after === undefined ? fn : (item, ctx) => after(fn(item, ctx)),
        wantsCtx: wantsContext(fn),
      },
      options,
    );
  }

  /** The context builder, if any (for interop). */
  get contextBuilder(): (() => unknown) | undefined {
    return this.def.contextBuilder;
  }

  private with<O, S, C = TSnapshots>(
    spec: StageSpec,
  ): StreamingPipeline<TInput, O, S, TContext, C> {
    return new StreamingPipeline<TInput, O, S, TContext, C>({
      ...this.def,
      stages: [...this.def.stages, spec],
    });
  }

  /**
   * Adds a streaming step: a transformer of the whole stream.
   *
   * @example
   * ```ts
   * const p = StreamingPipeline.start<string>().add("deduped", dedupe); // dedupe = createStreamingStep(…)
   * ```
   */
  add<K extends string, O>(
    key: UniqueKey<K, TState>,
    step: StreamingStep<TOut, O, SnapshotApi<TSnapshots>, TContext>,
  ): StreamingPipeline<TInput, O, WithKey<TState, K, O>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    if (typeof step?.transform !== "function") {
      throw new TypeError(`Stage "${k}": add takes a streaming step (see createStreamingStep)`);
    }
    return this.with(transformStage(k, step as StreamingStep<unknown, unknown, unknown, unknown>));
  }

  /**
   * Transforms each item with a function or a batch `Step` (run per item, its retry
   * honoured). Options set concurrency, order, buffer, error strategy and retry.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().map("length", (s) => s.length, { concurrency: 4, retry: { maxAttempts: 3, backoffMs: 100 } });
   * ```
   */
  map<K extends string, O>(
    key: UniqueKey<K, TState>,
    fnOrStep:
      | ItemFn<TOut, O, TState, TContext, TSnapshots>
      | Step<TOut, O, StateView<TState, TSnapshots>, TContext>,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, O, WithKey<TState, K, O>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(this.callStage(k, "map", EmitMode.MAP, fnOrStep, options));
  }

  /**
   * Maps each item to an array, Iterable or AsyncIterable, with a function or a batch `Step`
   * (run per item, its retry honoured), and passes on its elements. An async result is
   * drained before its elements flow on, so a retried item never emits twice; its size is
   * bounded by one item's expansion.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().flatMap("words", (line) => line.split(" "));
   * ```
   */
  flatMap<K extends string, O>(
    key: UniqueKey<K, TState>,
    fnOrStep:
      | ItemFn<TOut, Iterable<O> | AsyncIterable<O>, TState, TContext, TSnapshots>
      | Step<TOut, Iterable<O> | AsyncIterable<O>, StateView<TState, TSnapshots>, TContext>,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, O, WithKey<TState, K, O>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(this.callStage(k, "flatMap", EmitMode.FLAT, fnOrStep, options, expand));
  }

  /**
   * Keeps the items whose predicate is truthy (a type guard narrows the item type).
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string | number>().filter("strings", (v): v is string => typeof v === "string");
   * ```
   */
  filter<K extends string, S extends TOut>(
    key: UniqueKey<K, TState>,
    predicate: (item: TOut, ctx: ItemContext<StateView<TState, TSnapshots>, TContext>) => item is S,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, S, WithKey<TState, K, S>, TContext, TSnapshots>;
  /** Keeps the items whose predicate is truthy; the predicate may be async. */
  filter<K extends string>(
    key: UniqueKey<K, TState>,
    predicate: ItemPredicate<TOut, TState, TContext, TSnapshots>,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots>;
  filter<K extends string>(
    key: UniqueKey<K, TState>,
    predicate: ItemPredicate<TOut, TState, TContext, TSnapshots>,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    requireFunction(predicate, "filter's predicate", k);
    const fn = predicate as (item: unknown, ctx: unknown) => unknown;
    return this.with(
      itemStage(
        {
          key: k,
          kind: "filter",
          mode: EmitMode.FILTER,
          invoke: fn,
          wantsCtx: wantsContext(fn),
          defaultStrategy: this.def.defaultStrategy,
          allowSplit: true,
        },
        options,
      ),
    );
  }

  /**
   * Runs a side effect per item and passes the item on unchanged.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().tap("log", (n, ctx) => console.log(ctx.index, n));
   * ```
   */
  tap<K extends string>(
    key: UniqueKey<K, TState>,
    fn: ItemFn<TOut, unknown, TState, TContext, TSnapshots>,
    options?: ItemStageOptions,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    requireFunction(fn, "tap's function", k);
    const f = fn as (item: unknown, ctx: unknown) => unknown;
    return this.with(
      itemStage(
        {
          key: k,
          kind: "tap",
          mode: EmitMode.TAP,
          invoke: f,
          wantsCtx: wantsContext(f),
          defaultStrategy: this.def.defaultStrategy,
          allowSplit: true,
        },
        options,
      ),
    );
  }

  /**
   * Groups items into arrays by count, weight and time (whichever first); the final partial
   * batch is emitted. Through a batch, earlier keys in `state` give arrays of the members'
   * values.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().batch("requests", { size: 64, maxWeight: 8_000, weigh: (s) => s.length / 4, maxWaitMs: 200 });
   * ```
   */
  batch<K extends string>(
    key: UniqueKey<K, TState>,
    sizeOrOptions: number | BatchOptions<TOut>,
  ): StreamingPipeline<TInput, TOut[], WithKey<Members<TState>, K, TOut[]>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(batchStage(k, sizeOrOptions as number | BatchOptions<never>));
  }

  /**
   * Sliding (`slide < size`), tumbling (default) or hopping windows; the tail is kept.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().window("last3", 3, 1); // [1,2,3], [2,3,4], …
   * ```
   */
  window<K extends string>(
    key: UniqueKey<K, TState>,
    size: number,
    slide?: number,
  ): StreamingPipeline<TInput, TOut[], WithKey<Members<TState>, K, TOut[]>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(windowStage(k, size, slide));
  }

  /**
   * Emits the items gathered over `ms` from each buffer's first item (or `maxSize` items).
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().bufferTime("perSecond", 1_000, 100);
   * ```
   */
  bufferTime<K extends string>(
    key: UniqueKey<K, TState>,
    ms: number,
    maxSize?: number,
  ): StreamingPipeline<TInput, TOut[], WithKey<Members<TState>, K, TOut[]>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(bufferTimeStage(k, ms, maxSize));
  }

  /**
   * Groups items until `predicate(item, group)` says the group (ending with `item`) is
   * complete, or earlier at `maxSize` items or `maxWaitMs` after its first item; the last
   * group is emitted even when incomplete.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().bufferUntil("section", (line) => line === "", { maxSize: 100 });
   * ```
   */
  bufferUntil<K extends string>(
    key: UniqueKey<K, TState>,
    predicate: BufferUntilPredicate<TOut>,
    options?: BufferUntilOptions,
  ): StreamingPipeline<TInput, TOut[], WithKey<Members<TState>, K, TOut[]>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(bufferUntilStage(k, predicate as BufferUntilPredicate<unknown>, options));
  }

  /**
   * Running accumulation: emits `reducer(acc, item, index)` for every item, from `seed`.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().scan("total", (sum, n) => sum + n, 0); // 1, 3, 6, …
   * ```
   */
  scan<K extends string, A>(
    key: UniqueKey<K, TState>,
    reducer: ScanReducer<A, TOut>,
    seed: A,
  ): StreamingPipeline<TInput, A, WithKey<TState, K, A>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(scanStage(k, reducer as ScanReducer<unknown, unknown>, seed));
  }

  /**
   * Drops items whose key (`by(item)`, default the item) was seen before; `window` bounds
   * the keys remembered.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<{ id: string }>().distinct("unique", (doc) => doc.id, { window: 10_000 });
   * ```
   */
  distinct<K extends string>(
    key: UniqueKey<K, TState>,
    by?: (item: TOut) => unknown,
    options?: DistinctOptions,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(distinctStage(k, by as ((item: unknown) => unknown) | undefined, options));
  }

  /**
   * Merges the stream so far with other named sources, items in arrival order, read fairly
   * and each source at most `readAhead` pulls ahead; `state[key]` is the name of the source
   * an item came from (`inputName`, default `"input"`, for the stream so far). A pipeline
   * runs many times, so give a one-shot source (a generator, a stream) as a function that
   * makes one per run. Items from the other sources have no earlier state, hence the
   * optional earlier keys. To merge sources at the start, pass `merge(…)` to `executeFrom`.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>()
   *   .merge("origin", { backlog: ["old"], live: () => lines })
   *   .map("tagged", (line, ctx) => `${ctx.state.origin}: ${line}`);
   * ```
   */
  merge<K extends string, N extends string, I extends string = "input">(
    key: UniqueKey<K, TState>,
    sources: { readonly [P in N]: MergeInput<TOut> },
    options?: MergeOptions & { inputName?: I },
  ): StreamingPipeline<TInput, TOut, WithKey<Partial<TState>, K, N | I>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(mergeStage(k, sources as Record<string, MergeInput<unknown>>, options));
  }

  /**
   * Passes the first `n` items, then stops everything upstream.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().map("slow", fetchItem, { concurrency: 8 }).take("first10", 10);
   * ```
   */
  take<K extends string>(
    key: UniqueKey<K, TState>,
    n: number,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    return this.with(takeStage(checkKey(key, this.def.stages), n));
  }

  /**
   * Drops the first `n` items.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().skip("header", 1);
   * ```
   */
  skip<K extends string>(
    key: UniqueKey<K, TState>,
    n: number,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    return this.with(skipStage(checkKey(key, this.def.stages), n));
  }

  /**
   * Passes items while the predicate holds, then stops everything upstream.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().takeWhile("small", (n) => n < 100);
   * ```
   */
  takeWhile<K extends string>(
    key: UniqueKey<K, TState>,
    predicate: ItemPredicate<TOut, TState, TContext, TSnapshots>,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(
      whileStage(k, "takeWhile", predicate as (item: unknown, ctx: unknown) => unknown),
    );
  }

  /**
   * Drops items while the predicate holds, then passes everything.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<string>().skipWhile("preamble", (line) => !line.startsWith("#"));
   * ```
   */
  skipWhile<K extends string>(
    key: UniqueKey<K, TState>,
    predicate: ItemPredicate<TOut, TState, TContext, TSnapshots>,
  ): StreamingPipeline<TInput, TOut, WithKey<TState, K, TOut>, TContext, TSnapshots> {
    const k = checkKey(key, this.def.stages);
    return this.with(
      whileStage(k, "skipWhile", predicate as (item: unknown, ctx: unknown) => unknown),
    );
  }

  /**
   * Materializes the stream into a snapshot that later stages read with
   * `ctx.state.materialize(key)` (only they: the key type-checks from the next stage on);
   * O(items) memory on purpose, bounded by `maxItems`.
   *
   * @example
   * ```ts
   * StreamingPipeline.start<number>().checkpoint("all", { maxItems: 10_000 }).map("share", (n, ctx) => n / ctx.state.materialize("all").length);
   * ```
   */
  checkpoint<K extends string>(
    key: UniqueKey<K, TState>,
    options?: CheckpointOptions,
  ): StreamingPipeline<
    TInput,
    TOut,
    WithKey<TState, K, TOut>,
    TContext,
    WithKey<TSnapshots, K, TOut>
  > {
    return this.with(checkpointStage(checkKey(key, this.def.stages), options));
  }

  /**
   * Runs over one initial input (an array is one item; use `executeFrom` for many).
   *
   * @example
   * ```ts
   * for await (const out of pipeline.execute(input)) console.log(out);
   * ```
   */
  execute(input: TInput, options?: RunOptions): StreamingRun<TOut> {
    return this.run(() => sourcePuller([input]), options, 1);
  }

  /**
   * Runs over every item of an Iterable, AsyncIterable or Web `ReadableStream`.
   *
   * @example
   * ```ts
   * for await (const out of pipeline.executeFrom(readableStream, { signal })) console.log(out);
   * ```
   */
  executeFrom(
    source: Source<TInput> | AcknowledgedSource<TInput>,
    options?: RunOptions,
  ): StreamingRun<TOut> {
    if (isAcknowledged(source)) return this.runAcknowledged(source, options);
    const puller = toPuller(source);
    let used = false;
    return this.run(
      () => {
        // A run reads its source once; a second run needs its own source.
        if (used) throw new Error("internal: a run's source was started twice");
        used = true;
        return puller;
      },
      options,
      Array.isArray(source) ? source.length : undefined,
    );
  }

  /**
   * Runs over one input and collects every output.
   *
   * @example
   * ```ts
   * const all = await pipeline.executeToArray(input);
   * ```
   */
  async executeToArray(input: TInput, options?: RunOptions): Promise<TOut[]> {
    const out: TOut[] = [];
    for await (const item of this.execute(input, options)) out.push(item);
    return out;
  }

  /**
   * Runs over one input and folds the outputs.
   *
   * @example
   * ```ts
   * const chars = await pipeline.executeReduce(input, (sum, out) => sum + out.length, 0);
   * ```
   */
  async executeReduce<A>(
    input: TInput,
    reducer: (acc: A, item: TOut, index: number) => A | PromiseLike<A>,
    initial: A,
    options?: RunOptions,
  ): Promise<A> {
    let acc = initial;
    let i = 0;
    for await (const item of this.execute(input, options)) acc = await reducer(acc, item, i++);
    return acc;
  }

  /**
   * Runs over one input, calling `fn` per output; resolves with the run's metadata.
   *
   * @example
   * ```ts
   * const meta = await pipeline.forEach(input, (out) => console.log(out));
   * ```
   */
  async forEach(
    input: TInput,
    fn: (item: TOut, index: number) => unknown,
    options?: RunOptions,
  ): Promise<RunMetadata> {
    const run = this.execute(input, options);
    let i = 0;
    for await (const item of run) {
      const r = fn(item, i++);
      if (isThenable(r)) await r;
    }
    return run.metadata();
  }

  private runAcknowledged(
    source: AcknowledgedSource<TInput>,
    options: RunOptions | undefined,
  ): StreamingRun<TOut> {
    const untraced = this.def.stages.find((s) => s.untraced === true);
    if (untraced !== undefined) {
      throw new TypeError(
        `executeFrom: stage "${untraced.key}" (${untraced.kind}) cannot pass acknowledgements on: its outputs cannot be traced to its inputs; use map, flatMap, batch or window instead`,
      );
    }
    const deliveries = deliveriesOf(source);
    const acks = new AckLedger();
    const puller = acks.puller(deliveries as Source<Delivery<unknown>>);
    return this.run(
      () => puller,
      options,
      Array.isArray(deliveries) ? deliveries.length : undefined,
      acks,
    );
  }

  private run(
    source: () => ReturnType<typeof sourcePuller>,
    options: RunOptions | undefined,
    total: number | undefined,
    acks?: AckLedger,
  ): StreamingRun<TOut> {
    return new StreamingRun<TOut>(
      { stages: this.def.stages, source, contextBuilder: this.def.contextBuilder, total, acks },
      options,
    );
  }
}

/** flatMap's result, drained into an array (an async result once it settles). */
function expand(result: unknown): unknown {
  return isThenable(result) ? Promise.resolve(result).then(collectResult) : collectResult(result);
}
