import { type Chunk, isThenable, type Lineage, newChunk, now, type Puller } from "./chunk.js";
import { ChunkBudget } from "./chunk-budget.js";
import { emitOne } from "./emit.js";
import type { ItemContextImpl } from "./item-context.js";
import { EmitMode, type ItemOp, ItemRecovery, type Recovered, SKIPPED } from "./item-worker.js";
import { LoopStop } from "./loop-stop.js";
import { idleRuntime, type StageRuntime } from "./run-env.js";
import { idleItemOp, idlePuller, keepShape } from "./shapes.js";
import { PullingStage } from "./stage.js";

/**
 * A per-item stage with one item in flight (concurrency 1). Sync results run in a plain
 * loop over the chunk (kept out of the async function, whose locals would otherwise live
 * in a heap-allocated frame); a promise or a throw hands over to the async path.
 */
export class SequentialItemStage extends PullingStage {
  private vals: unknown[] = [];
  private lins: (Lineage | null)[] | undefined;
  private pos = 0;
  private nextIndex = 0;
  private ok = 0;
  /** Set by the sync loop when it stops early: the item, its lineage and index, and why. */
  private stopItem: unknown;
  private stopLin: Lineage | null = null;
  private stopIndex = 0;
  private stopValue: unknown;
  private stopT0 = 0;
  /** The context of an item whose result is being awaited, released when it settles. */
  private stopCtx: ItemContextImpl | undefined;
  private readonly budget = new ChunkBudget();
  private readonly recovery: ItemRecovery;
  /** With `itemEvents` on, every item is timed on its own and reported. */
  private readonly perItem: boolean;
  /** A FAIL_FAST error held back while the outputs of earlier items go downstream. */
  private deferred: { error: unknown } | undefined;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly op: ItemOp,
  ) {
    super(upstream, [rt]);
    this.recovery = new ItemRecovery(rt, op);
    this.perItem = rt.env.events.itemEvents;
    rt.metrics.buffered = () => Math.max(0, this.vals.length - this.pos);
  }

  protected async produce(demand: number): Promise<Chunk | null> {
    const m = this.rt.metrics;
    for (;;) {
      if (this.closed) return null;
      if (this.deferred !== undefined) throw this.deferred.error;
      if (this.pos >= this.vals.length) {
        const chunk = await this.upstream.pull(demand);
        if (chunk === null || this.closed) return null;
        this.vals = chunk.values;
        this.lins = chunk.lins;
        this.pos = 0;
      }
      const out = newChunk(this.rt.track);
      const t0 = now();
      this.budget.begin(t0);
      const startPos = this.pos;
      let awaited = false;
      this.ok = 0;
      for (;;) {
        const stop = this.runSync(out);
        if (stop === LoopStop.NONE) break;
        let result: unknown;
        let failed = stop === LoopStop.THREW;
        const { stopItem: item, stopLin: lin, stopIndex: index, stopT0: itemT0 } = this;
        if (!failed) {
          awaited = true;
          m.enter();
          try {
            result = await this.stopValue;
            m.succeeded++;
          } catch (error) {
            failed = true;
            this.stopValue = error;
          } finally {
            m.leave();
            this.stopCtx?.release();
            this.stopCtx = undefined;
          }
        }
        if (this.closed) return null;
        if (failed) {
          let recovered: Recovered;
          try {
            recovered = await this.recovery.recover(item, index, lin, this.stopValue);
          } catch (error) {
            // Items before the failing one were processed: they leave first, as they would
            // have one by one, and the error is thrown at the next pull.
            if (out.values.length === 0) throw error;
            this.deferred = { error };
            break;
          }
          if (this.closed) return null;
          if (this.perItem) this.rt.itemDone(index, now() - itemT0, lin);
          if (recovered === SKIPPED) continue;
          result = recovered.value;
        } else if (this.perItem) this.rt.itemDone(index, now() - itemT0, lin);
        emitOne(this.op.mode, this.rt.key, item, result, lin, out, this.rt.env.acks);
        if (awaited && out.values.length > 0 && this.budget.spent()) break;
      }
      m.succeeded += this.ok;
      const processed = this.pos - startPos;
      // Sync work is timed per chunk: a clock read per item would cost more than the work.
      if (m.timed && !this.perItem && processed > 0) {
        m.timings.record((now() - t0) / processed, processed);
      }
      if (this.closed) return null;
      if (this.pos >= this.vals.length) this.vals = [];
      if (out.values.length > 0) return out;
    }
  }

  /**
   * Processes items while their results are sync, until the end of the chunk (NONE), a
   * promise (AWAIT) or a throw (THREW); the item that stopped it is in `stop*`. Stops early,
   * at NONE, if a call stopped the stage (a function that aborts the run's signal).
   */
  private runSync(out: Chunk): LoopStop {
    if (!this.op.wantsCtx && out.lins === undefined && !this.perItem) {
      return this.runSyncPlain(out.values);
    }
    const { op, rt, vals, lins, perItem } = this;
    const { mode, wantsCtx, invoke } = op;
    const key = rt.key;
    let pos = this.pos;
    let index = this.nextIndex;
    let ok = 0;
    try {
      while (pos < vals.length) {
        const item = vals[pos];
        const lin = lins === undefined ? null : (lins[pos] ?? null);
        pos++;
        let result: unknown;
        const ctx = wantsCtx ? this.recovery.ctx(index, 1, lin) : undefined;
        const t0 = perItem ? now() : 0;
        try {
          result = invoke(item, ctx);
        } catch (error) {
          ctx?.release();
          this.setStop(item, lin, index++, error, t0);
          return LoopStop.THREW;
        }
        if (isThenable(result)) {
          this.setStop(item, lin, index++, result, t0);
          this.stopCtx = ctx;
          return LoopStop.AWAIT;
        }
        ctx?.release();
        if (perItem) rt.itemDone(index, now() - t0, lin);
        index++;
        ok++;
        emitOne(mode, key, item, result, lin, out, rt.env.acks);
      }
      return LoopStop.NONE;
    } finally {
      this.pos = pos;
      this.nextIndex = index;
      this.ok += ok;
    }
  }

  /**
   * The hot loop for functions that take only the item, with no lineage to record: one loop
   * per emit mode, so the per-item work is the user's call, a type test and a push.
   */
  private runSyncPlain(values: unknown[]): LoopStop {
    const { vals } = this;
    const invoke = this.op.invoke as (item: unknown) => unknown;
    const mode = this.op.mode;
    const start = this.pos;
    let pos = start;
    let item: unknown;
    let result: unknown;
    // Set before leaving a loop, not judged from `pos` afterwards: a call that stopped the
    // stage has emptied the chunk, and its promise must still be awaited.
    let stop: LoopStop = LoopStop.NONE;
    try {
      if (mode === EmitMode.MAP) {
        for (; pos < vals.length; pos++) {
          item = vals[pos];
          result = invoke(item);
          if (typeof result === "object" || typeof result === "function") {
            if (result !== null && typeof (result as { then?: unknown }).then === "function") {
              stop = LoopStop.AWAIT;
              break;
            }
          }
          values.push(result);
        }
      } else if (mode === EmitMode.FILTER) {
        for (; pos < vals.length; pos++) {
          item = vals[pos];
          result = invoke(item);
          if (typeof result === "object" || typeof result === "function") {
            if (result !== null && typeof (result as { then?: unknown }).then === "function") {
              stop = LoopStop.AWAIT;
              break;
            }
          }
          if (result) values.push(item);
        }
      } else {
        for (; pos < vals.length; pos++) {
          item = vals[pos];
          result = invoke(item);
          if (isThenable(result)) {
            stop = LoopStop.AWAIT;
            break;
          }
          emitOne(mode, this.rt.key, item, result, null, { values, lins: undefined });
        }
      }
    } catch (error) {
      result = error;
      stop = LoopStop.THREW;
    }
    this.ok += pos - start;
    this.nextIndex += pos - start;
    if (stop !== LoopStop.NONE) {
      this.setStop(item, null, this.nextIndex++, result, 0);
      this.pos = pos + 1;
    } else {
      this.pos = pos;
    }
    return stop;
  }

  private setStop(
    item: unknown,
    lin: Lineage | null,
    index: number,
    value: unknown,
    t0: number,
  ): void {
    this.stopItem = item;
    this.stopLin = lin;
    this.stopIndex = index;
    this.stopValue = value;
    this.stopT0 = t0;
  }

  /**
   * Empties the chunk in hand: the sync loops read its length per item, so a call that
   * stops the run from inside (by aborting its signal) is the last one they make.
   */
  protected override onStop(): void {
    this.vals.length = 0;
  }

  protected override release(): void {
    this.vals = [];
  }
}

keepShape(new SequentialItemStage(idlePuller, idleRuntime(), idleItemOp));
