import { now } from "../engine/chunk.js";
import { LatencyHistogram } from "./histogram.js";
import type { StageMetadata } from "./metadata.js";

/** Live counters of one stage in one run; cheap enough to update per chunk. */
export class StageMetrics {
  startedAt: number | undefined;
  endedAt: number | undefined;
  private startedPerf = 0;
  private endedPerf = 0;
  in = 0;
  out = 0;
  succeeded = 0;
  failed = 0;
  skipped = 0;
  retried = 0;
  inFlight = 0;
  maxInFlight = 0;
  readonly timings = new LatencyHistogram();

  constructor(
    readonly key: string,
    readonly kind: string,
    readonly spanId: string,
    readonly stepName: string | undefined,
    readonly strategy: string | undefined,
    readonly concurrency: number | undefined,
  ) {}

  /** Marks the first pull. */
  start(): void {
    if (this.startedAt === undefined) {
      this.startedAt = Date.now();
      this.startedPerf = now();
    }
  }

  /** Marks the end (completion, failure or cancellation); the first call wins. */
  end(): void {
    if (this.startedAt !== undefined && this.endedAt === undefined) {
      this.endedAt = Date.now();
      this.endedPerf = now();
    }
  }

  enter(): void {
    if (++this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
  }

  leave(): void {
    this.inFlight--;
  }

  snapshot(): StageMetadata {
    const durationMs =
      this.startedAt === undefined
        ? undefined
        : (this.endedAt === undefined ? now() : this.endedPerf) - this.startedPerf;
    return {
      key: this.key,
      kind: this.kind,
      stepName: this.stepName,
      spanId: this.spanId,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      durationMs,
      counts: {
        in: this.in,
        out: this.out,
        succeeded: this.succeeded,
        failed: this.failed,
        skipped: this.skipped,
        retried: this.retried,
      },
      inFlight: this.inFlight,
      maxInFlight: this.maxInFlight,
      timings: this.timings.summary(),
      strategy: this.strategy,
      concurrency: this.concurrency,
    };
  }
}
