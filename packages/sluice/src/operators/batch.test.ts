import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type BatchOptions, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

/** Drains in the background, stamping each output with the (fake) clock. */
function drain<T>(run: AsyncIterable<T>) {
  const state = { out: [] as [number, T][], done: false, error: undefined as unknown };
  const t0 = Date.now();
  const promise = (async () => {
    try {
      for await (const x of run) state.out.push([Date.now() - t0, x]);
    } catch (e) {
      state.error = e;
    } finally {
      state.done = true;
    }
  })();
  return { state, promise };
}

/** An async source yielding each value at its time (ms from start), using setTimeout. */
function timed<T>(events: readonly [number, T][], endAt?: number) {
  return (async function* () {
    const t0 = Date.now();
    for (const [at, value] of events) {
      const wait = at - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      yield value;
    }
    if (endAt !== undefined) {
      const wait = endAt - (Date.now() - t0);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  })();
}

describe("batch by count", () => {
  it("groups by size and emits the final partial batch", async () => {
    const p = StreamingPipeline.start<number>().batch("b", 3);
    expect(await collect(p.executeFrom([1, 2, 3, 4, 5, 6, 7]))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7],
    ]);
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([[1, 2, 3]]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
    expect(
      await collect(StreamingPipeline.start<number>().batch("b", 1).executeFrom([1, 2])),
    ).toEqual([[1], [2]]);
  });

  it("accepts { size } and works over async sources and after parallel stages", async () => {
    async function* gen() {
      for (let i = 0; i < 10; i++) yield i;
    }
    const p = StreamingPipeline.start<number>()
      .map("m", async (n) => n, { concurrency: 4 })
      .batch("b", { size: 4 });
    expect(await collect(p.executeFrom(gen()))).toEqual([
      [0, 1, 2, 3],
      [4, 5, 6, 7],
      [8, 9],
    ]);
  });

  it("counts in and out in metadata", async () => {
    const run = StreamingPipeline.start<number>().batch("b", 2).executeFrom([1, 2, 3]);
    await collect(run);
    expect(run.metadata().stages[0]).toMatchObject({ kind: "batch", counts: { in: 3, out: 2 } });
  });

  it("through a batch, earlier keys give the members' values", async () => {
    const p = StreamingPipeline.start<string>()
      .map("len", (s) => s.length)
      .batch("b", 2)
      .map("out", (b, ctx) => ({ b, lens: ctx.state.len, bb: ctx.state.b }));
    expect(await collect(p.executeFrom(["a", "bb", "ccc"]))).toEqual([
      { b: [1, 2], lens: [1, 2], bb: [1, 2] },
      { b: [3], lens: [3], bb: [3] },
    ]);
  });
});

describe("batch by weight", () => {
  it("closes a batch before an item that would exceed maxWeight; a heavy item travels alone", async () => {
    const p = StreamingPipeline.start<string>().batch("b", {
      maxWeight: 5,
      weigh: (s) => s.length,
    });
    expect(await collect(p.executeFrom(["aa", "bbb", "c", "dddddddddd", "e"]))).toEqual([
      ["aa", "bbb"],
      ["c"],
      ["dddddddddd"],
      ["e"],
    ]);
  });

  it("count and weight: whichever closes first", async () => {
    const p = StreamingPipeline.start<number>().batch("b", {
      size: 3,
      maxWeight: 10,
      weigh: (n) => n,
    });
    expect(await collect(p.executeFrom([1, 1, 1, 1, 6, 4, 9, 0, 0, 0]))).toEqual([
      [1, 1, 1],
      [1, 6],
      [4],
      [9, 0, 0],
      [0],
    ]);
  });

  it("zero-weight items fill by count only", async () => {
    const p = StreamingPipeline.start<number>().batch("b", {
      size: 2,
      maxWeight: 1,
      weigh: () => 0,
    });
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([[1, 2], [3]]);
  });

  it("a weigh that returns a bad weight fails the run with a StreamingError naming the key (RangeError cause)", async () => {
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY, "3" as unknown as number]) {
      const p = StreamingPipeline.start<number>().batch("weighed", {
        maxWeight: 5,
        weigh: () => bad,
      });
      const err = await collect(p.executeFrom([1])).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ name: "StreamingError", key: "weighed" });
      expect((err as Error).cause).toBeInstanceOf(RangeError);
      expect((err as Error).message).toMatch(/weighed/);
      expect((err as Error).message).toMatch(/weigh/);
    }
  });
});

describe("batch by time (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("emits a partial batch maxWaitMs after its first item while the source is idle", async () => {
    const source = timed<number>(
      [
        [0, 1],
        [10, 2],
        [500, 3],
      ],
      600,
    );
    const d = drain(
      StreamingPipeline.start<number>()
        .batch("b", { size: 10, maxWaitMs: 100 })
        .executeFrom(source),
    );
    await vi.advanceTimersByTimeAsync(99);
    expect(d.state.out).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.state.out).toEqual([[100, [1, 2]]]);
    await vi.advanceTimersByTimeAsync(450);
    expect(d.state.out).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(50);
    // The second batch's clock started at its own first item (t=500): not flushed yet at 600.
    await d.promise;
    expect(d.state.out.map(([, b]) => b)).toEqual([[1, 2], [3]]);
    expect(d.state.out[1]?.[0]).toBe(600);
  });

  it("the clock restarts with each batch's first item", async () => {
    const source = timed<number>([
      [0, 1],
      [150, 2],
      [160, 3],
      [400, 4],
    ]);
    const d = drain(
      StreamingPipeline.start<number>().batch("b", { maxWaitMs: 100 }).executeFrom(source),
    );
    await vi.advanceTimersByTimeAsync(1000);
    await d.promise;
    expect(d.state.out).toEqual([
      [100, [1]],
      [250, [2, 3]],
      [400, [4]],
    ]);
  });

  it("a full batch leaves at once, before maxWaitMs", async () => {
    const source = timed<number>([
      [0, 1],
      [1, 2],
      [2, 3],
      [300, 4],
    ]);
    const d = drain(
      StreamingPipeline.start<number>().batch("b", { size: 3, maxWaitMs: 100 }).executeFrom(source),
    );
    await vi.advanceTimersByTimeAsync(2);
    expect(d.state.out).toEqual([[2, [1, 2, 3]]]);
    await vi.advanceTimersByTimeAsync(1000);
    await d.promise;
    expect(d.state.out.map(([, b]) => b)).toEqual([[1, 2, 3], [4]]);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("never emits an empty batch on an idle source", async () => {
    const source = timed<number>([[1000, 1]]);
    const d = drain(
      StreamingPipeline.start<number>().batch("b", { maxWaitMs: 50 }).executeFrom(source),
    );
    await vi.advanceTimersByTimeAsync(999);
    expect(d.state.out).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    await d.promise;
    expect(d.state.out).toEqual([[1000, [1]]]);
  });

  it("return() on an idle source leaves no timer behind", async () => {
    let finallyRan = false;
    const source = (async function* () {
      try {
        yield 1;
        await new Promise(() => {});
      } finally {
        finallyRan = true;
      }
    })();
    const run = StreamingPipeline.start<number>()
      .batch("b", { size: 5, maxWaitMs: 10_000 })
      .executeFrom(source);
    const next = run.next();
    await vi.advanceTimersByTimeAsync(10);
    await run.return();
    await expect(next).resolves.toMatchObject({ done: true });
    expect(vi.getTimerCount()).toBe(0);
    expect(run.metadata().status).toBe("cancelled");
    // The generator is parked on a promise that never settles: its finally cannot run, and the
    // run must not wait for it.
    expect(finallyRan).toBe(false);
  });
});

describe("batch: validation at build time", () => {
  const bad: [string, number | BatchOptions<number>, RegExp][] = [
    ["size 0", 0, /size/],
    ["size -2", -2, /size/],
    ["size 1.5", 1.5, /size/],
    ["size NaN", Number.NaN, /size/],
    ["{ size: 0 }", { size: 0 }, /size/],
    ["maxWeight 0", { maxWeight: 0, weigh: () => 1 }, /maxWeight/],
    ["maxWeight -1", { maxWeight: -1, weigh: () => 1 }, /maxWeight/],
    ["maxWeight NaN", { maxWeight: Number.NaN, weigh: () => 1 }, /maxWeight/],
    ["maxWaitMs 0", { maxWaitMs: 0 }, /maxWaitMs/],
    ["maxWaitMs -5", { maxWaitMs: -5 }, /maxWaitMs/],
    ["maxWaitMs Infinity", { maxWaitMs: Number.POSITIVE_INFINITY }, /maxWaitMs/],
    ["no criterion", {}, /size, maxWeight or maxWaitMs/],
  ];
  for (const [name, arg, option] of bad) {
    it(`throws a RangeError naming the option and the key for ${name}`, () => {
      const build = () => StreamingPipeline.start<number>().batch("myBatch", arg);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(option);
      expect(build).toThrow(/myBatch/);
    });
  }

  it("requires weigh with maxWeight, and weigh must be a function", () => {
    expect(() => StreamingPipeline.start<number>().batch("b", { maxWeight: 5 })).toThrow(/weigh/);
    expect(() =>
      StreamingPipeline.start<number>().batch("b", {
        size: 2,
        weigh: 3 as unknown as () => number,
      }),
    ).toThrow(TypeError);
    expect(() => StreamingPipeline.start<number>().batch("b", "3" as unknown as number)).toThrow(
      TypeError,
    );
  });
});
