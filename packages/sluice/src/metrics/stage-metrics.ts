import { now } from "../engine/chunk.js";
import { keepShape } from "../engine/shapes.js";
import type { LimitMetrics } from "../limits/limit-metrics.js";
import type { EventSink } from "./events.js";
import { LatencyHistogram } from "./histogram.js";
import type { StageMetadata } from "./metadata.js";

/** How a stage ended. */
export type StageEnd = "completed" | "failed" | "cancelled";

/**
 * Live counters of one stage in one run; updated per chunk on sync paths and per item on
 * concurrent ones. With metrics off (`timed` false) counts are kept, clocks are not read.
 */
export class StageMetrics {
  startedAt: number | undefined;
  endedAt: number | undefined;
  endStatus: StageEnd | undefined;
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
  /** Time working: processing chunks, or with at least one item in flight. */
  busyMs = 0;
  private busySince = 0;
  /** Time this stage waited for its upstream to hand over a chunk (starvation). */
  waitingUpstreamMs = 0;
  /** Time between handing a chunk downstream and being asked again (backpressure). */
  blockedDownstreamMs = 0;
  /** From the first pull to the first item handed downstream. */
  timeToFirstItemMs: number | undefined;
  /** Set by stages whose busy time is the time they have items in flight. */
  busyFromInFlight = false;
  /** Reads the stage's current buffer (items taken in, not yet handed on). */
  buffered: () => number = () => 0;
  readonly timings = new LatencyHistogram();
  events: EventSink | undefined;
  /** Set by stages with rate limits, timeouts or adaptive concurrency. */
  limits: LimitMetrics | undefined = undefined;

  constructor(
    readonly key: string,
    readonly kind: string,
    readonly spanId: string,
    readonly stepName: string | undefined,
    readonly strategy: string | undefined,
    readonly concurrency: number | undefined,
    readonly timed = true,
  ) {}

  /** Marks the first pull. */
  start(): void {
    if (this.startedAt !== undefined) return;
    this.startedAt = Date.now();
    this.startedPerf = now();
    const events = this.events;
    if (events?.active) {
      events.emit({
        type: "stage:start",
        key: this.key,
        kind: this.kind,
        spanId: this.spanId,
        time: this.startedAt,
      });
    }
  }

  /** Marks the end; the first call wins. */
  end(status: StageEnd = "completed"): void {
    if (this.startedAt === undefined || this.endedAt !== undefined) return;
    this.endedAt = Date.now();
    this.endedPerf = now();
    this.endStatus = status;
    if (this.inFlight > 0 && this.busyFromInFlight) this.busyMs += this.endedPerf - this.busySince;
    const events = this.events;
    if (events?.active) {
      events.emit({
        type: "stage:end",
        key: this.key,
        kind: this.kind,
        spanId: this.spanId,
        status,
        stage: this.snapshot(),
        time: this.endedAt,
      });
    }
  }

  /** Records that the stage handed its first items on. */
  firstOutput(): void {
    if (this.timeToFirstItemMs === undefined && this.startedAt !== undefined) {
      this.timeToFirstItemMs = now() - this.startedPerf;
    }
  }

  enter(): void {
    if (++this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
    if (this.inFlight === 1 && this.busyFromInFlight) this.busySince = now();
  }

  leave(): void {
    if (--this.inFlight === 0 && this.busyFromInFlight) this.busyMs += now() - this.busySince;
  }

  snapshot(): StageMetadata {
    const t = now();
    const durationMs =
      this.startedAt === undefined
        ? undefined
        : (this.endedAt === undefined ? t : this.endedPerf) - this.startedPerf;
    const busyMs =
      this.busyMs +
      (this.inFlight > 0 && this.endedAt === undefined && this.busyFromInFlight
        ? t - this.busySince
        : 0);
    return {
      key: this.key,
      kind: this.kind,
      stepName: this.stepName,
      spanId: this.spanId,
      startedAt: this.startedAt,
      endedAt: this.endedAt,
      durationMs,
      status: this.startedAt === undefined ? "pending" : (this.endStatus ?? "running"),
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
      buffered: this.buffered(),
      busyMs,
      waitingUpstreamMs: this.waitingUpstreamMs,
      blockedDownstreamMs: this.blockedDownstreamMs,
      timeToFirstItemMs: this.timeToFirstItemMs,
      throughputPerSecond:
        durationMs === undefined || durationMs <= 0 ? undefined : (this.out * 1000) / durationMs,
      timings: this.timings.summary(),
      strategy: this.strategy,
      concurrency: this.concurrency,
      ...(this.limits === undefined ? {} : { limits: this.limits.snapshot() }),
    };
  }
}

/** Keeps the hidden classes of stage metrics and their histogram valid across runs. */
const idleMetrics = keepShape(new StageMetrics("", "", "", undefined, undefined, undefined));
keepShape(idleMetrics.timings);
