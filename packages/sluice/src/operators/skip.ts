import type { Chunk, Puller } from "../engine/chunk.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { nonNegativeInt } from "./options.js";

/** Drops the first `n` items and passes the rest. */
export function skipStage(key: string, n: number): StageSpec {
  const count = nonNegativeInt(n, "n", key);
  return {
    key,
    kind: "skip",
    readsState: false,
    create: (upstream, rt) => new SkipStage(upstream, rt, count),
  };
}

class SkipStage extends Stage {
  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private toSkip: number,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    for (;;) {
      const chunk = await this.upstream.pull(
        this.toSkip > 0 ? Math.max(demand, this.toSkip) : demand,
      );
      if (chunk === null) return null;
      let { values, lins } = chunk;
      if (this.toSkip > 0) {
        const drop = Math.min(this.toSkip, values.length);
        this.toSkip -= drop;
        const acks = this.rt.env.acks;
        if (acks !== undefined) for (let i = 0; i < drop; i++) acks.release(lins?.[i], "filtered");
        values = values.slice(drop);
        lins = lins?.slice(drop);
      }
      if (values.length === 0) continue;
      return passThrough(this.rt.key, this.rt.track, values, lins);
    }
  }
}
