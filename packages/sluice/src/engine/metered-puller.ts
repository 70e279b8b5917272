import { StepError } from "../errors/step-error.js";
import { wrapFailure } from "../errors/to-error.js";
import type { StageMetrics } from "../metrics/stage-metrics.js";
import { type Chunk, now, type Puller } from "./chunk.js";

/**
 * Wraps every stage. It reports an error the stage throws to the run at once (a stage
 * busy downstream would otherwise only see it at its next pull), and, with metrics on,
 * measures the stage from the outside, per chunk: time waiting on upstream (charged to the
 * stage that asked), time blocked until downstream asks again, time to first output, and
 * busy time for stages that do not count it from their in-flight items.
 */
export class MeteredPuller implements Puller {
  private lastReturn = 0;

  constructor(
    private readonly inner: Puller,
    /** The stages this puller runs (one, or a fused group; none for the source). */
    private readonly own: readonly StageMetrics[],
    /** The stage that pulls from this one. */
    private readonly downstream: StageMetrics | undefined,
    /** Whether to read clocks (metrics on). */
    private readonly timed: boolean,
    /** Told about an error a stage throws, so the whole run stops at once. */
    private readonly onFatal: (error: unknown) => void,
    private readonly traceId: string,
  ) {}

  async pull(demand: number): Promise<Chunk | null> {
    if (!this.timed) {
      try {
        return await this.inner.pull(demand);
      } catch (error) {
        throw this.failed(error);
      }
    }
    const t = now();
    const last = this.own[this.own.length - 1];
    if (last !== undefined && this.lastReturn !== 0)
      last.blockedDownstreamMs += t - this.lastReturn;
    const waitedBefore = this.own[0]?.waitingUpstreamMs ?? 0;
    let chunk: Chunk | null;
    try {
      chunk = await this.inner.pull(demand);
    } catch (error) {
      throw this.failed(error);
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

  /**
   * An error from a stage that is not already a `StepError` (a source that threw, a
   * streaming step, a predicate or `weigh`) gets the stage's key and a code, its original
   * kept as the cause, so every error out of a run is a `StreamingError`.
   */
  private failed(error: unknown): unknown {
    for (const m of this.own) m.end("failed");
    const last = this.own[this.own.length - 1];
    const wrapped =
      error instanceof StepError
        ? error
        : wrapFailure(error, { key: last?.key ?? "source", traceId: this.traceId }, false);
    this.onFatal(wrapped);
    return wrapped;
  }

  cancel(): Promise<void> {
    return this.inner.cancel();
  }
}
