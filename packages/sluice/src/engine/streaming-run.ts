import { AbortError, StreamingError } from "../errors/step-error.js";
import { EventSink, type RunEvent } from "../metrics/events.js";
import type { Logger } from "../metrics/logger.js";
import type { RunMetadata, RunStatus } from "../metrics/metadata.js";
import { type Progress, ProgressTracker } from "../metrics/progress.js";
import type { StageMetrics } from "../metrics/stage-metrics.js";
import { now, type Puller } from "./chunk.js";
import { newTraceId } from "./ids.js";
import { type ErrorRecord, RunEnv } from "./run-env.js";
import { buildChain, type StageSpec, stageMetrics } from "./stage-spec.js";

/** Options of a streaming run. */
export interface RunOptions {
  /** Cancels the run; the run then ends by throwing the signal's reason. */
  signal?: AbortSignal;
  /** Joins an existing trace (32 hex characters) instead of starting a new one. */
  traceId?: string;
  /** Called synchronously with every event of the run (see {@link RunEvent}). */
  onEvent?: (event: RunEvent) => void;
  /** Milliseconds between progress events while anyone listens (default 1000; 0: none). */
  progressIntervalMs?: number;
  /** Also send an `item` event per item with its processing time (default false). */
  itemEvents?: boolean;
  /** How many source items to expect, for progress when the source has no known length. */
  expectedItems?: number;
  /** false stops reading clocks for timings and waits; counts are always kept. */
  metrics?: boolean;
  /** Where to log run and stage lifecycle and absorbed errors; nothing is logged without. */
  logger?: Logger;
}

/** What a run needs to start: built lazily, at the consumer's first pull. */
export interface RunPlan {
  readonly stages: readonly StageSpec[];
  readonly source: () => Puller;
  readonly contextBuilder: (() => unknown) | undefined;
  /** Source items, when the source says (an array's length). */
  readonly total?: number | undefined;
}

const FIRST_DEMAND = 16;
const MAX_DEMAND = 512;
const DONE: IteratorReturnResult<void> = Object.freeze({ value: undefined, done: true });

/**
 * One execution of a `StreamingPipeline`: an `AsyncGenerator` of outputs that also exposes
 * the run's live metadata and its SPLIT_ERRORS side stream.
 *
 * Items are pulled from the last stage in chunks and handed out one by one, so `for await`
 * costs a resolved promise per item and the stages pay their overhead once per chunk.
 *
 * @example
 * ```ts
 * const run = pipeline.executeFrom(files);
 * for await (const out of run) console.log(out);
 * console.log(run.metadata().status); // "completed"
 * ```
 */
export class StreamingRun<T> implements AsyncGenerator<T, void, undefined> {
  private buf: unknown[] = [];
  private pos = 0;
  private pending: Promise<IteratorResult<T, void>> | null = null;
  private runStatus: RunStatus = "pending";
  private tail: Puller | undefined;
  private readonly env: RunEnv;
  private readonly stages: StageMetrics[];
  private demand = FIRST_DEMAND;
  private startedAt: number | undefined;
  private endedAt: number | undefined;
  private startedPerf = 0;
  private endedPerf = 0;
  private finalizing: Promise<void> | undefined;
  private aborted = false;
  private abortReason: unknown;
  private abortThrown = false;
  private abortPromise: Promise<never> | undefined;
  private rejectAbort: ((reason: unknown) => void) | undefined;
  private detachAbort: (() => void) | undefined;
  private readonly progress: ProgressTracker;
  private ticker: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly plan: RunPlan,
    private readonly options: RunOptions = {},
  ) {
    validateRunOptions(options);
    const events = new EventSink(options.onEvent, options.logger, options.itemEvents === true);
    this.env = new RunEnv(options.traceId ?? newTraceId(), events);
    this.stages = stageMetrics(plan.stages, options.metrics !== false);
    this.progress = new ProgressTracker(options.expectedItems ?? plan.total);
  }

  /**
   * Every event of the run from now on, as an async iterable that ends with the run. Like
   * `errors`, it does not drive the run: read it alongside the main stream.
   */
  events(): AsyncIterable<RunEvent> {
    return this.env.events.stream();
  }

  /** Where the run stands: items done, total if known, measured rate and ETA. */
  progressNow(): Progress {
    const meta = this.metadata();
    const last = this.stages[this.stages.length - 1];
    const outputs = last === undefined ? 0 : last.out - (this.buf.length - this.pos);
    return this.progress.measure(meta, outputs, now());
  }

  /** The run's trace id (W3C format). */
  get traceId(): string {
    return this.env.traceId;
  }

  /**
   * Failures routed by `SPLIT_ERRORS`, readable while the main stream runs; it ends when the
   * run ends. Only the main stream drives the run: read this alongside it or after it.
   */
  get errors(): AsyncIterable<ErrorRecord> {
    return this.env.split;
  }

  /** The run's current status. */
  get status(): RunStatus {
    return this.runStatus;
  }

  /** A live snapshot of the run's figures; cheap enough to poll every 100 ms. */
  metadata(): RunMetadata {
    const end = this.endedAt === undefined ? now() : this.endedPerf;
    return {
      traceId: this.env.traceId,
      status: this.runStatus,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      durationMs: this.startedAt === undefined ? undefined : end - this.startedPerf,
      stages: this.stages.map((m) => m.snapshot()),
      errors: [...this.env.recorded],
    };
  }

  next(): Promise<IteratorResult<T, void>> {
    if (this.pending === null && this.pos < this.buf.length && !this.aborted) {
      return Promise.resolve({ value: this.buf[this.pos++] as T, done: false });
    }
    const prev = this.pending;
    const p =
      prev === null
        ? this.fill()
        : prev.then(
            () => this.next(),
            () => this.next(),
          );
    this.pending = p;
    const clear = () => {
      if (this.pending === p) this.pending = null;
    };
    p.then(clear, clear);
    return p;
  }

  /** Stops the run: in-flight work is aborted and settles, upstream is closed, `finally` runs. */
  async return(_value?: unknown): Promise<IteratorResult<T, void>> {
    if (this.runStatus === "pending") {
      this.runStatus = "cancelled";
      this.endedAt = Date.now();
      this.env.split.end();
      this.detachAbort?.();
    } else if (this.runStatus === "running") {
      await this.finish("cancelled");
    } else {
      await this.finalizing;
    }
    return DONE;
  }

  /** Stops the run like `return()`, then rejects with `error`. */
  async throw(error: unknown): Promise<IteratorResult<T, void>> {
    if (this.runStatus === "running") await this.finish("failed");
    else if (this.runStatus === "pending") this.runStatus = "failed";
    throw error;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  private start(): Promise<void> | undefined {
    this.runStatus = "running";
    this.startedAt = Date.now();
    this.startedPerf = now();
    const signal = this.options.signal;
    if (signal !== undefined) {
      // Created up front so that a pull already waiting when the signal fires loses the race.
      this.abortPromise = new Promise<never>((_, reject) => {
        this.rejectAbort = reject;
      });
      this.abortPromise.catch(() => {});
      const onAbort = () => this.onAbort(signal.reason);
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        this.detachAbort = () => signal.removeEventListener("abort", onAbort);
      }
    }
    const source = this.plan.source();
    this.tail = buildChain(this.plan.stages, source, this.env, this.stages);
    const events = this.env.events;
    if (events.active) {
      events.emit({ type: "run:start", traceId: this.env.traceId, time: this.startedAt });
      const every = this.options.progressIntervalMs ?? 1000;
      if (every > 0) {
        this.ticker = setInterval(() => {
          events.emit({
            type: "progress",
            progress: this.progressNow(),
            metadata: this.metadata(),
            time: Date.now(),
          });
        }, every);
        // A progress ticker alone must not keep a Node process alive.
        (this.ticker as { unref?: () => void }).unref?.();
      }
    }
    const builder = this.plan.contextBuilder;
    if (builder === undefined) return undefined;
    const ctx = builder();
    if (ctx instanceof Promise) {
      return ctx.then((c) => {
        this.env.context = c;
      });
    }
    this.env.context = ctx;
    return undefined;
  }

  private onAbort(reason: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.abortReason = reason ?? new AbortError();
    this.rejectAbort?.(this.abortReason);
    if (this.runStatus === "running") this.finish("cancelled").catch(() => {});
  }

  private async fill(): Promise<IteratorResult<T, void>> {
    try {
      if (this.runStatus === "pending") await this.start();
      if (this.aborted) throw this.abortReason;
      if (this.runStatus !== "running") return DONE;
      const tail = this.tail as Puller;
      for (;;) {
        const pulled = tail.pull(this.demand);
        const chunk =
          this.abortPromise === undefined
            ? await pulled
            : await Promise.race([pulled, this.abortPromise]);
        if (this.demand < MAX_DEMAND) this.demand *= 2;
        if (chunk === null) {
          if (this.aborted) throw this.abortReason;
          if (this.runStatus !== "running") return DONE;
          const collected = this.env.collected;
          if (collected.length > 0) throw collectedError(collected, this.env.traceId);
          await this.finish("completed");
          return DONE;
        }
        if (this.aborted) throw this.abortReason;
        if (chunk.values.length === 0) continue;
        this.buf = chunk.values;
        this.pos = 1;
        return { value: chunk.values[0] as T, done: false };
      }
    } catch (error) {
      if (this.aborted) {
        await this.finish("cancelled");
        if (this.abortThrown) return DONE;
        this.abortThrown = true;
        throw this.abortReason;
      }
      if (this.runStatus === "cancelled") return DONE;
      await this.finish("failed");
      throw error;
    }
  }

  /** Ends the run once: cancels the chain (waiting for in-flight work), then closes out. */
  private finish(status: RunStatus): Promise<void> {
    if (this.finalizing !== undefined) return this.finalizing;
    this.runStatus = status;
    this.buf = [];
    this.pos = 0;
    this.finalizing = (async () => {
      try {
        await this.tail?.cancel();
      } finally {
        const stageEnd =
          status === "completed" ? "completed" : status === "failed" ? "failed" : "cancelled";
        for (const m of this.stages) m.end(stageEnd);
        this.endedAt = Date.now();
        this.endedPerf = now();
        this.detachAbort?.();
        if (this.ticker !== undefined) clearInterval(this.ticker);
        this.env.split.end();
        const events = this.env.events;
        if (events.active) {
          events.emit({
            type: "run:end",
            traceId: this.env.traceId,
            status,
            durationMs: this.endedPerf - this.startedPerf,
            time: this.endedAt,
          });
        }
        events.end();
      }
    })();
    return this.finalizing;
  }
}

function validateRunOptions(o: RunOptions): void {
  if (
    o.progressIntervalMs !== undefined &&
    (!Number.isFinite(o.progressIntervalMs) || o.progressIntervalMs < 0)
  ) {
    throw new RangeError(
      `Run options: progressIntervalMs must be a number ≥ 0, got ${String(o.progressIntervalMs)}`,
    );
  }
  if (
    o.expectedItems !== undefined &&
    (!Number.isInteger(o.expectedItems) || o.expectedItems < 0)
  ) {
    throw new RangeError(
      `Run options: expectedItems must be an integer ≥ 0, got ${String(o.expectedItems)}`,
    );
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== "function") {
    throw new TypeError(`Run options: onEvent must be a function, got ${typeof o.onEvent}`);
  }
}

function collectedError(records: readonly ErrorRecord[], traceId: string): StreamingError {
  const keys = [...new Set(records.map((r) => r.key))].join(", ");
  return new StreamingError(
    `${records.length} item(s) failed under COLLECT_ERRORS (stages: ${keys})`,
    {
      code: "COLLECTED_ERRORS",
      traceId,
      errors: records.map((r) => ({ index: r.index, item: r.item, error: r.error })),
      cause: records[0]?.error,
    },
  );
}
