import { describe, expect, it } from "vitest";
import { Pipeline, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

describe("distinct", () => {
  it("drops items seen before, by the item itself or by a key", async () => {
    const p = StreamingPipeline.start<number>().distinct("d");
    expect(await collect(p.executeFrom([1, 2, 1, 3, 2, 4]))).toEqual([1, 2, 3, 4]);
    const docs = [
      { id: "a", v: 1 },
      { id: "b", v: 2 },
      { id: "a", v: 3 },
    ];
    const q = StreamingPipeline.start<{ id: string; v: number }>().distinct("d", (d) => d.id);
    expect((await collect(q.executeFrom(docs))).map((d) => d.v)).toEqual([1, 2]);
    // Each run starts with nothing seen.
    expect(await collect(p.executeFrom([1, 1]))).toEqual([1]);
  });

  it("with a window, forgets the least recently seen key once more are remembered", async () => {
    const p = StreamingPipeline.start<string>().distinct("d", undefined, { window: 2 });
    // a, b seen; c evicts a; a passes again (evicting b); b passes again.
    expect(await collect(p.executeFrom(["a", "b", "c", "a", "b"]))).toEqual([
      "a",
      "b",
      "c",
      "a",
      "b",
    ]);
    // A key seen again is refreshed: "a" stays remembered while it keeps recurring.
    expect(await collect(p.executeFrom(["a", "b", "a", "c", "a"]))).toEqual(["a", "b", "c"]);
  });

  it("works across chunks and with chunkSize 1", async () => {
    const items = Array.from({ length: 5_000 }, (_, i) => i % 1_000);
    const p = StreamingPipeline.start<number>().distinct("d");
    expect(await collect(p.executeFrom(items))).toHaveLength(1_000);
    expect(await collect(p.executeFrom([3, 3, 4], { chunkSize: 1 }))).toEqual([3, 4]);
  });

  it("rejects bad options when the stage is added, and fails the run when by throws", async () => {
    const p = StreamingPipeline.start<number>();
    expect(() => p.distinct("d", undefined, { window: 0 })).toThrow(RangeError);
    expect(() => p.distinct("d", 3 as never)).toThrow(TypeError);
    const run = p
      .distinct("d", () => {
        throw new Error("no key");
      })
      .executeFrom([1]);
    await expect(collect(run)).rejects.toThrow(/no key/);
  });

  it("runs over an array in the batch Pipeline", async () => {
    const r = await Pipeline.start<string[]>()
      .distinct("unique", (s) => s.toLowerCase())
      .execute(["a", "A", "b"]);
    expect(r.success && r.data).toEqual(["a", "b"]);
  });
});
