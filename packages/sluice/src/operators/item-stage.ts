import type { ItemContext } from "../engine/item-context.js";
import { EmitMode, type ItemOp } from "../engine/item-worker.js";
import { ParallelItemStage } from "../engine/parallel-item-stage.js";
import { SequentialItemStage } from "../engine/sequential-item-stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { type StreamingErrorStrategy, validateStrategy } from "../errors/error-strategy.js";
import { type RetryOptions, validateRetry } from "../errors/retry-policy.js";
import {
  type AdaptiveConcurrencyOptions,
  readConcurrency,
} from "../limits/adaptive-concurrency.js";
import { guardOp, type RateLimitOption, readCallLimits } from "../limits/call-guard.js";
import { nonNegativeInt } from "./options.js";

/**
 * Options of the per-item stages (`map`, `flatMap`, `filter`, `tap`).
 *
 * @example
 * ```ts
 * const opts: ItemStageOptions = { concurrency: 8, ordered: false, retry: { maxAttempts: 3, backoffMs: 100 } };
 * ```
 */
export interface ItemStageOptions {
  /**
   * Items processed at once (default 1), or `{ max, min?, adaptive: true }` for a limit that
   * backs off when the service signals overload and probes back up on success (see
   * docs/rate-limits.md).
   */
  concurrency?: number | AdaptiveConcurrencyOptions;
  /** Keep input order (default true); false hands results on as they finish. */
  ordered?: boolean;
  /**
   * Finished items the stage may hold beyond `concurrency` before downstream asks (default
   * 0). A buffer of 1 or more lets sequential stages overlap on successive items.
   */
  buffer?: number;
  /** What a failed item does (default: the pipeline's, FAIL_FAST unless set). */
  errorStrategy?: StreamingErrorStrategy;
  /** Per-item retry. */
  retry?: RetryOptions;
  /**
   * Limits the rate of calls (and of units, with `weigh`): token-bucket figures of the
   * stage's own, or a limiter from `createRateLimiter` shared with other stages and runs.
   * Every attempt, retries included, waits its turn.
   */
  rateLimit?: RateLimitOption;
  /**
   * Longest one attempt may run, in milliseconds: past it the call's `ctx.signal` aborts and
   * the attempt fails with code `TIMEOUT` (retryable under `retry`). A function that ignores
   * its signal is not waited for: its late result is ignored.
   */
  timeoutMs?: number;
}

/** What the builder passes besides the user's options. */
export interface ItemStageDefinition {
  key: string;
  kind: string;
  mode: EmitMode;
  invoke: (item: unknown, ctx: ItemContext | undefined) => unknown;
  wantsCtx: boolean;
  stepName?: string | undefined;
  /** Retry carried by a step, used when the options give none. */
  stepRetry?: RetryOptions | undefined;
  defaultStrategy: StreamingErrorStrategy;
  allowSplit: boolean;
}

/** Validates options and describes a per-item stage; sequential or parallel by its settings. */
export function itemStage(def: ItemStageDefinition, options: ItemStageOptions = {}): StageSpec {
  const { key } = def;
  const { max: concurrency, adaptive } = readConcurrency(options.concurrency ?? 1, key);
  const buffer = nonNegativeInt(options.buffer ?? 0, "buffer", key);
  if (options.ordered !== undefined && typeof options.ordered !== "boolean") {
    throw new TypeError(`Stage "${key}": ordered must be a boolean, got ${typeof options.ordered}`);
  }
  const ordered = options.ordered ?? true;
  validateStrategy(options.errorStrategy, `Stage "${key}"`, def.allowSplit);
  const retry = options.retry ?? def.stepRetry;
  validateRetry(retry, `Stage "${key}"`);
  const strategy = options.errorStrategy ?? def.defaultStrategy;
  const op: ItemOp = {
    mode: def.mode,
    invoke: def.invoke,
    wantsCtx: def.wantsCtx,
    retry,
    strategy,
    stepName: def.stepName,
  };
  const limits = readCallLimits(
    options.rateLimit,
    options.timeoutMs,
    adaptive === undefined
      ? undefined
      : { max: concurrency, min: adaptive.min, weigh: adaptive.weigh },
    key,
  );
  const sequential = concurrency === 1 && buffer === 0;
  return {
    key,
    kind: def.kind,
    stepName: def.stepName,
    readsState: def.wantsCtx,
    // A limited stage's calls are awaited one by one with their limits: never fused.
    fusable:
      sequential && limits === undefined && !def.wantsCtx && def.mode !== EmitMode.FLAT
        ? op
        : undefined,
    strategy,
    concurrency,
    create: (upstream, rt) => {
      // Limits hold per-run state (the adaptive limit, metrics): a guarded op per run.
      const runOp = limits === undefined ? op : guardOp(op, limits, rt);
      return sequential
        ? new SequentialItemStage(upstream, rt, runOp)
        : new ParallelItemStage(upstream, rt, runOp, { concurrency, ordered, buffer });
    },
  };
}

/**
 * Whether to build a context object for a function. A function that declares exactly one
 * parameter cannot read the second (arrow functions have no `arguments`), so it is called
 * with the item alone and costs no allocation per item. Anything else gets the context.
 */
export function wantsContext(fn: (...args: never[]) => unknown): boolean {
  return fn.length !== 1;
}
