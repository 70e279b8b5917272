import { afterEach, describe, expect, it, vi } from "vitest";
import { type RunEvent, StreamingPipeline } from "../index.js";
import type { LogMethod } from "./logger.js";

async function drain<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

afterEach(() => {
  vi.useRealTimers();
});

describe("run events", () => {
  it("come in lifecycle order: run start, stage starts at first pull, errors, stage ends, run end", async () => {
    const events: RunEvent[] = [];
    const p = StreamingPipeline.start<number>()
      .map("a", (x) => x)
      .map(
        "b",
        (x) => {
          if (x === 2) throw new Error("two");
          return x;
        },
        { errorStrategy: "SKIP_FAILED" },
      );
    const run = p.executeFrom([1, 2, 3], { onEvent: (e) => events.push(e), progressIntervalMs: 0 });
    expect(events).toEqual([]); // nothing before the first pull
    await drain(run);
    const types = events.map((e) =>
      e.type.startsWith("stage") ? `${e.type}:${(e as { key: string }).key}` : e.type,
    );
    expect(types[0]).toBe("run:start");
    expect(types.indexOf("stage:start:a")).toBeGreaterThan(0);
    expect(types.indexOf("stage:start:b")).toBeGreaterThan(0);
    expect(types).toContain("item:error");
    expect(types.indexOf("stage:end:b")).toBeGreaterThan(types.indexOf("item:error"));
    expect(types[types.length - 1]).toBe("run:end");
    const end = events[events.length - 1] as Extract<RunEvent, { type: "run:end" }>;
    expect(end.status).toBe("completed");
    const error = events.find((e) => e.type === "item:error") as Extract<
      RunEvent,
      { type: "item:error" }
    >;
    expect(error).toMatchObject({ key: "b", index: 1, strategy: "SKIP_FAILED" });
  });

  it("report retries with their delay, and per-item timings only when asked", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().map(
      "flaky",
      async (x) => {
        if (x === 1 && calls++ === 0)
          throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
        return x;
      },
      { retry: { maxAttempts: 2, backoffMs: 1 }, concurrency: 2 },
    );
    const quiet: RunEvent[] = [];
    await drain(p.executeFrom([0, 1, 2], { onEvent: (e) => quiet.push(e), progressIntervalMs: 0 }));
    expect(quiet.filter((e) => e.type === "retry")).toHaveLength(1);
    expect(quiet.some((e) => e.type === "item")).toBe(false);
    const loud: RunEvent[] = [];
    await drain(
      p.executeFrom([0, 1, 2], {
        onEvent: (e) => loud.push(e),
        itemEvents: true,
        progressIntervalMs: 0,
      }),
    );
    expect(
      loud
        .filter((e) => e.type === "item")
        .map((e) => (e as { index: number }).index)
        .sort(),
    ).toEqual([0, 1, 2]);
  });

  it("marks a cancelled run and its stages as cancelled", async () => {
    const events: RunEvent[] = [];
    const run = StreamingPipeline.start<number>()
      .map("a", (x) => x)
      .executeFrom([1, 2, 3, 4], { onEvent: (e) => events.push(e), progressIntervalMs: 0 });
    for await (const _ of run) break;
    expect(run.metadata().status).toBe("cancelled");
    const end = events.find((e) => e.type === "run:end") as Extract<RunEvent, { type: "run:end" }>;
    expect(end.status).toBe("cancelled");
    const stageEnd = events.find((e) => e.type === "stage:end") as Extract<
      RunEvent,
      { type: "stage:end" }
    >;
    expect(stageEnd.status).toBe("cancelled");
  });

  it("an async iterable of events can be read alongside the run and ends with it", async () => {
    const run = StreamingPipeline.start<number>()
      .map("a", (x) => x * 2)
      .executeFrom([1, 2]);
    const events = drain(run.events());
    expect(await drain(run)).toEqual([2, 4]);
    const types = (await events).map((e) => e.type);
    expect(types[0]).toBe("run:start");
    expect(types[types.length - 1]).toBe("run:end");
  });

  it("ticks progress with a known total, measured rate and ETA, and stops ticking at the end", async () => {
    vi.useFakeTimers();
    const ticks: Extract<RunEvent, { type: "progress" }>[] = [];
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const p = StreamingPipeline.start<number>()
      .map(
        "slow",
        async (x) => {
          if (x >= 5) await gate;
          return x;
        },
        { concurrency: 2 },
      )
      .flatMap("twice", (x) => [x, x]);
    const run = p.executeFrom([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], {
      onEvent: (e) => {
        if (e.type === "progress") ticks.push(e);
      },
      progressIntervalMs: 100,
    });
    const done = drain(run);
    await vi.advanceTimersByTimeAsync(350);
    expect(ticks.length).toBe(3);
    const last = ticks[ticks.length - 1]?.progress;
    expect(last?.total).toBe(10);
    expect(last?.done).toBe(5);
    expect(last?.fraction).toBeCloseTo(0.5);
    expect(last?.expansion.twice).toBe(2);
    release();
    expect((await done).length).toBe(20);
    const count = ticks.length;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(ticks.length).toBe(count);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a throwing listener does not break the run", async () => {
    const errors: unknown[] = [];
    const error: LogMethod = (fields) => errors.push(fields);
    const out = await drain(
      StreamingPipeline.start<number>()
        .map("a", (x) => x + 1)
        .executeFrom([1, 2], {
          onEvent: () => {
            throw new Error("listener bug");
          },
          logger: { error },
          progressIntervalMs: 0,
        }),
    );
    expect(out).toEqual([2, 3]);
    expect(errors.length).toBeGreaterThan(0);
  });

  it("a throwing logger does not break the run, also with per-item events in a parallel stage", async () => {
    const broken: LogMethod = () => {
      throw new Error("logger bug");
    };
    const out = await drain(
      StreamingPipeline.start<number>()
        .map("a", async (x: number) => x + 1, { concurrency: 2 })
        .executeFrom([1, 2, 3], {
          logger: { info: broken, debug: broken, warn: broken, error: broken },
          itemEvents: true,
          progressIntervalMs: 0,
        }),
    );
    expect(out).toEqual([2, 3, 4]);
  });

  it("logs lifecycle to a pino-shaped logger and nothing without one", async () => {
    const lines: string[] = [];
    const method: LogMethod = (_fields, message) => lines.push(message);
    await drain(
      StreamingPipeline.start<number>()
        .map("a", (x) => x)
        .executeFrom([1], { logger: { info: method, debug: method }, progressIntervalMs: 0 }),
    );
    expect(lines).toEqual([
      "sluice: run started",
      "sluice: stage started",
      "sluice: stage ended",
      "sluice: run completed",
    ]);
  });
});

describe("stage metrics", () => {
  it("measure busy time, waits, buffering, throughput and time to first item", async () => {
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    async function* slowSource() {
      for (let i = 0; i < 5; i++) {
        await sleep(10);
        yield i;
      }
    }
    const run = StreamingPipeline.start<number>()
      .map(
        "work",
        async (x) => {
          await sleep(5);
          return x;
        },
        { concurrency: 2 },
      )
      .executeFrom(slowSource());
    const out: number[] = [];
    for await (const v of run) {
      out.push(v);
      await sleep(5);
    }
    const stage = run.metadata().stages[0];
    expect(out).toEqual([0, 1, 2, 3, 4]);
    expect(stage?.status).toBe("completed");
    expect(stage?.busyMs).toBeGreaterThan(15);
    expect(stage?.waitingUpstreamMs).toBeGreaterThan(20);
    expect(stage?.timeToFirstItemMs).toBeGreaterThan(10);
    expect(stage?.throughputPerSecond).toBeGreaterThan(0);
    expect(stage?.buffered).toBe(0);
  });

  it("metrics: false keeps counts but reads no clock for timings", async () => {
    const run = StreamingPipeline.start<number>()
      .map("a", async (x) => x, { concurrency: 4 })
      .executeFrom([1, 2, 3], { metrics: false });
    for await (const _ of run) {
    }
    const stage = run.metadata().stages[0];
    expect(stage?.counts).toMatchObject({ in: 3, out: 3, succeeded: 3 });
    expect(stage?.timings.count).toBe(0);
    expect(stage?.waitingUpstreamMs).toBe(0);
  });
});

describe("batch Pipeline events", () => {
  it("report the run and each stage, with item errors", async () => {
    const { Pipeline, createStep } = await import("../index.js");
    const events: RunEvent[] = [];
    const p = Pipeline.start<number[]>()
      .map(
        "m",
        createStep<number, number>("m", ({ input }) => {
          if (input === 2) throw new Error("two");
          return input;
        }),
        { errorStrategy: "SKIP_FAILED" },
      )
      .add(
        "sum",
        createStep("sum", ({ input }) => input.reduce((a, b) => a + b, 0)),
      );
    const r = await p.execute([1, 2, 3], { onEvent: (e) => events.push(e) });
    expect(r.success && r.data).toBe(4);
    expect(events.map((e) => e.type)).toEqual([
      "run:start",
      "stage:start",
      "item:error",
      "stage:end",
      "stage:start",
      "stage:end",
      "run:end",
    ]);
  });
});
