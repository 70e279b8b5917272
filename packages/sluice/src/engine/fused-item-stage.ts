import { type Chunk, now, type Puller } from "./chunk.js";
import { ChunkBudget } from "./chunk-budget.js";
import { type FusedLoop, type FusedResume, type FusedStop, fusedGroup } from "./fused-loop.js";
import { EmitMode, type ItemOp, ItemRecovery, type Recovered, SKIPPED } from "./item-worker.js";
import { LoopStop } from "./loop-stop.js";
import type { StageRuntime } from "./run-env.js";
import { PullingStage } from "./stage.js";

/**
 * Adjacent sequential map / filter / tap stages that take only the item and record no
 * lineage, run as one loop: each item goes through every stage before the next item, and
 * the stages' per-item costs are one inlined call each. A stage that returns a promise or
 * throws hands that one item to the slow path (await, retry, error strategy), then the
 * loop resumes. Each stage keeps its own metrics, key and error reports.
 */
export class FusedItemStage extends PullingStage {
  private readonly members: ItemRecovery[];
  private readonly loop: FusedLoop;
  private readonly resume: FusedResume;
  private readonly counts: number[];
  private readonly stopAt: FusedStop = {
    kind: LoopStop.NONE,
    stage: 0,
    item: undefined,
    value: undefined,
  };
  private readonly budget = new ChunkBudget();
  private vals: unknown[] = [];
  private pos = 0;
  /** A FAIL_FAST error held back while the outputs of earlier items go downstream. */
  private deferred: { error: unknown } | undefined;

  constructor(
    upstream: Puller,
    private readonly rts: readonly StageRuntime[],
    private readonly ops: readonly ItemOp[],
  ) {
    super(upstream, rts);
    this.members = rts.map((rt, i) => new ItemRecovery(rt, ops[i] as ItemOp));
    this.counts = rts.map(() => 0);
    ({ loop: this.loop, resume: this.resume } = fusedGroup(
      ops.map((o) => o.mode),
      ops.map((o) => o.invoke as (item: unknown) => unknown),
    ));
  }

  protected async produce(demand: number): Promise<Chunk | null> {
    for (;;) {
      if (this.closed) return null;
      if (this.deferred !== undefined) throw this.deferred.error;
      if (this.pos >= this.vals.length) {
        const chunk = await this.upstream.pull(demand);
        if (chunk === null || this.closed) return null;
        this.vals = chunk.values;
        this.pos = 0;
      }
      const out: unknown[] = [];
      const t0 = now();
      this.budget.begin(t0);
      const before = this.counts.slice();
      let awaited = false;
      for (;;) {
        this.pos = this.loop(this.vals, this.pos, out, this.counts, this.stopAt);
        if (this.stopAt.kind === LoopStop.NONE) break;
        this.pos++;
        // The slow path, for the one item that stopped the loop. Kept inline rather than in
        // a helper: an async call per item would cost as much as the await it wraps.
        let { stage: s, item: cur, value } = this.stopAt;
        let kind: LoopStop = this.stopAt.kind;
        for (;;) {
          if (kind === LoopStop.AWAIT) {
            awaited = true;
            try {
              value = await value;
              kind = LoopStop.NONE;
            } catch (error) {
              kind = LoopStop.THREW;
              value = error;
            }
          }
          if (this.closed) return null;
          if (kind === LoopStop.THREW) {
            const member = this.members[s] as ItemRecovery;
            let recovered: Recovered;
            try {
              recovered = await member.recover(cur, (this.counts[s] ?? 1) - 1, null, value);
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
          const stop = this.stopAt;
          this.resume(s + 1, cur, out, this.counts, stop);
          if (stop.kind === LoopStop.NONE) break;
          ({ kind, stage: s, item: cur, value } = stop);
        }
        if (this.deferred !== undefined) break;
        if (awaited && out.length > 0 && this.budget.spent()) break;
      }
      if (this.closed) return null;
      if (this.pos >= this.vals.length) this.vals = [];
      this.account(before, now() - t0);
      if (out.length > 0) return { values: out, lins: undefined };
    }
  }

  /**
   * Per-stage counts inside the group: stage j's output is what entered stage j + 1. What
   * enters the first stage and leaves the last is counted by the metering wrapper.
   */
  private account(before: readonly number[], elapsed: number): void {
    const k = this.rts.length;
    for (let j = 0; j < k; j++) {
      const m = (this.rts[j] as StageRuntime).metrics;
      const entered = (this.counts[j] ?? 0) - (before[j] ?? 0);
      if (j > 0) m.in += entered;
      if (j + 1 < k) m.out += (this.counts[j + 1] ?? 0) - (before[j + 1] ?? 0);
      m.succeeded = (this.counts[j] ?? 0) - m.failed;
      // The group is timed as a whole: each stage records the chunk's mean per item.
      if (entered > 0 && m.timed) m.timings.record(elapsed / k / entered, entered);
    }
  }

  /** Empties the chunk in hand, so the loop makes no call after one that stopped the run. */
  protected override onStop(): void {
    this.vals.length = 0;
  }

  protected override release(): void {
    this.vals = [];
  }
}
