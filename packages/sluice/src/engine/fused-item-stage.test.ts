import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";
import { type FusedStop, fusedGroup, genericGroup } from "./fused-loop.js";
import { EmitMode } from "./item-worker.js";
import { LoopStop } from "./loop-stop.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("fused sequential stages", () => {
  it("give the same results as the array model, sync and async mixed", async () => {
    const p = StreamingPipeline.start<number>()
      .map("a", (x) => x * 3)
      .filter("b", (x) => (x % 2 === 0 ? Promise.resolve(true) : x % 5 !== 0))
      .tap("c", (x) => (x % 7 === 0 ? Promise.resolve() : undefined))
      .map("d", (x) => (x % 4 === 0 ? Promise.resolve(x + 1) : x - 1));
    const model = range(2000)
      .map((x) => x * 3)
      .filter((x) => x % 2 === 0 || x % 5 !== 0)
      .map((x) => (x % 4 === 0 ? x + 1 : x - 1));
    expect(await collect(p.executeFrom(range(2000)))).toEqual(model);
  });

  it("count items per stage as if the stages ran apart", async () => {
    const run = StreamingPipeline.start<number>()
      .map("a", (x) => x + 1)
      .filter("even", (x) => x % 2 === 0)
      .map("b", (x) => x * 10)
      .executeFrom(range(100));
    expect((await collect(run)).length).toBe(50);
    const counts = Object.fromEntries(run.metadata().stages.map((s) => [s.key, s.counts]));
    expect(counts.a).toMatchObject({ in: 100, out: 100, succeeded: 100, failed: 0 });
    expect(counts.even).toMatchObject({ in: 100, out: 50, succeeded: 100 });
    expect(counts.b).toMatchObject({ in: 50, out: 50, succeeded: 50 });
  });

  it("apply each stage's own error strategy and retry to a failing item mid-group", async () => {
    let attemptsOf7 = 0;
    const run = StreamingPipeline.start<number>()
      .map("a", (x) => x)
      .map(
        "flaky",
        (x) => {
          if (x === 7 && ++attemptsOf7 < 3)
            throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
          if (x === 9) throw new Error("nine");
          return x;
        },
        { retry: { maxAttempts: 3, backoffMs: 0 }, errorStrategy: "SKIP_FAILED" },
      )
      .map("c", (x) => x * 2)
      .executeFrom(range(12));
    expect(await collect(run)).toEqual(
      range(12)
        .filter((x) => x !== 9)
        .map((x) => x * 2),
    );
    expect(attemptsOf7).toBe(3);
    const meta = run.metadata();
    expect(meta.errors).toHaveLength(1);
    expect(meta.errors[0]).toMatchObject({ key: "flaky", itemIndex: 9, attempts: 1 });
    const flaky = meta.stages.find((s) => s.key === "flaky");
    expect(flaky?.counts).toMatchObject({ in: 12, out: 11, failed: 1, skipped: 1, retried: 2 });
  });

  it("fails fast naming the stage that threw", async () => {
    const run = StreamingPipeline.start<number>()
      .map("a", (x) => x)
      .map("boom", (x) => {
        if (x === 3) throw new Error("three");
        return x;
      })
      .map("c", (x) => x)
      .executeFrom(range(10));
    await expect(collect(run)).rejects.toMatchObject({
      key: "boom",
      itemIndex: 3,
      name: "StreamingError",
    });
    expect(run.metadata().status).toBe("failed");
  });
});

type Fn = (item: unknown) => unknown;
const groups = { generated: fusedGroup, generic: genericGroup };

describe.each(Object.entries(groups))("fused group (%s)", (_, make) => {
  const newStop = (): FusedStop => ({
    kind: LoopStop.NONE,
    stage: 0,
    item: undefined,
    value: undefined,
  });

  it("stops at a promise and reports the stage, input and result", () => {
    const p = Promise.resolve(1);
    const fns: Fn[] = [(x) => x, (x) => (x === 2 ? p : x)];
    const { loop } = make([EmitMode.MAP, EmitMode.MAP], fns);
    const out: unknown[] = [];
    const counts = [0, 0];
    const stop = newStop();
    const pos = loop([0, 1, 2, 3], 0, out, counts, stop);
    expect(pos).toBe(2);
    expect(out).toEqual([0, 1]);
    expect(stop).toMatchObject({ kind: LoopStop.AWAIT, stage: 1, item: 2, value: p });
    expect(counts).toEqual([3, 3]);
  });

  it("reports a throw with the stage and the input it threw on", () => {
    const boom = new Error("boom");
    const fns: Fn[] = [
      (x) => x,
      (x) => {
        if (x === 1) throw boom;
        return x;
      },
    ];
    const { loop } = make([EmitMode.MAP, EmitMode.MAP], fns);
    const out: unknown[] = [];
    const stop = newStop();
    const pos = loop([0, 1, 2], 0, out, [0, 0], stop);
    expect(pos).toBe(1);
    expect(out).toEqual([0]);
    expect(stop).toMatchObject({ kind: LoopStop.THREW, stage: 1, item: 1, value: boom });
  });

  it("resumes an item at a later stage: through to the end, filtered out, or stopped again", () => {
    const p = Promise.resolve(0);
    const fns: Fn[] = [
      (x) => (x as number) * 10,
      (x) => (x as number) % 20 !== 0,
      (x) => (x === 30 ? p : x),
      (x) => `v${x}`,
    ];
    const { resume } = make([EmitMode.MAP, EmitMode.FILTER, EmitMode.MAP, EmitMode.MAP], fns);
    const out: unknown[] = [];
    const counts = [0, 0, 0, 0];
    const stop = newStop();
    resume(1, 10, out, counts, stop);
    expect(stop.kind).toBe(LoopStop.NONE);
    resume(1, 20, out, counts, stop);
    expect(stop.kind).toBe(LoopStop.NONE);
    expect(out).toEqual(["v10"]);
    resume(1, 30, out, counts, stop);
    expect(stop).toMatchObject({ kind: LoopStop.AWAIT, stage: 2, item: 30, value: p });
    resume(3, 31, out, counts, stop);
    expect(out).toEqual(["v10", "v31"]);
    expect(counts).toEqual([0, 3, 2, 2]);
  });
});
