import type { StageMetrics } from "../metrics/stage-metrics.js";
import { type Chunk, now, type Puller } from "./chunk.js";

/**
 * Measures a stage from the outside, per chunk: time waiting on upstream (charged to the
 * stage that asked), time blocked until downstream asks again, time to first output, and
 * busy time for stages that do not count it from their in-flight items. Two clock reads
 * per chunk; absent when metrics are off.
 */
export class MeteredPuller implements Puller {
  private lastReturn = 0;

  constructor(
    private readonly inner: Puller,
    /** The stages this puller runs (one, or a fused group; none for the source). */
    private readonly own: readonly StageMetrics[],
    /** The stage that pulls from this one. */
    private readonly downstream: StageMetrics | undefined,
  ) {}

  async pull(demand: number): Promise<Chunk | null> {
    const t = now();
    const last = this.own[this.own.length - 1];
    if (last !== undefined && this.lastReturn !== 0)
      last.blockedDownstreamMs += t - this.lastReturn;
    const waitedBefore = this.own[0]?.waitingUpstreamMs ?? 0;
    let chunk: Chunk | null;
    try {
      chunk = await this.inner.pull(demand);
    } catch (error) {
      for (const m of this.own) m.end("failed");
      throw error;
    }
    const t2 = now();
    this.lastReturn = t2;
    if (this.downstream !== undefined) this.downstream.waitingUpstreamMs += t2 - t;
    const first = this.own[0];
    if (first !== undefined && !first.busyFromInFlight) {
      const busy = t2 - t - (first.waitingUpstreamMs - waitedBefore);
      for (const m of this.own) m.busyMs += busy;
    }
    if (chunk !== null) last?.firstOutput();
    return chunk;
  }

  cancel(): Promise<void> {
    return this.inner.cancel();
  }
}
