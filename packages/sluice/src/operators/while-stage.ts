import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { isThenable } from "../engine/chunk.js";
import { ItemContextImpl } from "../engine/item-context.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { PullingStage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { wantsContext } from "./item-stage.js";
import { requireFunction } from "./options.js";

/** A predicate of `takeWhile` / `skipWhile`; it may be async. */
export type WhilePredicate = (item: unknown, ctx: ItemContextImpl | undefined) => unknown;

/**
 * The shared core of `takeWhile` and `skipWhile`: both scan for the first item whose
 * predicate is false. A predicate that throws fails the run (there is no item to skip to).
 */
export function whileStage(
  key: string,
  kind: "takeWhile" | "skipWhile",
  predicate: WhilePredicate,
): StageSpec {
  requireFunction(predicate, "predicate", key);
  const wantsCtx = wantsContext(predicate);
  return {
    key,
    kind,
    readsState: wantsCtx,
    create: (upstream, rt) =>
      new WhileStage(upstream, rt, predicate, wantsCtx, kind === "takeWhile"),
  };
}

class WhileStage extends PullingStage {
  private switched = false;
  private index = 0;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly predicate: WhilePredicate,
    private readonly wantsCtx: boolean,
    private readonly taking: boolean,
  ) {
    super(upstream, [rt]);
  }

  protected async produce(demand: number): Promise<Chunk | null> {
    for (;;) {
      if (this.closed) return null;
      if (this.taking && this.switched) {
        await this.upstream.cancel();
        return null;
      }
      const chunk = await this.upstream.pull(demand);
      if (chunk === null) return null;
      const { values, lins } = chunk;
      const wasSwitched = this.switched;
      // `cut` is the position of the first item whose predicate is false in this chunk.
      let cut = wasSwitched ? 0 : values.length;
      if (!wasSwitched) {
        for (let i = 0; i < values.length; i++) {
          const lin: Lineage | null = lins?.[i] ?? null;
          const ctx = this.wantsCtx ? new ItemContextImpl(this.index, 1, lin, this.rt) : undefined;
          this.index++;
          let keep: unknown;
          try {
            if (this.closed) return null;
            keep = this.predicate(values[i], ctx);
            if (isThenable(keep)) keep = await keep;
          } finally {
            ctx?.release();
          }
          if (this.closed) return null;
          if (!keep) {
            this.switched = true;
            cut = i;
            break;
          }
        }
      }
      // takeWhile keeps what precedes the cut; skipWhile keeps the cut item and what follows.
      const from = this.taking ? 0 : cut;
      const to = this.taking ? cut : values.length;
      // What takeWhile cuts off stays unacknowledged (the run ends there); what skipWhile
      // skips was dropped.
      const acks = this.rt.env.acks;
      if (acks !== undefined && !this.taking) {
        for (let i = 0; i < from; i++) acks.release(lins?.[i], "filtered");
      }
      if (this.taking && this.switched) this.upstream.cancel().catch(() => {});
      const outValues = from === 0 && to === values.length ? values : values.slice(from, to);
      const outLins = from === 0 && to === values.length ? lins : lins?.slice(from, to);
      if (outValues.length === 0) continue;
      return passThrough(this.rt.key, this.rt.track, outValues, outLins);
    }
  }
}
