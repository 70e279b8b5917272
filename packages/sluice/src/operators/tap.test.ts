import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const modes = [
  { name: "sequential", options: {} },
  { name: "parallel", options: { concurrency: 3 } },
] as const;

describe("tap", () => {
  for (const { name, options } of modes) {
    it(`runs the side effect per item and passes the item on unchanged (${name})`, async () => {
      const seen: number[] = [];
      const p = StreamingPipeline.start<number>().tap(
        "log",
        (n) => {
          seen.push(n);
          return "ignored";
        },
        options,
      );
      expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([1, 2, 3]);
      expect(seen.sort()).toEqual([1, 2, 3]);
    });

    it(`awaits an async side effect before the item moves on (${name})`, async () => {
      const done = new Set<number>();
      const p = StreamingPipeline.start<number>()
        .tap(
          "save",
          async (n) => {
            await new Promise((r) => setTimeout(r, 3 - n));
            done.add(n);
            return null;
          },
          options,
        )
        .map("check", (n) => done.has(n));
      expect(await collect(p.executeFrom([0, 1, 2]))).toEqual([true, true, true]);
    });

    it(`ignores falsy, undefined and thenable results alike (${name})`, async () => {
      const results: unknown[] = [0, false, undefined, null, Promise.resolve(false)];
      const p = StreamingPipeline.start<number>().tap("t", (i) => results[i], options);
      expect(await collect(p.executeFrom([0, 1, 2, 3, 4]))).toEqual([0, 1, 2, 3, 4]);
    });
  }

  it("later stages see the tap key as the item", async () => {
    const p = StreamingPipeline.start<number>()
      .tap("t", () => 99)
      .map("out", (n, ctx) => ctx.state.t === n);
    expect(await collect(p.executeFrom([1, 2]))).toEqual([true, true]);
  });

  it("a failing side effect fails the item like any other stage", async () => {
    const p = StreamingPipeline.start<number>().tap(
      "t",
      (n) => {
        if (n === 2) throw new Error("side effect failed");
      },
      { errorStrategy: "SKIP_FAILED" },
    );
    const run = p.executeFrom([1, 2, 3]);
    expect(await collect(run)).toEqual([1, 3]);
    expect(run.metadata().errors[0]?.key).toBe("t");
  });

  it("validates at build time", () => {
    expect(() =>
      StreamingPipeline.start<number>().tap("tapKey", () => undefined, { concurrency: 0.5 }),
    ).toThrow(/concurrency.*|tapKey/);
    expect(() =>
      StreamingPipeline.start<number>().tap("tapKey", () => undefined, { concurrency: 0.5 }),
    ).toThrow(RangeError);
    expect(() => StreamingPipeline.start<number>().tap("t", {} as () => void)).toThrow(TypeError);
  });
});
