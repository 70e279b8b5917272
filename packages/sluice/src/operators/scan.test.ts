import { describe, expect, it } from "vitest";
import { Pipeline, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

describe("scan", () => {
  it("emits every intermediate accumulation, starting again from the seed per run", async () => {
    const p = StreamingPipeline.start<number>().scan("total", (sum, n) => sum + n, 0);
    expect(await collect(p.executeFrom([1, 2, 3, 4]))).toEqual([1, 3, 6, 10]);
    expect(await collect(p.executeFrom([5]))).toEqual([5]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("awaits an async reducer, in order, and passes each item's index", async () => {
    const p = StreamingPipeline.start<string>().scan(
      "joined",
      async (acc: string, s, i) => {
        await new Promise((r) => setTimeout(r, s === "a" ? 5 : 0));
        return `${acc}${i}${s}`;
      },
      "",
    );
    expect(await collect(p.executeFrom(["a", "b", "c"]))).toEqual(["0a", "0a1b", "0a1b2c"]);
  });

  it("keeps each accumulation's lineage: later stages read the item's earlier state", async () => {
    const p = StreamingPipeline.start<string>()
      .map("len", (s) => s.length)
      .scan("sum", (acc, n) => acc + n, 0)
      .map("label", (sum, ctx) => `${ctx.state.len}/${sum}`);
    expect(await collect(p.executeFrom(["ab", "c", "def"]))).toEqual(["2/2", "1/3", "3/6"]);
  });

  it("fails the run when the reducer throws, and rejects a missing reducer", async () => {
    const p = StreamingPipeline.start<number>().scan(
      "s",
      (acc, n) => {
        if (n === 2) throw new Error("bad item");
        return acc + n;
      },
      0,
    );
    const run = p.executeFrom([1, 2, 3]);
    await expect(collect(run)).rejects.toThrow(/bad item/);
    expect(run.metadata().status).toBe("failed");
    expect(() => StreamingPipeline.start<number>().scan("s", 5 as never, 0)).toThrow(TypeError);
  });

  it("runs over an array in the batch Pipeline", async () => {
    const r = await Pipeline.start<number[]>()
      .scan("totals", (sum, n) => sum + n, 0)
      .execute([1, 2, 3]);
    expect(r.success && r.data).toEqual([1, 3, 6]);
  });
});
