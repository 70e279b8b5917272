import { context, trace } from "@opentelemetry/api";
import { AsyncHooksContextManager } from "@opentelemetry/context-async-hooks";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";
import { otelRunOptions } from "./index.js";

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const contextManager = new AsyncHooksContextManager();

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  trace.setGlobalTracerProvider(provider);
});
afterAll(async () => {
  await provider.shutdown();
  context.disable();
  trace.disable();
});
beforeEach(() => exporter.reset());

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;

describe("sluice/otel", () => {
  it("makes a run span under the caller's active span, and a child span per stage", async () => {
    const tracer = trace.getTracer("test");
    const p = StreamingPipeline.start<number>()
      .map("double", async (x) => x * 2, { concurrency: 2 })
      .filter("big", (x) => x > 2);
    let runTraceId = "";
    await tracer.startActiveSpan("request", async (request) => {
      const run = p.executeFrom([1, 2, 3], { ...otelRunOptions(tracer) });
      for await (const _ of run) {
      }
      runTraceId = run.traceId;
      request.end();
    });
    const spans = exporter.getFinishedSpans();
    const byName = new Map(spans.map((s) => [s.name, s]));
    const request = byName.get("request");
    const run = byName.get("sluice.run");
    const double = byName.get("sluice.stage double");
    const big = byName.get("sluice.stage big");
    expect(request && run && double && big).toBeTruthy();
    expect(parentOf(run as ReadableSpan)).toBe(request?.spanContext().spanId);
    expect(parentOf(double as ReadableSpan)).toBe(run?.spanContext().spanId);
    expect(parentOf(big as ReadableSpan)).toBe(run?.spanContext().spanId);
    expect(run?.spanContext().traceId).toBe(runTraceId);
    expect(double?.attributes).toMatchObject({
      "sluice.items.in": 3,
      "sluice.items.out": 3,
      "sluice.stage.status": "completed",
      "sluice.concurrency": 2,
    });
    expect(typeof double?.attributes["sluice.latency_ms.p99"]).toBe("number");
    expect(run?.attributes["sluice.status"]).toBe("completed");
  });

  it("records item errors on the stage span and marks failures", async () => {
    const tracer = trace.getTracer("test");
    const p = StreamingPipeline.start<number>().map("boom", (x) => {
      if (x === 2) throw new Error("two");
      return x;
    });
    await expect(async () => {
      for await (const _ of p.executeFrom([1, 2, 3], { ...otelRunOptions(tracer) })) {
      }
    }).rejects.toThrow("two");
    const spans = exporter.getFinishedSpans();
    const stage = spans.find((s) => s.name === "sluice.stage boom");
    const run = spans.find((s) => s.name === "sluice.run");
    expect(stage?.events.some((e) => e.name === "exception")).toBe(true);
    expect(stage?.events.find((e) => e.name === "sluice.item.error")?.attributes).toMatchObject({
      "sluice.item.index": 1,
    });
    expect(stage?.status.code).toBe(2);
    expect(run?.status.code).toBe(2);
  });

  it("samples per-item spans as children of their stage", async () => {
    const tracer = trace.getTracer("test");
    const p = StreamingPipeline.start<number>().map("work", async (x) => x, { concurrency: 4 });
    for await (const _ of p.executeFrom([1, 2, 3, 4, 5, 6], {
      ...otelRunOptions(tracer, {
        itemSampleRate: 0.5,
        random: (() => {
          let i = 0;
          return () => (i++ % 2 === 0 ? 0.1 : 0.9);
        })(),
      }),
    })) {
    }
    const spans = exporter.getFinishedSpans();
    const stage = spans.find((s) => s.name === "sluice.stage work");
    const items = spans.filter((s) => s.name === "sluice.item work");
    expect(items).toHaveLength(3);
    for (const item of items) expect(parentOf(item)).toBe(stage?.spanContext().spanId);
    expect(() => otelRunOptions(tracer, { itemSampleRate: 2 })).toThrow(RangeError);
  });

  it("samples an item in every stage or in none, its spans sharing its span id", async () => {
    const tracer = trace.getTracer("test");
    const p = StreamingPipeline.start<number>()
      .map("first", async (x) => x)
      .map("second", (x) => x + 1);
    const items = Array.from({ length: 200 }, (_, i) => i);
    for await (const _ of p.executeFrom(items, {
      ...otelRunOptions(tracer, { itemSampleRate: 0.3 }),
    })) {
    }
    const spans = exporter.getFinishedSpans();
    const idsOf = (name: string) =>
      spans
        .filter((s) => s.name === name)
        .map((s) => s.attributes["sluice.item.span_id"])
        .sort();
    const first = idsOf("sluice.item first");
    // 200 items at 30%: far from none and from all, whatever the draw.
    expect(first.length).toBeGreaterThan(20);
    expect(first.length).toBeLessThan(120);
    expect(idsOf("sluice.item second")).toEqual(first);
  });
});
