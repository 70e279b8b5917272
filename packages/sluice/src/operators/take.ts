import type { Chunk, Puller } from "../engine/chunk.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
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

class TakeStage implements Puller {
  private upstreamClosed: Promise<void> | undefined;

  constructor(
    private readonly upstream: Puller,
    private readonly rt: StageRuntime,
    private remaining: number,
  ) {}

  async pull(demand: number): Promise<Chunk | null> {
    const m = this.rt.metrics;
    m.start();
    if (this.remaining <= 0) {
      await this.closeUpstream();
      m.end();
      return null;
    }
    const chunk = await this.upstream.pull(Math.min(demand, this.remaining));
    if (chunk === null) {
      m.end();
      return null;
    }
    m.in += chunk.values.length;
    let { values, lins } = chunk;
    if (values.length > this.remaining) {
      values = values.slice(0, this.remaining);
      lins = lins?.slice(0, this.remaining);
    }
    this.remaining -= values.length;
    // Closing starts now, so upstream stops working at once; the run waits for it at its end.
    if (this.remaining === 0) this.closeUpstream().catch(() => {});
    m.out += values.length;
    return passThrough(this.rt.key, this.rt.track, values, lins);
  }

  cancel(): Promise<void> {
    this.rt.metrics.end("cancelled");
    return this.closeUpstream();
  }

  private closeUpstream(): Promise<void> {
    this.upstreamClosed ??= this.upstream.cancel();
    return this.upstreamClosed;
  }
}
