/**
 * OpenTelemetry tracing for runs, on the `sluice/otel` subpath so the core keeps no
 * dependency: `@opentelemetry/api` is an optional peer dependency.
 */
import {
  type Attributes,
  type Context,
  context,
  type Span,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type { RunEvent } from "../metrics/events.js";
import type { StageMetadata } from "../metrics/metadata.js";

/**
 * Options of {@link otelRunOptions}.
 *
 * @example
 * ```ts
 * otelRunOptions(trace.getTracer("app"), { itemSampleRate: 0.01 });
 * ```
 */
export interface OtelOptions {
  /**
   * Fraction of items (0–1) that get a span of their own in each stage; default 0 (none).
   * The decision follows the item's span id, so an item sampled in one stage is sampled in
   * every stage it reaches, and its spans share the attribute `sluice.item.span_id`.
   */
  itemSampleRate?: number;
  /** Parent context of the run span; default: the context active when this is called. */
  parent?: Context;
  /** Random source for item sampling, drawn per item event instead of per item (tests). */
  random?: () => number;
}

/**
 * Run options that trace a run: spread them into `executeFrom(source, { ...here })`.
 *
 * @example
 * ```ts
 * const tracing: OtelRunOptions = otelRunOptions(trace.getTracer("app"));
 * const run = pipeline.executeFrom(items, { ...tracing, progressIntervalMs: 0 });
 * ```
 */
export interface OtelRunOptions {
  /** Turns the run's events into spans. */
  onEvent: (event: RunEvent) => void;
  /** Whether per-item events are needed: true when `itemSampleRate` is above 0. */
  itemEvents: boolean;
  /** The parent span's trace id, so the run's own trace id matches the exported trace. */
  traceId?: string;
}

/**
 * Traces one run: a span for the run, a child span per stage (from its first pull to its
 * end) with counts and latency percentiles as attributes, item errors recorded on the
 * stage span, and optionally sampled per-item spans. Make one per run.
 *
 * @example
 * ```ts
 * const run = pipeline.executeFrom(items, { ...otelRunOptions(trace.getTracer("app")) });
 * ```
 */
export function otelRunOptions(tracer: Tracer, options: OtelOptions = {}): OtelRunOptions {
  const rate = options.itemSampleRate ?? 0;
  if (!(rate >= 0 && rate <= 1)) {
    throw new RangeError(
      `otelRunOptions: itemSampleRate must be between 0 and 1, got ${String(rate)}`,
    );
  }
  const random = options.random;
  // Span ids are random: the first 8 hex digits are a uniform draw of their own.
  const sampled = (spanId: string): boolean =>
    random === undefined
      ? Number.parseInt(spanId.slice(0, 8), 16) / 0x100000000 < rate
      : random() < rate;
  const parent = options.parent ?? context.active();
  const parentTraceId = trace.getSpan(parent)?.spanContext().traceId;
  let runSpan: Span | undefined;
  let runContext: Context = parent;
  const stages = new Map<string, { span: Span; ctx: Context }>();

  const onEvent = (e: RunEvent): void => {
    switch (e.type) {
      case "run:start":
        runSpan = tracer.startSpan(
          "sluice.run",
          { startTime: e.time, attributes: { "sluice.trace_id": e.traceId } },
          parent,
        );
        runContext = trace.setSpan(parent, runSpan);
        return;
      case "stage:start": {
        const span = tracer.startSpan(
          `sluice.stage ${e.key}`,
          {
            startTime: e.time,
            attributes: {
              "sluice.stage.key": e.key,
              "sluice.stage.kind": e.kind,
              "sluice.span_id": e.spanId,
            },
          },
          runContext,
        );
        stages.set(e.key, { span, ctx: trace.setSpan(runContext, span) });
        return;
      }
      case "stage:end": {
        const stage = stages.get(e.key);
        if (stage === undefined) return;
        stage.span.setAttributes(stageAttributes(e.stage));
        if (e.status === "failed") stage.span.setStatus({ code: SpanStatusCode.ERROR });
        stage.span.end(e.time);
        return;
      }
      case "item:error": {
        const stage = stages.get(e.key);
        stage?.span.recordException(e.error, e.time);
        stage?.span.addEvent(
          "sluice.item.error",
          {
            "sluice.item.index": e.index,
            "sluice.error.code": e.error.code,
            "sluice.strategy": e.strategy,
          },
          e.time,
        );
        return;
      }
      case "retry":
        stages.get(e.key)?.span.addEvent(
          "sluice.item.retry",
          {
            "sluice.item.index": e.index,
            "sluice.attempt": e.attempt,
            "sluice.delay_ms": e.delayMs,
          },
          e.time,
        );
        return;
      case "item": {
        if (rate === 0 || !sampled(e.spanId)) return;
        const stage = stages.get(e.key);
        if (stage === undefined) return;
        tracer
          .startSpan(
            `sluice.item ${e.key}`,
            {
              startTime: e.time - e.durationMs,
              attributes: { "sluice.item.index": e.index, "sluice.item.span_id": e.spanId },
            },
            stage.ctx,
          )
          .end(e.time);
        return;
      }
      case "run:end":
        if (runSpan === undefined) return;
        runSpan.setAttributes({ "sluice.status": e.status, "sluice.duration_ms": e.durationMs });
        if (e.status === "failed") runSpan.setStatus({ code: SpanStatusCode.ERROR });
        runSpan.end(e.time);
        return;
      default:
        return;
    }
  };
  return {
    onEvent,
    itemEvents: rate > 0,
    ...(parentTraceId === undefined ? {} : { traceId: parentTraceId }),
  };
}

function stageAttributes(s: StageMetadata): Attributes {
  return {
    "sluice.stage.status": s.status,
    "sluice.items.in": s.counts.in,
    "sluice.items.out": s.counts.out,
    "sluice.items.failed": s.counts.failed,
    "sluice.items.skipped": s.counts.skipped,
    "sluice.items.retried": s.counts.retried,
    "sluice.latency_ms.p50": s.timings.p50,
    "sluice.latency_ms.p90": s.timings.p90,
    "sluice.latency_ms.p95": s.timings.p95,
    "sluice.latency_ms.p99": s.timings.p99,
    "sluice.latency_ms.max": s.timings.max,
    "sluice.busy_ms": s.busyMs,
    ...(s.strategy === undefined ? {} : { "sluice.strategy": s.strategy }),
    ...(s.concurrency === undefined ? {} : { "sluice.concurrency": s.concurrency }),
  };
}
