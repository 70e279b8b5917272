import { type Chunk, isThenable, type Lineage, newChunk, now, type Puller } from "./chunk.js";
import { ChunkBudget } from "./chunk-budget.js";
import { emitOne } from "./emit.js";
import type { ItemContextImpl } from "./item-context.js";
import { EmitMode, type ItemOp, ItemWorker, type Recovered, SKIPPED } from "./item-worker.js";
import type { StageRuntime } from "./run-env.js";

/** Why the sync loop stopped before the end of the chunk. */
const AWAIT = 1;
const THREW = 2;

/**
 * A per-item stage with one item in flight (concurrency 1). Sync results run in a plain
 * loop over the chunk (kept out of the async function, whose locals would otherwise live
 * in a heap-allocated frame); a promise or a throw hands over to the async path.
 */
export class SequentialItemStage extends ItemWorker implements Puller {
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
  /** The context of an item whose result is being awaited, released when it settles. */
  private stopCtx: ItemContextImpl | undefined;
  private current: Promise<unknown> | null = null;
  private readonly budget = new ChunkBudget();
  private cancelling: Promise<void> | undefined;
  /** A FAIL_FAST error held back while the outputs of earlier items go downstream. */
  private deferred: { error: unknown } | undefined;

  constructor(
    private readonly upstream: Puller,
    rt: StageRuntime,
    op: ItemOp,
  ) {
    super(rt, op);
    rt.metrics.buffered = () => Math.max(0, this.vals.length - this.pos);
  }

  async pull(demand: number): Promise<Chunk | null> {
    const m = this.rt.metrics;
    m.start();
    for (;;) {
      if (this.closed) return null;
      if (this.deferred !== undefined) throw this.deferred.error;
      if (this.pos >= this.vals.length) {
        const chunk = await this.upstream.pull(demand);
        if (chunk === null || this.closed) {
          if (chunk === null) m.end();
          return null;
        }
        this.vals = chunk.values;
        this.lins = chunk.lins;
        this.pos = 0;
        m.in += chunk.values.length;
      }
      const out = newChunk(this.rt.track);
      const t0 = now();
      this.budget.begin(t0);
      const startPos = this.pos;
      let awaited = false;
      this.ok = 0;
      for (;;) {
        const stop = this.runSync(out);
        if (stop === 0) break;
        let result: unknown;
        let failed = stop === THREW;
        const { stopItem: item, stopLin: lin, stopIndex: index } = this;
        if (!failed) {
          awaited = true;
          const p = Promise.resolve(this.stopValue);
          this.current = p;
          m.enter();
          try {
            result = await p;
            m.succeeded++;
          } catch (error) {
            failed = true;
            this.stopValue = error;
          } finally {
            this.current = null;
            m.leave();
            this.stopCtx?.release();
            this.stopCtx = undefined;
          }
        }
        if (this.closed) return null;
        if (failed) {
          let recovered: Recovered;
          try {
            recovered = await this.recover(item, index, lin, this.stopValue);
          } catch (error) {
            // Items before the failing one were processed: they leave first, as they would
            // have one by one, and the error is thrown at the next pull.
            if (out.values.length === 0) throw error;
            this.deferred = { error };
            break;
          }
          if (this.closed) return null;
          if (recovered === SKIPPED) continue;
          result = recovered.value;
        }
        emitOne(this.op.mode, this.rt.key, item, result, lin, out);
        if (awaited && out.values.length > 0 && this.budget.spent()) break;
      }
      m.succeeded += this.ok;
      const processed = this.pos - startPos;
      // Sync work is timed per chunk: a clock read per item would cost more than the work.
      if (m.timed && processed > 0) m.timings.record((now() - t0) / processed, processed);
      if (this.pos >= this.vals.length) this.vals = [];
      if (out.values.length > 0) {
        m.out += out.values.length;
        return out;
      }
    }
  }

  /**
   * Processes items while their results are sync. Returns 0 at the end of the chunk, AWAIT
   * when a result is a promise and THREW when the function threw; the item is in `stop*`.
   */
  private runSync(out: Chunk): number {
    if (!this.op.wantsCtx && out.lins === undefined) return this.runSyncPlain(out.values);
    const { op, rt, vals, lins } = this;
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
        const ctx = wantsCtx ? this.ctx(index, 1, lin) : undefined;
        try {
          result = invoke(item, ctx);
        } catch (error) {
          ctx?.release();
          this.setStop(item, lin, index++, error);
          return THREW;
        }
        if (isThenable(result)) {
          this.setStop(item, lin, index++, result);
          this.stopCtx = ctx;
          return AWAIT;
        }
        ctx?.release();
        index++;
        ok++;
        emitOne(mode, key, item, result, lin, out);
      }
      return 0;
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
  private runSyncPlain(values: unknown[]): number {
    const { vals } = this;
    const invoke = this.op.invoke as (item: unknown) => unknown;
    const mode = this.op.mode;
    const start = this.pos;
    const n = vals.length;
    let pos = start;
    let result: unknown;
    let stop = 0;
    try {
      if (mode === EmitMode.MAP) {
        for (; pos < n; pos++) {
          result = invoke(vals[pos]);
          if (typeof result === "object" || typeof result === "function") {
            if (result !== null && typeof (result as { then?: unknown }).then === "function") break;
          }
          values.push(result);
        }
      } else if (mode === EmitMode.FILTER) {
        for (; pos < n; pos++) {
          const item = vals[pos];
          result = invoke(item);
          if (typeof result === "object" || typeof result === "function") {
            if (result !== null && typeof (result as { then?: unknown }).then === "function") break;
          }
          if (result) values.push(item);
        }
      } else {
        for (; pos < n; pos++) {
          const item = vals[pos];
          result = invoke(item);
          if (isThenable(result)) break;
          emitOne(mode, this.rt.key, item, result, null, { values, lins: undefined });
        }
      }
      if (pos < n) stop = AWAIT;
    } catch (error) {
      result = error;
      stop = THREW;
    }
    this.ok += pos - start;
    this.nextIndex += pos - start;
    if (stop !== 0) {
      this.setStop(vals[pos], null, this.nextIndex++, result);
      this.pos = pos + 1;
    } else {
      this.pos = pos;
    }
    return stop;
  }

  private setStop(item: unknown, lin: Lineage | null, index: number, value: unknown): void {
    this.stopItem = item;
    this.stopLin = lin;
    this.stopIndex = index;
    this.stopValue = value;
  }

  cancel(): Promise<void> {
    this.cancelling ??= (async () => {
      this.closed = true;
      this.rt.abort();
      this.rt.metrics.end("cancelled");
      const current = this.current;
      if (current !== null) await current.then(noop, noop);
      this.vals = [];
      await this.upstream.cancel();
    })();
    return this.cancelling;
  }
}

function noop(): void {}
