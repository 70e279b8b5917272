import { describe, expect, it, vi } from "vitest";
import { StreamingPipeline } from "../index.js";
import { within } from "../testing/within.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe("bufferUntil", () => {
  it("closes a group after the item the predicate accepts; the tail group is emitted", async () => {
    const p = StreamingPipeline.start<string>().bufferUntil("section", (line) => line === "");
    expect(await collect(p.executeFrom(["a", "b", "", "c", "", "d", "e"]))).toEqual([
      ["a", "b", ""],
      ["c", ""],
      ["d", "e"],
    ]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("gives the predicate the group so far, ending with the item", async () => {
    const p = StreamingPipeline.start<number>().bufferUntil(
      "sum10",
      (_n, group) => group.reduce((a, b) => a + b, 0) >= 10,
    );
    expect(await collect(p.executeFrom([4, 4, 4, 9, 1, 2]))).toEqual([[4, 4, 4], [9, 1], [2]]);
  });

  it("closes earlier at maxSize, also across chunks", async () => {
    const p = StreamingPipeline.start<number>().bufferUntil("g", (n) => n < 0, { maxSize: 3 });
    expect(await collect(p.executeFrom([1, 2, 3, 4, -1, 5], { chunkSize: 2 }))).toEqual([
      [1, 2, 3],
      [4, -1],
      [5],
    ]);
  });

  it("closes a group maxWaitMs after its first item while the source is idle", async () => {
    async function* src() {
      yield 1;
      yield 2;
      await sleep(80);
      yield 3;
    }
    const p = StreamingPipeline.start<number>().bufferUntil("g", () => false, { maxWaitMs: 20 });
    expect(await collect(p.executeFrom(src()))).toEqual([[1, 2], [3]]);
  });

  it("clears its timer when the run is cancelled while waiting", async () => {
    let finallyRan = false;
    async function* idle() {
      try {
        yield 1;
        await sleep(5_000);
      } finally {
        finallyRan = true;
      }
    }
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] });
    try {
      const run = StreamingPipeline.start<number>()
        .bufferUntil("g", () => false, { maxWaitMs: 60_000 })
        .executeFrom(idle());
      const first = run.next();
      await vi.advanceTimersByTimeAsync(1);
      // The group [1] waits on its timer and the source; cancel now.
      await run.return();
      expect(vi.getTimerCount()).toBe(1); // only the source's own sleep is left
      await vi.advanceTimersByTimeAsync(5_000);
      await within(first, "the pending next()", 1_000);
      expect(finallyRan).toBe(true);
    } finally {
      vi.useRealTimers();
    }
  });

  it("fails the run when the predicate throws or returns a promise; rejects bad options", async () => {
    const p = StreamingPipeline.start<number>();
    await expect(
      collect(
        p
          .bufferUntil("g", () => {
            throw new Error("bad predicate");
          })
          .executeFrom([1]),
      ),
    ).rejects.toThrow(/bad predicate/);
    await expect(collect(p.bufferUntil("g", async () => true).executeFrom([1]))).rejects.toThrow(
      /must be synchronous/,
    );
    expect(() => p.bufferUntil("g", () => true, { maxSize: 0 })).toThrow(RangeError);
    expect(() => p.bufferUntil("g", () => true, { maxWaitMs: -1 })).toThrow(RangeError);
    expect(() => p.bufferUntil("g", "x" as never)).toThrow(TypeError);
  });
});
