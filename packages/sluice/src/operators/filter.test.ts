import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const modes = [
  { name: "sequential", options: {} },
  { name: "parallel", options: { concurrency: 4 } },
  { name: "parallel unordered", options: { concurrency: 4, ordered: false } },
  { name: "buffered", options: { buffer: 3 } },
] as const;

const sorted = (xs: unknown[]) => [...xs].sort();

describe("filter", () => {
  for (const { name, options } of modes) {
    it(`keeps items whose sync or async predicate is truthy (${name})`, async () => {
      const sync = StreamingPipeline.start<number>().filter("even", (n) => n % 2 === 0, options);
      const a = await collect(sync.executeFrom([1, 2, 3, 4, 5, 6]));
      expect("ordered" in options ? sorted(a) : a).toEqual([2, 4, 6]);
      const async = StreamingPipeline.start<number>().filter(
        "big",
        async (n) => {
          await new Promise((r) => setTimeout(r, n % 3));
          return n > 3;
        },
        options,
      );
      const b = await collect(async.executeFrom([5, 1, 4, 2, 6]));
      expect("ordered" in options ? sorted(b) : b).toEqual(
        "ordered" in options ? [4, 5, 6] : [5, 4, 6],
      );
    });

    it(`uses truthiness, not strict booleans (${name})`, async () => {
      const values: unknown[] = [0, 1, "", "x", null, {}, undefined, [], Number.NaN];
      const p = StreamingPipeline.start<number>().filter("t", (i) => values[i], options);
      const out = await collect(p.executeFrom(values.map((_, i) => i)));
      expect("ordered" in options ? sorted(out) : out).toEqual([1, 3, 5, 7]);
    });

    it(`passes the item itself on, including undefined and null (${name})`, async () => {
      const obj = { id: 1 };
      const p = StreamingPipeline.start<unknown>().filter("all", () => true, options);
      const out = await collect(p.executeFrom([obj, undefined, null]));
      expect(out).toHaveLength(3);
      expect(out).toContain(obj);
    });
  }

  it("narrows with a type guard", async () => {
    const isString = (v: string | number): v is string => typeof v === "string";
    const p = StreamingPipeline.start<string | number>()
      .filter("strings", isString)
      .map("upper", (s) => s.toUpperCase());
    expect(await collect(p.executeFrom(["a", 1, "b"]))).toEqual(["A", "B"]);
  });

  it("the predicate gets ctx (index, state); state at the filter key is the item", async () => {
    const seen: [number, number][] = [];
    const p = StreamingPipeline.start<number>()
      .map("sq", (n) => n * n)
      .filter("odd", (v: number, ctx: ItemContext<{ sq: number }>) => {
        seen.push([ctx.index, ctx.state.sq]);
        return v % 2 === 1;
      })
      .map("out", (v, ctx) => [v, ctx.state.odd]);
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([
      [1, 1],
      [9, 9],
    ]);
    expect(seen).toEqual([
      [0, 1],
      [1, 4],
      [2, 9],
    ]);
  });

  it("a filter that drops everything ends the run cleanly", async () => {
    const run = StreamingPipeline.start<number>()
      .filter("none", () => false, { concurrency: 2 })
      .executeFrom(Array.from({ length: 100 }, (_, i) => i));
    expect(await collect(run)).toEqual([]);
    expect(run.metadata().stages[0]?.counts).toMatchObject({ in: 100, out: 0, succeeded: 100 });
  });

  it("validates at build time", () => {
    const build = () =>
      StreamingPipeline.start<number>().filter("fKey", () => true, { buffer: -2 });
    expect(build).toThrow(RangeError);
    expect(build).toThrow(/buffer/);
    expect(build).toThrow(/fKey/);
    expect(() =>
      StreamingPipeline.start<number>().filter("f", "yes" as unknown as () => boolean),
    ).toThrow(TypeError);
  });
});
