import type { StreamingErrorStrategy } from "../errors/error-strategy.js";
import {
  backoffDelay,
  isRetryable,
  type RetryOptions,
  withinRetryBudget,
} from "../errors/retry-policy.js";
import { wrapFailure } from "../errors/to-error.js";
import { abortableSleep } from "./abortable-sleep.js";
import { isThenable, type Lineage, now } from "./chunk.js";
import { type ItemContext, ItemContextImpl } from "./item-context.js";
import type { StageRuntime } from "./run-env.js";

/** How an item stage turns a result into outputs. */
export const EmitMode = {
  /** The result is the output. */
  MAP: 0,
  /** The item is the output when the result is truthy. */
  FILTER: 1,
  /** The item is the output; the result is ignored. */
  TAP: 2,
  /** The result is an array of outputs. */
  FLAT: 3,
} as const;
export type EmitMode = (typeof EmitMode)[keyof typeof EmitMode];

/** One per-item stage: the user's function and what to do with its results and failures. */
export interface ItemOp {
  readonly mode: EmitMode;
  /** Calls the user's function; `ctx` is undefined when the function takes only the item. */
  readonly invoke: (item: unknown, ctx: ItemContext | undefined) => unknown;
  readonly wantsCtx: boolean;
  readonly retry: RetryOptions | undefined;
  readonly strategy: StreamingErrorStrategy;
  readonly stepName: string | undefined;
}

/** Marks an item whose failure a strategy absorbed (or whose stage stopped). */
export const SKIPPED: unique symbol = Symbol("skipped");
export type Recovered = { value: unknown } | typeof SKIPPED;

/**
 * Retry and error-strategy handling of one item stage, shared by the sequential, fused and
 * parallel stages. Nothing starts once the stage has stopped (`rt.stopped`).
 */
export class ItemRecovery {
  constructor(
    private readonly rt: StageRuntime,
    private readonly op: ItemOp,
  ) {}

  /** The context of one call, or undefined when the function takes only the item. */
  ctx(index: number, attempt: number, lin: Lineage | null): ItemContextImpl | undefined {
    return this.op.wantsCtx ? new ItemContextImpl(index, attempt, lin, this.rt) : undefined;
  }

  /**
   * After a first failed attempt: retries with backoff while the policy allows, then applies
   * the error strategy. Throws for FAIL_FAST; returns SKIPPED when the failure is absorbed
   * or the stage stopped meanwhile.
   */
  async recover(
    item: unknown,
    index: number,
    lin: Lineage | null,
    firstError: unknown,
  ): Promise<Recovered> {
    const { op, rt } = this;
    const { retry } = op;
    const m = rt.metrics;
    let error = firstError;
    let attempts = 1;
    // Read only with a time budget: a clock read per failure is cheap, but not needed.
    const firstFailure = retry?.maxElapsedMs === undefined ? 0 : now();
    while (
      retry !== undefined &&
      attempts < retry.maxAttempts &&
      isRetryable(error, retry, attempts)
    ) {
      if (rt.stopped) return SKIPPED;
      const delayMs = backoffDelay(retry, attempts, error);
      if (
        retry.maxElapsedMs !== undefined &&
        !withinRetryBudget(retry, attempts, now() - firstFailure, delayMs)
      ) {
        break;
      }
      const events = rt.env.events;
      if (events.active) {
        events.emit({
          type: "retry",
          key: rt.key,
          index,
          attempt: attempts + 1,
          delayMs,
          error,
          time: Date.now(),
        });
      }
      // A signal per wait, not the stage's: many items waiting at once would otherwise
      // pile listeners onto one signal.
      const wait = rt.itemController();
      try {
        await abortableSleep(delayMs, wait.signal);
      } catch {
        return SKIPPED; // stopped while waiting: nothing to report, the run is stopping
      } finally {
        rt.releaseItem(wait);
      }
      if (rt.stopped) return SKIPPED;
      attempts++;
      m.retried++;
      const ctx = this.ctx(index, attempts, lin);
      try {
        let r = op.invoke(item, ctx);
        if (isThenable(r)) r = await r;
        m.succeeded++;
        return { value: r };
      } catch (e) {
        if (rt.stopped) return SKIPPED;
        error = e;
      } finally {
        ctx?.release();
      }
    }
    if (rt.stopped) return SKIPPED;
    return this.fail(item, index, lin, error, attempts);
  }

  private fail(
    item: unknown,
    index: number,
    lin: Lineage | null,
    cause: unknown,
    attempts: number,
  ): typeof SKIPPED {
    const { rt, op } = this;
    rt.metrics.failed++;
    const error = wrapFailure(
      cause,
      {
        key: rt.key,
        stepName: op.stepName,
        itemIndex: index,
        attempts,
        traceId: rt.env.traceId,
        spanId: rt.metrics.spanId,
      },
      isRetryable(cause, op.retry, attempts),
    );
    const events = rt.env.events;
    if (events.active) {
      const strategy = op.strategy;
      events.emit({ type: "item:error", key: rt.key, index, strategy, error, time: Date.now() });
    }
    // The stage reports it to the run (which stops every stage) when it throws it: a
    // sequential stage first hands on what it produced before the failing item.
    if (op.strategy === "FAIL_FAST") throw error;
    rt.metrics.skipped++;
    rt.env.recorded.push(error);
    const record = { item, error, key: rt.key, index };
    if (op.strategy === "COLLECT_ERRORS") rt.env.collected.push(record);
    else if (op.strategy === "SPLIT_ERRORS") rt.env.split.push(record);
    // The failure has left the pipeline (recorded, collected or in `run.errors`).
    rt.env.acks?.release(lin, "failed", error);
    return SKIPPED;
  }
}
