import type { Lineage } from "./chunk.js";
import { idleRuntime, type StageRuntime } from "./run-env.js";
import { keepShape } from "./shapes.js";

/**
 * What a per-item function receives as its second argument.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<string>()
 *   .map("len", (s) => s.length)
 *   .map("label", (n, ctx) => `${ctx.index}: ${n} (from "${ctx.state.len}")`);
 * ```
 */
export interface ItemContext<TState = unknown, TContext = unknown> {
  /** The item's position in the stage's input. */
  readonly index: number;
  /** 1 on the first attempt, then 2, 3, … when retried. */
  readonly attempt: number;
  /** What this item's lineage produced at earlier keys, plus the checkpoint snapshot API. */
  readonly state: TState;
  /** The run's context, built once per run by the context builder. */
  readonly context: TContext;
  /**
   * This call's own signal: aborted when the run is cancelled, fails fast, or a downstream
   * `take` is satisfied while the call is in flight. Calls in flight at once never share
   * one; on Node, a signal whose call settled with no listener left on it may serve a later
   * call (building one there costs several microseconds).
   */
  readonly signal: AbortSignal;
  /** The run's trace id (W3C format). */
  readonly traceId: string;
  /** The stage's span id. */
  readonly spanId: string;
}

/** The engine's implementation: fields for what changes per item, getters for the rest. */
export class ItemContextImpl implements ItemContext {
  private stateView: object | undefined;
  private controller: AbortController | undefined;

  constructor(
    readonly index: number,
    readonly attempt: number,
    private readonly lin: Lineage | null,
    private readonly rt: StageRuntime,
  ) {}

  get state(): object {
    this.stateView ??= this.rt.stateOf(this.lin);
    return this.stateView;
  }
  get context(): unknown {
    return this.rt.env.context;
  }
  /** Created on first use: functions that never look at it cost no controller. */
  get signal(): AbortSignal {
    this.controller ??= this.rt.itemController();
    return this.controller.signal;
  }

  /** Called when the item's call has settled. */
  release(): void {
    if (this.controller !== undefined) this.rt.releaseItem(this.controller);
  }
  get traceId(): string {
    return this.rt.env.traceId;
  }
  get spanId(): string {
    return this.rt.metrics.spanId;
  }
}

keepShape(new ItemContextImpl(0, 1, null, idleRuntime()));
