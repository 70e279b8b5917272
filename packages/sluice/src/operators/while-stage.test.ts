import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

function countingSource(items: readonly number[] | "endless") {
  const c = { produced: 0, finallyRan: 0 };
  async function* gen() {
    try {
      for (let i = 0; items === "endless" || i < items.length; i++) {
        c.produced++;
        yield items === "endless" ? i : (items[i] as number);
      }
    } finally {
      c.finallyRan++;
    }
  }
  return { c, gen };
}

const input = [1, 2, 3, 10, 1, 2];

describe("takeWhile", () => {
  it("passes items while the predicate holds, then ends", async () => {
    const p = StreamingPipeline.start<number>().takeWhile("tw", (n) => n < 5);
    expect(await collect(p.executeFrom(input))).toEqual([1, 2, 3]);
    expect(await collect(p.executeFrom([9, 1]))).toEqual([]);
    expect(await collect(p.executeFrom([1, 2]))).toEqual([1, 2]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("accepts async predicates and truthy values", async () => {
    const p = StreamingPipeline.start<number>().takeWhile("tw", async (n) => {
      await Promise.resolve();
      return n < 5 ? "yes" : 0;
    });
    expect(await collect(p.executeFrom(countingSource(input).gen()))).toEqual([1, 2, 3]);
  });

  it("ends an endless source and runs its finally; the run completes", async () => {
    const src = countingSource("endless");
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n)
      .takeWhile("tw", (n) => n < 3)
      .executeFrom(src.gen());
    expect(await collect(run)).toEqual([0, 1, 2]);
    expect(src.c.finallyRan).toBe(1);
    expect(src.c.produced).toBeLessThan(10);
    expect(run.metadata().status).toBe("completed");
  });

  it("aborts upstream in-flight work once it switched", async () => {
    const src = countingSource("endless");
    const c = { aborted: 0, active: 0 };
    const run = StreamingPipeline.start<number>()
      .map(
        "work",
        async (n: number, ctx: ItemContext) => {
          c.active++;
          try {
            if (n === 2) await new Promise((r) => setTimeout(r, 10));
            if (n > 2) {
              await new Promise<void>((resolve) => {
                const t = setTimeout(resolve, 10_000);
                ctx.signal.addEventListener("abort", () => {
                  c.aborted++;
                  clearTimeout(t);
                  resolve();
                });
              });
            }
            return n;
          } finally {
            c.active--;
          }
        },
        { concurrency: 3 },
      )
      .takeWhile("tw", (n) => n < 2)
      .executeFrom(src.gen());
    expect(await collect(run)).toEqual([0, 1]);
    expect(c.active).toBe(0);
    expect(c.aborted).toBe(2);
    expect(src.c.finallyRan).toBe(1);
  });

  it("the predicate gets ctx with index and the lineage's state", async () => {
    const seen: [number, number, number][] = [];
    const p = StreamingPipeline.start<number>()
      .map("orig", (n) => n)
      .map("dbl", (n) => n * 2)
      .takeWhile("tw", (n: number, ctx: ItemContext<{ orig: number }>) => {
        seen.push([n, ctx.index, ctx.state.orig]);
        return ctx.state.orig < 3;
      })
      .map("out", (n, ctx) => ctx.state.tw === n);
    expect(await collect(p.executeFrom([1, 2, 3, 4]))).toEqual([true, true]);
    expect(seen).toEqual([
      [2, 0, 1],
      [4, 1, 2],
      [6, 2, 3],
    ]);
  });

  it("a throwing predicate fails the run", async () => {
    const p = StreamingPipeline.start<number>().takeWhile("tw", (n) => {
      if (n === 2) throw new Error("predicate broke");
      return true;
    });
    await expect(collect(p.executeFrom([1, 2, 3]))).rejects.toThrow("predicate broke");
  });

  it("rejects a non-function predicate with a TypeError", () => {
    expect(() =>
      StreamingPipeline.start<number>().takeWhile("tw", 3 as unknown as () => boolean),
    ).toThrow(TypeError);
  });
});

describe("skipWhile", () => {
  it("drops items while the predicate holds, then passes everything", async () => {
    const p = StreamingPipeline.start<number>().skipWhile("sw", (n) => n < 5);
    expect(await collect(p.executeFrom(input))).toEqual([10, 1, 2]);
    expect(await collect(p.executeFrom([1, 2]))).toEqual([]);
    expect(await collect(p.executeFrom([9, 1]))).toEqual([9, 1]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
  });

  it("stops calling the predicate once it switched", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().skipWhile("sw", async (n) => {
      calls++;
      return n < 5;
    });
    expect(await collect(p.executeFrom(countingSource(input).gen()))).toEqual([10, 1, 2]);
    expect(calls).toBe(4);
  });

  it("works across chunk boundaries", async () => {
    const big = Array.from({ length: 2000 }, (_, i) => i);
    const p = StreamingPipeline.start<number>().skipWhile("sw", (n) => n < 1500);
    const out = await collect(p.executeFrom(big));
    expect(out).toHaveLength(500);
    expect(out[0]).toBe(1500);
  });

  it("a throwing predicate fails the run", async () => {
    const p = StreamingPipeline.start<number>().skipWhile("sw", async () => {
      throw new Error("nope");
    });
    await expect(collect(p.executeFrom([1]))).rejects.toThrow("nope");
  });

  it("rejects a non-function predicate with a TypeError", () => {
    expect(() =>
      StreamingPipeline.start<number>().skipWhile("sw", undefined as unknown as () => boolean),
    ).toThrow(TypeError);
  });
});

describe("cancellation while an async predicate is in flight", () => {
  // Regression: WhileStage.cancel() used to neither abort the stage's signal nor wait for a
  // pending predicate; return() resolved with the predicate still running, and for takeWhile
  // the next() pending at cancellation later resolved with an item.
  for (const kind of ["takeWhile", "skipWhile"] as const) {
    it(`${kind}: return() aborts the predicate's signal and waits for it`, async () => {
      const c = { active: 0, aborted: false };
      let release!: () => void;
      const gate = new Promise<void>((r) => {
        release = r;
      });
      const predicate = async (_n: number, ctx: ItemContext) => {
        c.active++;
        ctx.signal.addEventListener("abort", () => {
          c.aborted = true;
          release();
        });
        await gate;
        c.active--;
        return true;
      };
      const base = StreamingPipeline.start<number>();
      const p =
        kind === "takeWhile" ? base.takeWhile("w", predicate) : base.skipWhile("w", predicate);
      const run = p.executeFrom([1, 2, 3]);
      const next = run.next();
      await new Promise((r) => setTimeout(r, 5));
      const returned = run.return();
      // Let a correct implementation settle through the abort; unblock a wrong one afterwards.
      const timer = setTimeout(release, 50);
      await returned;
      const activeAtReturn = c.active;
      const abortedAtReturn = c.aborted;
      release();
      clearTimeout(timer);
      const late = await next;
      expect(abortedAtReturn).toBe(true);
      expect(activeAtReturn).toBe(0);
      expect(late).toEqual({ value: undefined, done: true });
    });
  }

  it("a sync predicate has nothing in flight: break closes the source", async () => {
    const src = countingSource("endless");
    const run = StreamingPipeline.start<number>()
      .takeWhile("w", () => true)
      .executeFrom(src.gen());
    for await (const n of run) if (n === 5) break;
    expect(src.c.finallyRan).toBe(1);
    expect(run.metadata().status).toBe("cancelled");
  });
});
