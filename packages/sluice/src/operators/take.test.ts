import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

function countingSource(limit = Number.POSITIVE_INFINITY) {
  const c = { produced: 0, finallyRan: 0, started: 0 };
  async function* gen() {
    c.started++;
    try {
      for (let i = 0; i < limit; i++) {
        c.produced++;
        yield i;
      }
    } finally {
      c.finallyRan++;
    }
  }
  return { c, gen };
}

describe("take", () => {
  it("passes the first n items", async () => {
    const p = StreamingPipeline.start<number>().take("t", 3);
    expect(await collect(p.executeFrom([1, 2, 3, 4, 5]))).toEqual([1, 2, 3]);
    expect(await collect(p.executeFrom([1, 2]))).toEqual([1, 2]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("take 0 passes nothing and never starts the source", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>().take("t", 0).executeFrom(src.gen());
    expect(await collect(run)).toEqual([]);
    expect(src.c.started).toBe(0);
    expect(run.metadata().status).toBe("completed");
  });

  it("ends an endless source, running its finally; the run completes (not cancelled)", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n * 2)
      .take("t", 4)
      .executeFrom(src.gen());
    expect(await collect(run)).toEqual([0, 2, 4, 6]);
    expect(src.c.finallyRan).toBe(1);
    expect(src.c.produced).toBeLessThanOrEqual(5);
    expect(run.metadata().status).toBe("completed");
  });

  it("when satisfied, aborts upstream in-flight work and starts nothing new", async () => {
    const src = countingSource();
    const c = { started: 0, aborted: 0, active: 0 };
    const run = StreamingPipeline.start<number>()
      .map(
        "work",
        async (n: number, ctx: ItemContext) => {
          c.started++;
          c.active++;
          try {
            if (n < 2) return n;
            await new Promise<void>((resolve) => {
              const t = setTimeout(resolve, 10_000);
              ctx.signal.addEventListener("abort", () => {
                c.aborted++;
                clearTimeout(t);
                resolve();
              });
            });
            return n;
          } finally {
            c.active--;
          }
        },
        { concurrency: 4 },
      )
      .take("t", 2)
      .executeFrom(src.gen());
    const t0 = performance.now();
    expect(await collect(run)).toEqual([0, 1]);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(c.active).toBe(0);
    expect(c.aborted).toBe(c.started - 2);
    expect(src.c.finallyRan).toBe(1);
    const started = c.started;
    expect(started).toBeLessThanOrEqual(6);
    await new Promise((r) => setTimeout(r, 5));
    expect(c.started).toBe(started);
  });

  it("stages after take finish their work on the taken items", async () => {
    const done: number[] = [];
    const run = StreamingPipeline.start<number>()
      .take("t", 3)
      .map(
        "after",
        async (n: number, ctx: ItemContext) => {
          await new Promise((r) => setTimeout(r, 5));
          expect(ctx.signal.aborted).toBe(false);
          done.push(n);
          return n;
        },
        { concurrency: 2 },
      )
      .executeFrom(countingSource().gen());
    expect(await collect(run)).toEqual([0, 1, 2]);
    expect(done.sort()).toEqual([0, 1, 2]);
  });

  it("takes whole groups after batch and counts items after flatMap", async () => {
    const batches = StreamingPipeline.start<number>().batch("b", 2).take("t", 2);
    expect(await collect(batches.executeFrom([1, 2, 3, 4, 5]))).toEqual([
      [1, 2],
      [3, 4],
    ]);
    const flat = StreamingPipeline.start<number>()
      .flatMap("fm", (n) => [n, n, n])
      .take("t", 4);
    expect(await collect(flat.executeFrom([1, 2, 3]))).toEqual([1, 1, 1, 2]);
  });

  it("two takes: the smaller wins", async () => {
    const p = StreamingPipeline.start<number>().take("a", 5).take("b", 2);
    expect(await collect(p.executeFrom(countingSource().gen()))).toEqual([0, 1]);
  });

  it("validates n at build time with a RangeError naming n and the key", () => {
    for (const n of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "2" as unknown as number]) {
      const build = () => StreamingPipeline.start<number>().take("myTake", n);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(/\bn\b/);
      expect(build).toThrow(/myTake/);
    }
  });
});
