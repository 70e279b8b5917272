import type { StreamingError } from "../errors/step-error.js";
import { EventSink } from "../metrics/events.js";
import { StageMetrics } from "../metrics/stage-metrics.js";
import type { AckLedger } from "./acknowledgement.js";
import { AsyncQueue } from "./async-queue.js";
import type { Lineage } from "./chunk.js";
import { InFlightControllers, returnItemController, takeItemController } from "./item-signals.js";
import { itemSpanId } from "./item-span.js";
import { keepShape } from "./shapes.js";
import { SnapshotStore } from "./state-view.js";

/**
 * A failed item routed by SPLIT_ERRORS to `run.errors`.
 *
 * @example
 * ```ts
 * for await (const record of run.errors) {
 *   console.warn(`${record.key}[${record.index}]`, record.item, record.error.code);
 * }
 * ```
 */
export interface ErrorRecord<TItem = unknown> {
  /** The item the stage received. */
  item: TItem;
  /** Why it failed, with the stage key, item index and attempt count filled in. */
  error: StreamingError;
  /** The stage's key. */
  key: string;
  /** The item's index in that stage's input. */
  index: number;
}

/** What every stage of one run shares. */
export class RunEnv {
  readonly snapshots = new SnapshotStore();
  /** Every item error that a strategy recorded instead of failing the run. */
  readonly recorded: StreamingError[] = [];
  /** COLLECT_ERRORS failures: the run throws them together after the last item. */
  readonly collected: ErrorRecord[] = [];
  readonly split = new AsyncQueue<ErrorRecord>();

  /** Called on a FAIL_FAST error anywhere, so the run can stop every stage at once. */
  onFatal: (error: unknown) => void = () => {};
  /** Set once per run, when the context builder has run (at the first pull). */
  context: unknown = undefined;
  /** The run's acknowledgements, when its source is `acknowledged(...)`. */
  acks: AckLedger | undefined = undefined;

  constructor(
    readonly traceId: string,
    readonly events: EventSink = new EventSink(undefined, undefined, false),
  ) {}
}

/** One stage's view of a run: its signal, metrics and how it builds state objects. */
export class StageRuntime {
  /**
   * Created on first use: most runs never look at a stage's signal, and a process's first
   * `new AbortController()` costs about half a millisecond, paid in time to first result.
   */
  private controller: AbortController | undefined;
  private aborted = false;
  private reason: unknown;

  constructor(
    readonly key: string,
    readonly env: RunEnv,
    readonly metrics: StageMetrics,
    /** Whether this stage must record lineage for the stages after it. */
    readonly track: boolean,
    /** Builds the `state` object an item of this stage sees. */
    readonly stateOf: (lin: Lineage | null) => object,
  ) {}

  private readonly active = new InFlightControllers();

  /** The stage's signal: aborted when the stage stops (streaming steps and batch steps see it). */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.aborted) this.abortOne(this.controller);
    }
    return this.controller.signal;
  }

  /**
   * A signal of its own for one item's call, aborted with the stage. Per item, so that a
   * listener a function adds dies with its item instead of piling up on the stage's signal.
   */
  itemController(): AbortController {
    if (this.aborted) {
      const c = new AbortController();
      this.abortOne(c);
      return c;
    }
    const c = takeItemController();
    this.active.add(c);
    return c;
  }

  /** The item's call settled: its signal no longer needs to follow the stage's. */
  releaseItem(c: AbortController): void {
    // After the stop `active` is empty: an aborted controller never goes back to the pool.
    if (this.active.delete(c)) returnItemController(c);
  }

  /** Whether the stage has stopped: no call or retry of it may start any more. */
  get stopped(): boolean {
    return this.aborted;
  }

  /**
   * A FAIL_FAST error raised outside a pull (a parallel stage's item): the stage ends as
   * failed and the run stops every stage at once.
   */
  fail(error: unknown): void {
    this.metrics.end("failed");
    this.env.onFatal(error);
  }

  /**
   * One item's call settled after `ms` (retries included): recorded in the stage's latency
   * histogram and, with `itemEvents` on, sent as an `item` event with the item's span id
   * (from its input lineage `lin`, which every stage records with `itemEvents` on).
   */
  itemDone(index: number, ms: number, lin: Lineage | null): void {
    this.metrics.timings.record(ms);
    const events = this.env.events;
    if (events.itemEvents) {
      const spanId = itemSpanId(lin);
      events.emit({ type: "item", key: this.key, index, spanId, durationMs: ms, time: Date.now() });
    }
  }

  /** Aborts every in-flight call of this stage. */
  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    if (this.controller !== undefined) this.abortOne(this.controller);
    for (const c of this.active.drain()) this.abortOne(c);
  }

  /**
   * Every signal of the stage reports one reason: the caller's, or the default DOMException
   * the first controller aborted makes. Made only once a signal exists: every run stops its
   * stages when it ends, and a DOMException (with its stack) per stage and run is not free.
   */
  private abortOne(c: AbortController): void {
    if (this.reason === undefined) {
      c.abort();
      this.reason = c.signal.reason;
    } else c.abort(this.reason);
  }
}

let idle: StageRuntime | undefined;

/**
 * The one runtime no run uses, shared by the idle instances that keep the engine's hidden
 * classes alive between runs (see `keepShape`); made, and its parts kept, on first use.
 */
export function idleRuntime(): StageRuntime {
  if (idle !== undefined) return idle;
  const env = keepShape(new RunEnv(""));
  keepShape(env.events);
  keepShape(env.split);
  const metrics = new StageMetrics("", "", "", undefined, undefined, undefined);
  idle = keepShape(new StageRuntime("", env, metrics, false, () => ({})));
  return idle;
}
