import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

describe("skip", () => {
  it("drops the first n items", async () => {
    const p = StreamingPipeline.start<number>().skip("s", 2);
    expect(await collect(p.executeFrom([1, 2, 3, 4]))).toEqual([3, 4]);
    expect(await collect(p.executeFrom([1, 2]))).toEqual([]);
    expect(await collect(p.executeFrom([1]))).toEqual([]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("skip 0 passes everything", async () => {
    expect(
      await collect(StreamingPipeline.start<number>().skip("s", 0).executeFrom([1, 2])),
    ).toEqual([1, 2]);
  });

  it("skips across chunk boundaries and over async sources", async () => {
    async function* gen() {
      for (let i = 0; i < 100; i++) yield i;
    }
    const p = StreamingPipeline.start<number>().skip("s", 37);
    const out = await collect(p.executeFrom(gen()));
    expect(out[0]).toBe(37);
    expect(out).toHaveLength(63);
    const big = await collect(p.executeFrom(Array.from({ length: 1000 }, (_, i) => i)));
    expect(big).toHaveLength(963);
    expect(big[0]).toBe(37);
  });

  it("counts items after flatMap and groups after window", async () => {
    const p = StreamingPipeline.start<number>()
      .flatMap("fm", (n) => [n, n])
      .skip("s", 3);
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([2, 3, 3]);
    const w = StreamingPipeline.start<number>().window("w", 2).skip("s", 1);
    expect(await collect(w.executeFrom([1, 2, 3, 4, 5]))).toEqual([[3, 4], [5]]);
  });

  it("records in/out counts", async () => {
    const run = StreamingPipeline.start<number>().skip("s", 2).executeFrom([1, 2, 3]);
    await collect(run);
    expect(run.metadata().stages[0]).toMatchObject({ kind: "skip", counts: { in: 3, out: 1 } });
  });

  it("validates n at build time with a RangeError naming n and the key", () => {
    for (const n of [-1, 0.5, Number.NaN]) {
      const build = () => StreamingPipeline.start<number>().skip("mySkip", n);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(/\bn\b/);
      expect(build).toThrow(/mySkip/);
    }
  });
});
