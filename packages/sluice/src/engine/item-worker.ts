import type { StreamingErrorStrategy } from "../errors/error-strategy.js";
import { backoffDelay, isRetryable, type RetryOptions } from "../errors/retry-policy.js";
import { wrapFailure } from "../errors/to-error.js";
import { abortableSleep } from "./abortable-sleep.js";
import { isThenable, type Lineage } from "./chunk.js";
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

/** Marks an item whose failure a strategy absorbed (or whose stage was cancelled). */
export const SKIPPED: unique symbol = Symbol("skipped");
export type Recovered = { value: unknown } | typeof SKIPPED;

/** Retry and error-strategy handling shared by the sequential and parallel item stages. */
export abstract class ItemWorker {
  protected closed = false;

  constructor(
    protected readonly rt: StageRuntime,
    protected readonly op: ItemOp,
  ) {}

  protected ctx(index: number, attempt: number, lin: Lineage | null): ItemContextImpl | undefined {
    return this.op.wantsCtx ? new ItemContextImpl(index, attempt, lin, this.rt) : undefined;
  }

  /**
   * After a first failed attempt: retries with backoff while the policy allows, then applies
   * the error strategy. Throws for FAIL_FAST; returns SKIPPED when the failure is absorbed
   * or the stage was cancelled meanwhile.
   */
  protected async recover(
    item: unknown,
    index: number,
    lin: Lineage | null,
    firstError: unknown,
  ): Promise<Recovered> {
    const { retry } = this.op;
    const m = this.rt.metrics;
    let error = firstError;
    let attempts = 1;
    while (
      retry !== undefined &&
      attempts < retry.maxAttempts &&
      isRetryable(error, retry, attempts)
    ) {
      const delayMs = backoffDelay(retry, attempts, error);
      const events = this.rt.env.events;
      if (events.active) {
        const key = this.rt.key;
        events.emit({
          type: "retry",
          key,
          index,
          attempt: attempts + 1,
          delayMs,
          error,
          time: Date.now(),
        });
      }
      try {
        await abortableSleep(delayMs, this.rt.signal);
      } catch {
        return SKIPPED; // cancelled while waiting: nothing to report, the run is stopping
      }
      if (this.closed) return SKIPPED;
      attempts++;
      m.retried++;
      const ctx = this.ctx(index, attempts, lin);
      try {
        let r = this.op.invoke(item, ctx);
        if (isThenable(r)) r = await r;
        m.succeeded++;
        return { value: r };
      } catch (e) {
        if (this.closed) return SKIPPED;
        error = e;
      } finally {
        ctx?.release();
      }
    }
    return this.fail(item, index, error, attempts);
  }

  private fail(item: unknown, index: number, cause: unknown, attempts: number): typeof SKIPPED {
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
    return SKIPPED;
  }
}
