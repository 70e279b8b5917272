import { type Chunk, now, type Puller } from "./chunk.js";
import { ChunkBudget } from "./chunk-budget.js";
import {
  type FusedLoop,
  type FusedResume,
  type FusedStop,
  fusedGroup,
  STOP_AWAIT,
  STOP_NONE,
  STOP_THREW,
} from "./fused-loop.js";
import { EmitMode, type ItemOp, ItemWorker, type Recovered, SKIPPED } from "./item-worker.js";
import type { StageRuntime } from "./run-env.js";

/** One stage of a fused group: its retry and error strategy, reachable from the group. */
class GroupMember extends ItemWorker {
  close(): void {
    this.closed = true;
  }
  retryItem(item: unknown, index: number, error: unknown): Promise<Recovered> {
    return this.recover(item, index, null, error);
  }
}

/**
 * Adjacent sequential map / filter / tap stages that take only the item and record no
 * lineage, run as one loop: each item goes through every stage before the next item, and
 * the stages' per-item costs are one inlined call each. A stage that returns a promise or
 * throws hands that one item to the slow path (await, retry, error strategy), then the
 * loop resumes. Each stage keeps its own metrics, key and error reports.
 */
export class FusedItemStage implements Puller {
  private readonly members: GroupMember[];
  private readonly loop: FusedLoop;
  private readonly resume: FusedResume;
  private readonly counts: number[];
  private readonly stop: FusedStop = { kind: 0, stage: 0, item: undefined, value: undefined };
  private readonly budget = new ChunkBudget();
  private vals: unknown[] = [];
  private pos = 0;
  private closed = false;
  private current: Promise<unknown> | null = null;
  private cancelling: Promise<void> | undefined;
  /** A FAIL_FAST error held back while the outputs of earlier items go downstream. */
  private deferred: { error: unknown } | undefined;

  constructor(
    private readonly upstream: Puller,
    private readonly rts: readonly StageRuntime[],
    private readonly ops: readonly ItemOp[],
  ) {
    this.members = rts.map((rt, i) => new GroupMember(rt, ops[i] as ItemOp));
    this.counts = rts.map(() => 0);
    ({ loop: this.loop, resume: this.resume } = fusedGroup(
      ops.map((o) => o.mode),
      ops.map((o) => o.invoke as (item: unknown) => unknown),
    ));
  }

  async pull(demand: number): Promise<Chunk | null> {
    for (const rt of this.rts) rt.metrics.start();
    for (;;) {
      if (this.closed) return null;
      if (this.deferred !== undefined) throw this.deferred.error;
      if (this.pos >= this.vals.length) {
        const chunk = await this.upstream.pull(demand);
        if (chunk === null || this.closed) {
          if (chunk === null) for (const rt of this.rts) rt.metrics.end();
          return null;
        }
        this.vals = chunk.values;
        this.pos = 0;
      }
      const out: unknown[] = [];
      const t0 = now();
      this.budget.begin(t0);
      const before = this.counts.slice();
      let awaited = false;
      for (;;) {
        this.pos = this.loop(this.vals, this.pos, out, this.counts, this.stop);
        if (this.stop.kind === STOP_NONE) break;
        this.pos++;
        // The slow path, for the one item that stopped the loop. Kept inline rather than in
        // a helper: an async call per item would cost as much as the await it wraps.
        let { kind, stage: s, item: cur, value } = this.stop;
        for (;;) {
          if (kind === STOP_AWAIT) {
            awaited = true;
            this.current = value as Promise<unknown>;
            try {
              value = await value;
              kind = STOP_NONE;
            } catch (error) {
              kind = STOP_THREW;
              value = error;
            }
            this.current = null;
          }
          if (this.closed) return null;
          if (kind === STOP_THREW) {
            const member = this.members[s] as GroupMember;
            let recovered: Recovered;
            try {
              recovered = await member.retryItem(cur, (this.counts[s] ?? 1) - 1, value);
            } catch (error) {
              // As in the sequential stage: earlier items' outputs leave first.
              if (out.length === 0) throw error;
              this.deferred = { error };
              break;
            }
            if (this.closed) return null;
            if (recovered === SKIPPED) break;
            value = recovered.value;
          }
          const mode = (this.ops[s] as ItemOp).mode;
          if (mode === EmitMode.MAP) cur = value;
          else if (mode === EmitMode.FILTER && !value) break;
          if (s + 1 >= this.ops.length) {
            out.push(cur);
            break;
          }
          // The rest of the stages run in the group's generated code, where each call site
          // sees one function, not in a call here that would see every stage's.
          const stop = this.stop;
          this.resume(s + 1, cur, out, this.counts, stop);
          if (stop.kind === STOP_NONE) break;
          ({ kind, stage: s, item: cur, value } = stop);
        }
        if (this.deferred !== undefined) break;
        if (awaited && out.length > 0 && this.budget.spent()) break;
      }
      if (this.pos >= this.vals.length) this.vals = [];
      this.account(before, out.length, now() - t0);
      if (out.length > 0) return { values: out, lins: undefined };
    }
  }

  /** Per-stage counts: stage j's output is what entered stage j + 1. */
  private account(before: readonly number[], emitted: number, elapsed: number): void {
    const k = this.rts.length;
    for (let j = 0; j < k; j++) {
      const m = (this.rts[j] as StageRuntime).metrics;
      const entered = (this.counts[j] ?? 0) - (before[j] ?? 0);
      m.in += entered;
      m.out += j + 1 < k ? (this.counts[j + 1] ?? 0) - (before[j + 1] ?? 0) : emitted;
      m.succeeded = m.in - m.failed;
      // The group is timed as a whole: each stage records the chunk's mean per item.
      if (entered > 0 && m.timed) m.timings.record(elapsed / k / entered, entered);
    }
  }

  cancel(): Promise<void> {
    this.cancelling ??= (async () => {
      this.closed = true;
      for (const member of this.members) member.close();
      for (const rt of this.rts) {
        rt.abort();
        rt.metrics.end("cancelled");
      }
      const current = this.current;
      if (current !== null) await current.then(noop, noop);
      this.vals = [];
      await this.upstream.cancel();
    })();
    return this.cancelling;
  }
}

function noop(): void {}
