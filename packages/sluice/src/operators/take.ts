import type { Chunk, Puller } from "../engine/chunk.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { nonNegativeInt } from "./options.js";

/**
 * Passes the first `n` items, then cancels everything upstream: in-flight calls there see
 * their signal abort and sources are closed, while stages after `take` finish their work.
 */
export function takeStage(key: string, n: number): StageSpec {
  const count = nonNegativeInt(n, "n", key);
  return {
    key,
    kind: "take",
    readsState: false,
    create: (upstream, rt) => new TakeStage(upstream, rt, count),
  };
}

class TakeStage extends Stage {
  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private remaining: number,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    if (this.remaining <= 0) {
      await this.upstream.cancel();
      return null;
    }
    const chunk = await this.upstream.pull(Math.min(demand, this.remaining));
    if (chunk === null) return null;
    let { values, lins } = chunk;
    if (values.length > this.remaining) {
      values = values.slice(0, this.remaining);
      lins = lins?.slice(0, this.remaining);
    }
    this.remaining -= values.length;
    // Upstream stops now, at once; the run waits for it to settle at its end.
    if (this.remaining === 0) this.upstream.cancel().catch(() => {});
    return passThrough(this.rt.key, this.rt.track, values, lins);
  }
}
