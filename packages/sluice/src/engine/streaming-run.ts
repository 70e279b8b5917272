import { AbortError, StreamingError } from "../errors/step-error.js";
import { EventSink, type RunEvent } from "../metrics/events.js";
import type { Logger } from "../metrics/logger.js";
import type { RunMetadata, RunStatus } from "../metrics/metadata.js";
import { type Progress, ProgressTracker } from "../metrics/progress.js";
import type { StageMetrics } from "../metrics/stage-metrics.js";
import type { AckLedger } from "./acknowledgement.js";
import { type Chunk, now, type Puller } from "./chunk.js";
import { newTraceId } from "./ids.js";
import type { MeteredPuller } from "./metered-puller.js";
import { type ErrorRecord, RunEnv } from "./run-env.js";
import { keepShape } from "./shapes.js";
import { buildChain, type StageSpec, stageMetrics } from "./stage-spec.js";

/**
 * Options of a streaming run.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const run = pipeline.executeFrom(files, {
 *   signal: controller.signal,
 *   onEvent: (e) => { if (e.type === "progress") console.log(e.progress.etaMs); },
 *   progressIntervalMs: 500,
 * });
 * ```
 */
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
  /**
   * Most items a stage hands on at once (default 512). Sync items travel in chunks of up to
   * this many (fewer when items are slow to process: the run sizes chunks by time), so it is
   * also how far a sequential sync stage reads ahead; 1 makes every stage strictly item by
   * item.
   */
  chunkSize?: number;
}

/** What a run needs to start: built lazily, at the consumer's first pull. */
export interface RunPlan {
  readonly stages: readonly StageSpec[];
  readonly source: () => Puller;
  readonly contextBuilder: (() => unknown) | undefined;
  /** Source items, when the source says (an array's length). */
  readonly total?: number | undefined;
  /** The acknowledgements of an `acknowledged(...)` source; its puller feeds this ledger. */
  readonly acks?: AckLedger | undefined;
}

const MAX_DEMAND = 512;
/**
 * The run's demand follows the time a pull of the chain takes: it doubles while pulls are
 * quick and halves when a full chunk takes long. Cheap items travel in full chunks (per-chunk
 * costs vanish); items of 10 µs or more travel singly, since a pull costs about a
 * microsecond and every item a chunk holds survives young-generation collections (enough of
 * that makes V8 double the young generation). The first result comes after one item.
 */
const GROW_BELOW_MS = 0.05;
const SHRINK_ABOVE_MS = 0.2;
const HEAVY_ITEM_MS = 0.01;
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
  /** With acknowledgements: the lineage of `buf`'s items, and the first not yet released. */
  private bufLins: Chunk["lins"];
  private released = 0;
  /** The promise of the last `next()` call that had to wait (pull the chain or queue). */
  private last: Promise<IteratorResult<T, void>> = Promise.resolve(DONE);
  /** `next()` calls whose result is not known yet: pulling the chain, or queued behind one. */
  private unread = 0;
  private runStatus: RunStatus = "pending";
  /** The chain's last stage, from the first pull on. */
  private tail: MeteredPuller | undefined;
  /** The source's puller, from the first pull on. */
  private source: Puller | undefined;
  private readonly env: RunEnv;
  private readonly stages: StageMetrics[];
  private demand: number;
  private readonly maxDemand: number;
  private startedAt: number | undefined;
  private endedAt: number | undefined;
  private startedPerf = 0;
  private endedPerf = 0;
  /** Set by `close`: the run's end, once every stage has settled. */
  private closing: Promise<void> | undefined;
  /** Why the signal or a FAIL_FAST error stopped the run, for the consumer's next pull. */
  private interrupted:
    | { status: "cancelled" | "failed"; reason: unknown; thrown: boolean }
    | undefined;
  private detachAbort: (() => void) | undefined;
  private readonly progress: ProgressTracker;
  private ticker: ReturnType<typeof setInterval> | undefined;

  /** @internal Runs are made by `StreamingPipeline.execute` / `executeFrom`. */
  constructor(
    private readonly plan: RunPlan,
    private readonly options: RunOptions = {},
  ) {
    validateRunOptions(options);
    this.maxDemand = options.chunkSize ?? MAX_DEMAND;
    this.demand = 1;
    const events = new EventSink(options.onEvent, options.logger, options.itemEvents === true);
    this.env = new RunEnv(options.traceId ?? newTraceId(), events);
    if (plan.acks !== undefined) {
      this.env.acks = plan.acks;
      plan.acks.onError = (error) => this.env.onFatal(error);
    }
    this.stages = stageMetrics(plan.stages, options.metrics !== false);
    this.progress = new ProgressTracker(options.expectedItems ?? plan.total);
  }

  /**
   * Every event of the run from now on, as an async iterable that ends with the run. Like
   * `errors`, it does not drive the run: read it alongside the main stream.
   *
   * @example
   * ```ts
   * const run = pipeline.executeFrom(items);
   * const log = (async () => { for await (const e of run.events()) console.log(e.type); })();
   * for await (const _ of run) {}
   * await log;
   * ```
   */
  events(): AsyncIterable<RunEvent> {
    return this.env.events.stream();
  }

  /**
   * Where the run stands: items done, total if known, measured rate and ETA.
   *
   * @example
   * ```ts
   * const { done, total, etaMs } = run.progressNow();
   * ```
   */
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
   *
   * @example
   * ```ts
   * const deadLetters = (async () => { for await (const { item, error } of run.errors) console.warn(item, error.code); })();
   * for await (const out of run) use(out);
   * await deadLetters;
   * ```
   */
  get errors(): AsyncIterable<ErrorRecord> {
    return this.env.split;
  }

  /** The run's current status. */
  get status(): RunStatus {
    return this.runStatus;
  }

  /**
   * A live snapshot of the run's figures; cheap enough to poll every 100 ms.
   *
   * @example
   * ```ts
   * const timer = setInterval(() => console.log(run.metadata().stages.map((s) => s.counts.out)), 100);
   * ```
   */
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

  /** The next output; the first call starts the run (lazily, like a generator). */
  next(): Promise<IteratorResult<T, void>> {
    // The consumer asking again is what says the outputs it had are done with.
    if (this.env.acks !== undefined) this.releaseHanded();
    if (this.unread === 0 && this.pos < this.buf.length && this.interrupted === undefined) {
      return Promise.resolve({ value: this.buf[this.pos++] as T, done: false });
    }
    // A call made while another waits reads once that one has its result. It reads directly,
    // not through `next()`, which would find itself waiting and wait on itself. The count
    // is kept by the readers themselves, not by a reaction on each call's promise: that
    // would cost a promise and a microtask per item where completions come one at a time.
    const p = this.unread++ === 0 ? this.fill() : this.last.then(this.readNext, this.readNext);
    this.last = p;
    return p;
  }

  // A bound method rather than an arrow field: a method's optimized code outlives a GC
  // between runs, an arrow's does not (see MeteredPuller).
  private readonly readNext = this.readQueued.bind(this);

  /** Serves one queued `next()` call: from the chunk buffer, or by pulling the chain. */
  private readQueued(): IteratorResult<T, void> | Promise<IteratorResult<T, void>> {
    if (this.env.acks !== undefined) this.releaseHanded();
    if (this.pos < this.buf.length && this.interrupted === undefined) {
      this.unread--;
      return { value: this.buf[this.pos++] as T, done: false };
    }
    return this.fill();
  }

  /** Acknowledges, as done, the outputs handed out since the last call. */
  private releaseHanded(): void {
    const acks = this.env.acks as AckLedger;
    const lins = this.bufLins;
    const end = this.pos;
    for (let i = this.released; i < end; i++) acks.release(lins?.[i], "done");
    this.released = end;
  }

  /**
   * Stops the run: in-flight work is aborted and settles, upstream is closed, `finally` runs.
   *
   * @example
   * ```ts
   * for await (const out of run) if (done(out)) break; // break calls return(): in-flight calls are aborted
   * ```
   */
  async return(_value?: unknown): Promise<IteratorResult<T, void>> {
    await this.close("cancelled");
    return DONE;
  }

  /** Stops the run like `return()`, then rejects with `error`. */
  async throw(error: unknown): Promise<IteratorResult<T, void>> {
    await this.close("failed");
    throw error;
  }

  /** The run is its own iterator: `for await (const x of run)`. */
  [Symbol.asyncIterator](): this {
    return this;
  }

  /** `await using run = …` cancels the run when the scope ends, like `return()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.return();
  }

  private start(): Promise<void> | undefined {
    this.runStatus = "running";
    this.startedAt = Date.now();
    this.startedPerf = now();
    this.env.onFatal = (error) => this.interrupt("failed", error);
    // Kept apart from the chain: a stage that cannot be built leaves no chain, and the run
    // must still release the source it made.
    this.source = this.plan.source();
    this.tail = buildChain(this.plan.stages, this.source, this.env, this.stages);
    const signal = this.options.signal;
    if (signal !== undefined) {
      const onAbort = () => this.interrupt("cancelled", signal.reason ?? new AbortError());
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener("abort", onAbort, { once: true });
        this.detachAbort = () => signal.removeEventListener("abort", onAbort);
      }
    }
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
    const traceId = this.env.traceId;
    let ctx: unknown;
    try {
      ctx = builder();
    } catch (error) {
      throw contextFailed(error, traceId);
    }
    if (ctx instanceof Promise) {
      return ctx.then(
        (c) => {
          this.env.context = c;
        },
        (error: unknown) => {
          throw contextFailed(error, traceId);
        },
      );
    }
    this.env.context = ctx;
    return undefined;
  }

  /**
   * Stops the run now: a FAIL_FAST error in any stage, or the signal. Closing stops every
   * stage in this same turn, also stages busy with other items that would only have seen
   * the error at their next pull; the consumer gets the reason at its next pull.
   */
  private interrupt(status: "cancelled" | "failed", reason: unknown): void {
    if (this.interrupted !== undefined || this.closing !== undefined) return;
    this.interrupted = { status, reason, thrown: false };
    this.close(status).catch(() => {});
  }

  /** Pulls the chain for one `next()` call; that call's result is known when it returns. */
  private async fill(): Promise<IteratorResult<T, void>> {
    try {
      if (this.runStatus === "pending") await this.start();
      this.throwIfInterrupted();
      if (this.closing !== undefined) return DONE;
      const tail = this.tail as MeteredPuller;
      // With metrics on, the tail already times each pull: no second pair of clock readings.
      const timedTail = tail.timed;
      for (;;) {
        // A stop settles this pull (with null once in-flight work settled): no race needed.
        const demand = this.demand;
        const t0 = timedTail ? 0 : now();
        // The tail's two halves rather than its `pull`: one promise less per pull.
        const pulling = tail.pullInner(demand);
        let settled: Chunk | null;
        try {
          settled = await pulling;
        } catch (error) {
          throw tail.pullFailed(error);
        }
        const chunk = tail.pulled(settled);
        const elapsedMs = timedTail ? tail.lastPullMs : now() - t0;
        this.adaptDemand(demand, elapsedMs, chunk === null ? 0 : chunk.values.length);
        if (chunk === null) {
          this.throwIfInterrupted();
          if (this.closing !== undefined) {
            await this.closing;
            return DONE;
          }
          const acks = this.env.acks;
          if (acks !== undefined) {
            // Every output has been handed out: the consumer is done with them all.
            this.releaseHanded();
            await acks.drain();
          }
          const collected = this.env.collected;
          if (collected.length > 0) throw collectedError(collected, this.env.traceId);
          await this.close("completed");
          return DONE;
        }
        this.throwIfInterrupted();
        if (chunk.values.length === 0) continue;
        this.buf = chunk.values;
        this.bufLins = chunk.lins;
        this.released = 0;
        this.pos = 1;
        return { value: chunk.values[0] as T, done: false };
      }
    } catch (error) {
      const interrupted = this.interrupted;
      if (interrupted !== undefined) {
        // The reason goes out once the run has settled, and only once.
        await this.close(interrupted.status);
        if (interrupted.thrown) return DONE;
        interrupted.thrown = true;
        throw interrupted.reason;
      }
      const closedBefore = this.closing !== undefined;
      await this.close("failed");
      if (closedBefore) return DONE;
      throw error;
    } finally {
      this.unread--;
    }
  }

  /**
   * Doubles the demand while chunks come back well within the budget and halves it when full
   * chunks take much longer, so the chunk size follows the work per item. A short chunk that
   * took long was waiting on I/O, not working: it says nothing about the chunk size.
   */
  private adaptDemand(demand: number, elapsedMs: number, got: number): void {
    if (elapsedMs < GROW_BELOW_MS && elapsedMs < got * HEAVY_ITEM_MS) {
      if (demand < this.maxDemand) this.demand = Math.min(this.maxDemand, demand * 2);
    } else if (elapsedMs > SHRINK_ABOVE_MS && got >= demand && demand > 1) {
      this.demand = demand >> 1;
    }
  }

  private throwIfInterrupted(): void {
    if (this.interrupted !== undefined) throw this.interrupted.reason;
  }

  /**
   * Ends the run, once, whatever ends it (the last item, `return()`, `throw()`, the signal, a
   * FAIL_FAST error): every stage stops in this turn, then the returned promise waits for
   * in-flight work to settle and the source to be released, and closes out metrics, events
   * and the error stream. A run that never started still releases its source.
   */
  private close(status: RunStatus): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    const started = this.runStatus === "running";
    this.runStatus = status;
    this.buf = [];
    this.bufLins = undefined;
    this.pos = 0;
    this.released = 0;
    this.detachAbort?.();
    if (this.ticker !== undefined) clearInterval(this.ticker);
    const chain = this.tail ?? this.source ?? this.plan.source();
    chain.stop();
    this.closing = (async () => {
      try {
        await chain.cancel();
        // Acks already called settle before the run ends; a failure among them is the
        // run's own error when it completed, and moot when it stopped.
        await this.env.acks?.drain().catch(() => {});
      } finally {
        this.endedAt = Date.now();
        this.endedPerf = now();
        this.env.split.end();
        const events = this.env.events;
        if (started && events.active) {
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
    return this.closing;
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
  if (o.chunkSize !== undefined && (!Number.isInteger(o.chunkSize) || o.chunkSize < 1)) {
    throw new RangeError(
      `Run options: chunkSize must be a positive integer, got ${String(o.chunkSize)}`,
    );
  }
  if (o.onEvent !== undefined && typeof o.onEvent !== "function") {
    throw new TypeError(`Run options: onEvent must be a function, got ${typeof o.onEvent}`);
  }
}

/** A context builder's failure, shaped as the batch `Pipeline` reports it (`CONTEXT_FAILED`). */
function contextFailed(error: unknown, traceId: string): StreamingError {
  const message = error instanceof Error ? error.message : String(error);
  return new StreamingError(`The context builder failed: ${message}`, {
    code: "CONTEXT_FAILED",
    traceId,
    cause: error,
  });
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

keepShape(
  new StreamingRun({
    stages: [],
    source: () => {
      throw new Error("internal: the idle run never starts");
    },
    contextBuilder: undefined,
  }),
);
