import { isThenable, now } from "../engine/chunk.js";
import { newSpanId, newTraceId } from "../engine/ids.js";
import type { ItemContext } from "../engine/item-context.js";
import { EmitMode } from "../engine/item-worker.js";
import { type ListRunContext, runListStage } from "../engine/list-run.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { type ListErrorStrategy, validateStrategy } from "../errors/error-strategy.js";
import { StepError } from "../errors/step-error.js";
import type { AdaptiveConcurrencyOptions } from "../limits/adaptive-concurrency.js";
import type { RateLimitOption } from "../limits/call-guard.js";
import { EventSink, type RunEvent } from "../metrics/events.js";
import type { Logger } from "../metrics/logger.js";
import type { StageMetadata } from "../metrics/metadata.js";
import { batchStage } from "../operators/batch.js";
import { type DistinctOptions, distinctStage } from "../operators/distinct.js";
import { collectResult } from "../operators/flat-map.js";
import { itemStage, wantsContext } from "../operators/item-stage.js";
import { positiveInt, requireFunction } from "../operators/options.js";
import { type ScanReducer, scanStage } from "../operators/scan.js";
import { runStep } from "../steps/run-step.js";
import { isStep, type Step, type StepMetadata, type StepResult } from "../steps/step.js";
import { checkKey } from "./stage-key.js";
import type { ElementOf, UniqueKey, WithKey } from "./types.js";

/**
 * Options of the batch list stages.
 *
 * @example
 * ```ts
 * const options: ListOptions = { parallel: true, concurrencyLimit: 4, errorStrategy: "SKIP_FAILED" };
 * ```
 */
export interface ListOptions {
  /** Run items concurrently (default false: one at a time). */
  parallel?: boolean;
  /**
   * Most items at once when parallel (default 10), or `{ max, min?, adaptive: true }` to
   * back off when the service signals overload (see docs/rate-limits.md).
   */
  concurrencyLimit?: number | AdaptiveConcurrencyOptions;
  /** What a failed item does (default FAIL_FAST). */
  errorStrategy?: ListErrorStrategy;
  /** Limits the rate of calls (and units), as the streaming stages' `rateLimit`. */
  rateLimit?: RateLimitOption;
  /** Longest one attempt may run, in milliseconds; past it it fails with code `TIMEOUT`. */
  timeoutMs?: number;
}

/**
 * Options of {@link Pipeline.execute}.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const result = await batchPipeline.execute(rows, {
 *   signal: controller.signal,
 *   onEvent: (e) => e.type === "run:end" && console.log(e.status, e.durationMs),
 * });
 * ```
 */
export interface ExecuteOptions {
  /** Cancels the run: in-flight items see their signal abort; the result fails with ABORTED. */
  signal?: AbortSignal;
  /** Joins an existing trace (32 hex characters) instead of starting a new one. */
  traceId?: string;
  /** Called synchronously with every event of the run, as for streaming runs. */
  onEvent?: (event: RunEvent) => void;
  /** Where to log run and stage lifecycle and absorbed errors; nothing is logged without. */
  logger?: Logger;
}

/**
 * `K` when the previous stage outputs an array; otherwise an explanatory error type.
 *
 * @example
 * ```ts
 * const len = createStep<string, number>("len", ({ input }) => input.length);
 * Pipeline.start<string[]>().map("lengths", len);
 * // @ts-expect-error: "Error: this list operation needs the previous stage to output an array"
 * Pipeline.start<string>().map("lengths", len);
 * ```
 */
export type ListKey<K extends string, TState, TOut> = TOut extends readonly unknown[]
  ? UniqueKey<K, TState>
  : "Error: this list operation needs the previous stage to output an array";

/**
 * `K` when the previous stage outputs an array of arrays.
 *
 * @example
 * ```ts
 * Pipeline.start<number[][]>().flatten("flat");
 * // @ts-expect-error: "Error: flatten needs the previous stage to output an array of arrays"
 * Pipeline.start<number[]>().flatten("flat");
 * ```
 */
export type FlattenKey<K extends string, TState, TOut> =
  ElementOf<TOut> extends readonly unknown[]
    ? UniqueKey<K, TState>
    : "Error: flatten needs the previous stage to output an array of arrays";

/**
 * The condition of {@link Pipeline.branch}.
 *
 * @example
 * ```ts
 * const isLong: BranchCondition<string, {}, unknown> = ({ input }) => input.length > 100;
 * Pipeline.start<string>().branch("route", isLong, summarize, passThrough);
 * ```
 */
export type BranchCondition<TIn, TState, TContext> = (ctx: {
  input: TIn;
  state: TState;
  context: TContext;
}) => boolean | PromiseLike<boolean>;

/** One stage of a batch pipeline: a whole-value step, or a stage run over an array. */
interface BatchStage {
  readonly key: string;
  readonly kind: string;
  /** The engine stage to run; `whole` stages run it over a one-item array. */
  readonly spec: (value: unknown, run: ListRunContext) => StageSpec | Promise<StageSpec>;
  readonly whole: boolean;
}

interface Definition {
  readonly stages: readonly BatchStage[];
  readonly contextBuilder: (() => unknown) | undefined;
}

/**
 * The batch builder: array-at-a-time, each stage completing before the next begins. Each
 * stage has a key; later steps see every earlier key's output in `state`, fully typed. A
 * pipeline is immutable and can be executed many times, concurrently. List stages run on
 * the same engine as `StreamingPipeline`.
 *
 * @example
 * ```ts
 * const pipeline = Pipeline.start<string[]>()
 *   .map("lengths", createStep("len", ({ input }) => input.length), { parallel: true })
 *   .filter("long", (n) => n > 3)
 *   .add("total", createStep("sum", ({ input }) => input.reduce((a, b) => a + b, 0)));
 * const result = await pipeline.execute(["a", "abcd", "abcdef"]);
 * if (result.success) console.log(result.data); // 10
 * ```
 */
export class Pipeline<TInput, TOut, TState, TContext> {
  private constructor(private readonly def: Definition) {}

  /**
   * Starts a pipeline; the context builder runs once per `execute`.
   *
   * @example
   * ```ts
   * const p = Pipeline.start<string[], { db: Db }>(async () => ({ db: await connect() }));
   * ```
   */
  static start<TInput, TContext = unknown>(
    contextBuilder?: () => TContext | Promise<TContext>,
  ): Pipeline<TInput, TInput, {}, TContext> {
    if (contextBuilder !== undefined) requireFunction(contextBuilder, "contextBuilder", "start");
    return new Pipeline({ stages: [], contextBuilder });
  }

  /** The stage keys, in order. */
  get keys(): readonly string[] {
    return this.def.stages.map((s) => s.key);
  }

  private with<O, S>(stage: BatchStage): Pipeline<TInput, O, S, TContext> {
    return new Pipeline<TInput, O, S, TContext>({
      ...this.def,
      stages: [...this.def.stages, stage],
    });
  }

  /**
   * Runs a step on the whole current value.
   *
   * @example
   * ```ts
   * Pipeline.start<string[]>().add("count", createStep("count", ({ input }) => input.length));
   * ```
   */
  add<K extends string, O>(
    key: UniqueKey<K, TState>,
    step: Step<TOut, O, TState, TContext>,
  ): Pipeline<TInput, O, WithKey<TState, K, O>, TContext> {
    const k = checkKey(key, this.def.stages);
    const spec = stepStage(k, "step", requireStep(step, k), 1);
    return this.with({ key: k, kind: "step", spec: () => spec, whole: true });
  }

  /**
   * Runs a step per item of the current array, with per-item retry.
   *
   * @example
   * ```ts
   * Pipeline.start<string[]>().map("lengths", createStep("len", ({ input }) => input.length), { parallel: true, concurrencyLimit: 4, errorStrategy: "SKIP_FAILED" });
   * ```
   */
  map<K extends string, O>(
    key: ListKey<K, TState, TOut>,
    step: Step<ElementOf<TOut>, O, TState, TContext>,
    options?: ListOptions,
  ): Pipeline<TInput, O[], WithKey<TState, K, O[]>, TContext> {
    const k = checkKey(key, this.def.stages);
    const spec = stepStage(k, "map", requireStep(step, k), concurrencyOf(k, options), options);
    return this.with({ key: k, kind: "map", spec: () => spec, whole: false });
  }

  /**
   * Runs a step per item that returns an array, and flattens the results in order.
   *
   * @example
   * ```ts
   * Pipeline.start<string[]>().flatMap("words", createStep("split", ({ input }) => input.split(" ")));
   * ```
   */
  flatMap<K extends string, O>(
    key: ListKey<K, TState, TOut>,
    step: Step<ElementOf<TOut>, readonly O[], TState, TContext>,
    options?: ListOptions,
  ): Pipeline<TInput, O[], WithKey<TState, K, O[]>, TContext> {
    const k = checkKey(key, this.def.stages);
    const s = requireStep(step, k) as Step<unknown, unknown, unknown, unknown>;
    const spec = itemStage(
      {
        key: k,
        kind: "flatMap",
        mode: EmitMode.FLAT,
        invoke: async (item, ctx) => collectResult(await runStep(s, item, ctx as ItemContext)),
        wantsCtx: true,
        stepName: s.name,
        stepRetry: s.retry,
        defaultStrategy: "FAIL_FAST",
        allowSplit: false,
      },
      listSettings(k, options),
    );
    return this.with({ key: k, kind: "flatMap", spec: () => spec, whole: false });
  }

  /**
   * Keeps the items whose predicate is truthy (a type guard narrows the element type).
   *
   * @example
   * ```ts
   * Pipeline.start<(string | null)[]>().filter("present", (v): v is string => v !== null);
   * ```
   */
  filter<K extends string, S extends ElementOf<TOut>>(
    key: ListKey<K, TState, TOut>,
    predicate: (item: ElementOf<TOut>, ctx: ItemContext<TState, TContext>) => item is S,
    options?: ListOptions,
  ): Pipeline<TInput, S[], WithKey<TState, K, S[]>, TContext>;
  /** Keeps the items whose predicate is truthy; the predicate may be async. */
  filter<K extends string>(
    key: ListKey<K, TState, TOut>,
    predicate: (item: ElementOf<TOut>, ctx: ItemContext<TState, TContext>) => unknown,
    options?: ListOptions,
  ): Pipeline<TInput, ElementOf<TOut>[], WithKey<TState, K, ElementOf<TOut>[]>, TContext>;
  filter<K extends string>(
    key: ListKey<K, TState, TOut>,
    predicate: (item: ElementOf<TOut>, ctx: ItemContext<TState, TContext>) => unknown,
    options?: ListOptions,
  ): Pipeline<TInput, ElementOf<TOut>[], WithKey<TState, K, ElementOf<TOut>[]>, TContext> {
    const k = checkKey(key, this.def.stages);
    requireFunction(predicate, "filter's predicate", k);
    const fn = predicate as (item: unknown, ctx: unknown) => unknown;
    const spec = itemStage(
      {
        key: k,
        kind: "filter",
        mode: EmitMode.FILTER,
        invoke: fn,
        wantsCtx: wantsContext(fn),
        defaultStrategy: "FAIL_FAST",
        allowSplit: false,
      },
      listSettings(k, options),
    );
    return this.with({ key: k, kind: "filter", spec: () => spec, whole: false });
  }

  /**
   * Splits the current array into arrays of `size` (the last may be shorter).
   *
   * @example
   * ```ts
   * Pipeline.start<number[]>().batch("groups", 100); // number[][]
   * ```
   */
  batch<K extends string>(
    key: ListKey<K, TState, TOut>,
    size: number,
  ): Pipeline<TInput, ElementOf<TOut>[][], WithKey<TState, K, ElementOf<TOut>[][]>, TContext> {
    const k = checkKey(key, this.def.stages);
    const spec = batchStage(k, positiveInt(size, "size", k));
    return this.with({ key: k, kind: "batch", spec: () => spec, whole: false });
  }

  /**
   * The running accumulation over the current array: `reducer(acc, item, index)` for each
   * element, from `seed`, as an array of every intermediate value.
   *
   * @example
   * ```ts
   * Pipeline.start<number[]>().scan("totals", (sum, n) => sum + n, 0); // [1, 2, 3] → [1, 3, 6]
   * ```
   */
  scan<K extends string, A>(
    key: ListKey<K, TState, TOut>,
    reducer: ScanReducer<A, ElementOf<TOut>>,
    seed: A,
  ): Pipeline<TInput, A[], WithKey<TState, K, A[]>, TContext> {
    const k = checkKey(key, this.def.stages);
    const spec = scanStage(k, reducer as ScanReducer<unknown, unknown>, seed);
    return this.with({ key: k, kind: "scan", spec: () => spec, whole: false });
  }

  /**
   * Drops elements of the current array whose key (`by(item)`, default the element) came
   * earlier in it; `window` bounds the keys remembered.
   *
   * @example
   * ```ts
   * Pipeline.start<{ id: string }[]>().distinct("unique", (doc) => doc.id);
   * ```
   */
  distinct<K extends string>(
    key: ListKey<K, TState, TOut>,
    by?: (item: ElementOf<TOut>) => unknown,
    options?: DistinctOptions,
  ): Pipeline<TInput, ElementOf<TOut>[], WithKey<TState, K, ElementOf<TOut>[]>, TContext> {
    const k = checkKey(key, this.def.stages);
    const spec = distinctStage(k, by as ((item: unknown) => unknown) | undefined, options);
    return this.with({ key: k, kind: "distinct", spec: () => spec, whole: false });
  }

  /**
   * Flattens an array of arrays by one level.
   *
   * @example
   * ```ts
   * Pipeline.start<number[][]>().flatten("flat"); // number[]
   * ```
   */
  flatten<K extends string>(
    key: FlattenKey<K, TState, TOut>,
  ): Pipeline<
    TInput,
    ElementOf<ElementOf<TOut>>[],
    WithKey<TState, K, ElementOf<ElementOf<TOut>>[]>,
    TContext
  > {
    const k = checkKey(key, this.def.stages);
    const spec = itemStage(
      {
        key: k,
        kind: "flatten",
        mode: EmitMode.FLAT,
        invoke: (item) => collectResult(item),
        wantsCtx: false,
        defaultStrategy: "FAIL_FAST",
        allowSplit: false,
      },
      {},
    );
    return this.with({ key: k, kind: "flatten", spec: () => spec, whole: false });
  }

  /**
   * Runs `whenTrue` or `whenFalse` on the current value, as the condition says.
   *
   * @example
   * ```ts
   * Pipeline.start<string>().branch("route", ({ input }) => input.length > 100, summarize, passThrough);
   * ```
   */
  branch<K extends string, A, B>(
    key: UniqueKey<K, TState>,
    condition: BranchCondition<TOut, TState, TContext>,
    whenTrue: Step<TOut, A, TState, TContext>,
    whenFalse: Step<TOut, B, TState, TContext>,
  ): Pipeline<TInput, A | B, WithKey<TState, K, A | B>, TContext> {
    const k = checkKey(key, this.def.stages);
    requireFunction(condition, "branch's condition", k);
    const yes = stepStage(k, "branch", requireStep(whenTrue, k), 1);
    const no = stepStage(k, "branch", requireStep(whenFalse, k), 1);
    const cond = condition as BranchCondition<unknown, unknown, unknown>;
    return this.with({
      key: k,
      kind: "branch",
      whole: true,
      spec: async (value, run) =>
        (await cond({ input: value, state: run.state, context: run.context })) ? yes : no,
    });
  }

  /**
   * Runs the pipeline. Never throws: a failure (a step's error, bad input, cancellation)
   * is a failed result carrying the error and the metadata of the stages that ran.
   *
   * @example
   * ```ts
   * const r = await batchPipeline.execute(rows, { signal: AbortSignal.timeout(5_000) });
   * if (!r.success) console.error(r.error.code, r.error.key);
   * ```
   */
  async execute(input: TInput, options: ExecuteOptions = {}): Promise<StepResult<TOut>> {
    const traceId = options.traceId ?? newTraceId();
    const spanId = newSpanId();
    const startedAt = Date.now();
    const t0 = now();
    const stages: StageMetadata[] = [];
    const recorded: StepError[] = [];
    const state: Readonly<Record<string, unknown>> = Object.freeze({});
    const events = new EventSink(options.onEvent, options.logger, false);
    if (events.active) events.emit({ type: "run:start", traceId, time: startedAt });
    const metadata = (status: StepMetadata["status"]): StepMetadata => ({
      name: "pipeline",
      traceId,
      spanId,
      startedAt,
      endedAt: Date.now(),
      durationMs: now() - t0,
      status,
      stages,
      errors: recorded,
    });
    const finish = <R extends StepResult<TOut>>(result: R): R => {
      if (events.active) {
        const status = result.metadata.status ?? "completed";
        events.emit({
          type: "run:end",
          traceId,
          status,
          durationMs: result.metadata.durationMs,
          time: Date.now(),
        });
      }
      return result;
    };
    const failed = (error: StepError): StepResult<TOut> =>
      finish({
        success: false,
        error,
        metadata: metadata(options.signal?.aborted ? "cancelled" : "failed"),
      });
    let context: unknown;
    const aborted = () =>
      new StepError("Aborted before the pipeline ran", {
        code: "ABORTED",
        traceId,
        cause: options.signal?.reason,
      });
    if (options.signal?.aborted) return failed(aborted());
    try {
      const built = this.def.contextBuilder?.();
      context = isThenable(built) ? await built : built;
    } catch (error) {
      return failed(
        new StepError(`The context builder failed: ${errorMessage(error)}`, {
          code: "CONTEXT_FAILED",
          traceId,
          cause: error,
        }),
      );
    }
    const run: ListRunContext = { traceId, context, state, signal: options.signal, events };
    if (options.signal?.aborted) return failed(aborted());
    let value: unknown = input;
    for (const stage of this.def.stages) {
      if (!stage.whole && !Array.isArray(value)) {
        return failed(
          new StepError(
            `Stage "${stage.key}" (${stage.kind}) needs an array from the previous stage, got ${describe(value)}`,
            { code: "INVALID_INPUT", key: stage.key, traceId },
          ),
        );
      }
      let spec: StageSpec;
      try {
        spec = await stage.spec(value, run);
      } catch (error) {
        return failed(
          new StepError(`Stage "${stage.key}" failed: ${errorMessage(error)}`, {
            code: "STAGE_FAILED",
            key: stage.key,
            traceId,
            cause: error,
          }),
        );
      }
      const items = stage.whole ? [value] : (value as unknown[]);
      const outcome = await runListStage(spec, items, run);
      stages.push(outcome.metrics.snapshot());
      recorded.push(...outcome.recorded);
      if (!outcome.ok) return failed(outcome.error);
      value = stage.whole ? outcome.values[0] : outcome.values;
      // Each stage sees a frozen copy: no step can change what later steps see.
      run.state = Object.freeze({ ...run.state, [stage.key]: value });
    }
    return finish({ success: true, data: value as TOut, metadata: metadata("completed") });
  }
}

function concurrencyOf(
  key: string,
  options: ListOptions | undefined,
): number | AdaptiveConcurrencyOptions {
  const limit = options?.concurrencyLimit ?? 10;
  if (typeof limit !== "object") positiveInt(limit, "concurrencyLimit", key);
  return options?.parallel === true ? limit : 1;
}

function listSettings(key: string, options: ListOptions | undefined) {
  if (options?.parallel !== undefined && typeof options.parallel !== "boolean") {
    throw new TypeError(
      `Stage "${key}": parallel must be a boolean, got ${typeof options.parallel}`,
    );
  }
  validateStrategy(options?.errorStrategy, `Stage "${key}"`, false);
  return {
    concurrency: concurrencyOf(key, options),
    ordered: true,
    errorStrategy: options?.errorStrategy ?? "FAIL_FAST",
    ...(options?.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    ...(options?.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
  } as const;
}

function stepStage(
  key: string,
  kind: string,
  step: Step<unknown, unknown, unknown, unknown>,
  concurrency: number | AdaptiveConcurrencyOptions,
  options?: ListOptions,
): StageSpec {
  return itemStage(
    {
      key,
      kind,
      mode: EmitMode.MAP,
      invoke: (item, ctx) => runStep(step, item, ctx as ItemContext),
      wantsCtx: true,
      stepName: step.name,
      stepRetry: step.retry,
      defaultStrategy: "FAIL_FAST",
      allowSplit: false,
    },
    { ...listSettings(key, options), concurrency },
  );
}

function requireStep<I, O, S, C>(
  step: Step<I, O, S, C>,
  key: string,
): Step<unknown, unknown, unknown, unknown> {
  if (!isStep(step)) {
    throw new TypeError(`Stage "${key}": expected a step (see createStep), got ${describe(step)}`);
  }
  return step as Step<unknown, unknown, unknown, unknown>;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}
