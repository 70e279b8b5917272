import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";

/** Drains a run (or any async iterable) into an array. */
async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

describe("execute: one initial input", () => {
  it("treats an array passed to execute as ONE item", async () => {
    const seen: unknown[] = [];
    const p = StreamingPipeline.start<number[]>().map("len", (xs) => {
      seen.push(xs);
      return xs.length;
    });
    expect(await collect(p.execute([1, 2, 3]))).toEqual([3]);
    expect(seen).toEqual([[1, 2, 3]]);
  });

  it("passes a scalar, undefined or null input through as one item", async () => {
    expect(await collect(StreamingPipeline.start<string>().execute("x"))).toEqual(["x"]);
    expect(await collect(StreamingPipeline.start<undefined>().execute(undefined))).toEqual([
      undefined,
    ]);
    expect(await collect(StreamingPipeline.start<null>().execute(null))).toEqual([null]);
  });

  it("executeToArray collects every output of one input", async () => {
    const p = StreamingPipeline.start<number>().flatMap("range", (n) =>
      Array.from({ length: n }, (_, i) => i),
    );
    expect(await p.executeToArray(4)).toEqual([0, 1, 2, 3]);
  });

  it("executeReduce folds outputs with their index, awaiting an async reducer", async () => {
    const p = StreamingPipeline.start<number>().flatMap("range", (n) => [n, n + 1, n + 2]);
    const indexes: number[] = [];
    const sum = await p.executeReduce(
      10,
      async (acc: number, x, i) => {
        indexes.push(i);
        await Promise.resolve();
        return acc + x;
      },
      0,
    );
    expect(sum).toBe(33);
    expect(indexes).toEqual([0, 1, 2]);
  });

  it("forEach calls fn per output (awaiting it) and resolves with the run's metadata", async () => {
    const p = StreamingPipeline.start<number>().flatMap("pair", (n) => [n, -n]);
    const calls: [number, number][] = [];
    let inside = false;
    const meta = await p.forEach(5, async (x, i) => {
      expect(inside).toBe(false);
      inside = true;
      await Promise.resolve();
      calls.push([x, i]);
      inside = false;
    });
    expect(calls).toEqual([
      [5, 0],
      [-5, 1],
    ]);
    expect(meta.status).toBe("completed");
    expect(meta.stages.map((s) => s.key)).toEqual(["pair"]);
  });

  it("propagates a forEach callback's error", async () => {
    const p = StreamingPipeline.start<number>();
    await expect(
      p.forEach(1, () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
  });
});

describe("executeFrom: sources", () => {
  it("reads an array item by item", async () => {
    const p = StreamingPipeline.start<number>().map("x2", (n) => n * 2);
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([2, 4, 6]);
  });

  it("reads an empty array to an empty output", async () => {
    const p = StreamingPipeline.start<number>().map("x2", (n) => n * 2);
    const run = p.executeFrom([]);
    expect(await collect(run)).toEqual([]);
    expect(run.metadata().status).toBe("completed");
  });

  it("reads a Set, a Map and a sync generator", async () => {
    const p = StreamingPipeline.start<unknown>();
    expect(await collect(p.executeFrom(new Set([1, 2, 2, 3])))).toEqual([1, 2, 3]);
    expect(await collect(p.executeFrom(new Map([["a", 1]])))).toEqual([["a", 1]]);
    function* gen() {
      yield "a";
      yield "b";
    }
    expect(await collect(p.executeFrom(gen()))).toEqual(["a", "b"]);
  });

  it("reads an async generator", async () => {
    async function* gen() {
      for (let i = 0; i < 5; i++) {
        await Promise.resolve();
        yield i;
      }
    }
    const p = StreamingPipeline.start<number>().map("sq", async (n) => n * n);
    expect(await collect(p.executeFrom(gen()))).toEqual([0, 1, 4, 9, 16]);
  });

  it("reads a hand-written AsyncIterable without return()", async () => {
    let i = 0;
    const iterable: AsyncIterable<number> = {
      [Symbol.asyncIterator]: () => ({
        next: async () => (i < 3 ? { value: i++, done: false } : { value: undefined, done: true }),
      }),
    };
    const p = StreamingPipeline.start<number>().take("t", 2);
    expect(await collect(p.executeFrom(iterable))).toEqual([0, 1]);
  });

  it("prefers Symbol.asyncIterator over Symbol.iterator when an object offers both", async () => {
    const both = {
      *[Symbol.iterator]() {
        yield "sync";
      },
      async *[Symbol.asyncIterator]() {
        yield "async";
      },
    };
    expect(await collect(StreamingPipeline.start<string>().executeFrom(both))).toEqual(["async"]);
  });

  it("reads a Web ReadableStream through its reader", async () => {
    const stream = new ReadableStream<number>({
      start(controller) {
        for (const n of [1, 2, 3]) controller.enqueue(n);
        controller.close();
      },
    });
    const p = StreamingPipeline.start<number>().map("neg", (n) => -n);
    expect(await collect(p.executeFrom(stream))).toEqual([-1, -2, -3]);
    // The run released its lock once the stream ended.
    expect(stream.locked).toBe(false);
  });

  it("cancels a ReadableStream when the consumer stops early", async () => {
    let cancelled: unknown = "not cancelled";
    let pulls = 0;
    const stream = new ReadableStream<number>(
      {
        pull(controller) {
          controller.enqueue(pulls++);
        },
        cancel(reason) {
          cancelled = reason;
        },
      },
      { highWaterMark: 0 },
    );
    const run = StreamingPipeline.start<number>().executeFrom(stream);
    for await (const n of run) if (n === 2) break;
    expect(cancelled).toBeUndefined();
    expect(run.metadata().status).toBe("cancelled");
  });

  it("cancels an idle ReadableStream promptly through the run's signal", async () => {
    let cancelled = false;
    const stream = new ReadableStream<number>({
      cancel() {
        cancelled = true;
      },
    });
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>().executeFrom(stream, { signal: ac.signal });
    const next = run.next();
    await new Promise((r) => setTimeout(r, 5));
    await run.return();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(cancelled).toBe(true);
  });

  it("calls return() on a sync iterator when the consumer breaks", async () => {
    let finallyRan = 0;
    let produced = 0;
    function* gen() {
      try {
        for (let i = 0; i < 1000; i++) {
          produced++;
          yield i;
        }
      } finally {
        finallyRan++;
      }
    }
    const run = StreamingPipeline.start<number>().executeFrom(gen());
    for await (const n of run) if (n === 1) break;
    expect(finallyRan).toBe(1);
    expect(produced).toBeLessThan(1000);
  });

  it("runs an async generator's finally when the consumer breaks", async () => {
    let finallyRan = 0;
    async function* gen() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finallyRan++;
      }
    }
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n)
      .executeFrom(gen());
    for await (const n of run) if (n === 3) break;
    expect(finallyRan).toBe(1);
  });

  it("propagates an error thrown by the source and closes the run as failed", async () => {
    async function* gen() {
      yield 1;
      throw new Error("source broke");
    }
    const run = StreamingPipeline.start<number>()
      .map("m", (n) => n)
      .executeFrom(gen());
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const n of run) seen.push(n);
      })(),
    ).rejects.toThrow("source broke");
    expect(seen).toEqual([1]);
    expect(run.metadata().status).toBe("failed");
  });

  it("propagates an error thrown by a sync iterator", async () => {
    function* gen() {
      yield 1;
      throw new Error("sync source broke");
    }
    const run = StreamingPipeline.start<number>().executeFrom(gen());
    await expect(collect(run)).rejects.toThrow("sync source broke");
  });

  it("reads a sync source lazily: an endless generator with take ends", async () => {
    let produced = 0;
    function* naturals() {
      for (let i = 0; ; i++) {
        produced++;
        yield i;
      }
    }
    const p = StreamingPipeline.start<number>().take("t", 5);
    expect(await collect(p.executeFrom(naturals()))).toEqual([0, 1, 2, 3, 4]);
    expect(produced).toBeLessThanOrEqual(16);
  });
});

describe("executeFrom: sources that are not iterable", () => {
  const p = StreamingPipeline.start<number>().map("m", (n) => n);
  const cases: [string, unknown, RegExp][] = [
    ["a number", 42, /number/],
    ["a plain object", { a: 1 }, /Object/],
    ["null", null, /null/],
    ["undefined", undefined, /undefined/],
    ["a promise", Promise.resolve([1]), /Promise/],
    ["an object with a non-function iterator", { [Symbol.iterator]: 1 }, /Object/],
  ];
  for (const [name, value, detail] of cases) {
    it(`throws a clear TypeError synchronously for ${name}`, () => {
      let thrown: unknown;
      try {
        p.executeFrom(value as Iterable<number>);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toMatch(
        /Iterable, AsyncIterable, ReadableStream or PullSource/,
      );
      expect((thrown as Error).message).toMatch(detail);
    });
  }
});

describe("laziness, immutability and re-execution", () => {
  it("runs nothing before the consumer pulls", async () => {
    let sourceStarted = 0;
    let fnCalls = 0;
    let contextBuilt = 0;
    async function* gen() {
      sourceStarted++;
      yield 1;
    }
    const p = StreamingPipeline.start<number, { n: number }>(() => {
      contextBuilt++;
      return { n: 1 };
    }).map("m", (x) => {
      fnCalls++;
      return x;
    });
    const run = p.executeFrom(gen());
    const run2 = p.execute(1);
    await new Promise((r) => setTimeout(r, 5));
    expect([sourceStarted, fnCalls, contextBuilt]).toEqual([0, 0, 0]);
    expect(run.metadata().status).toBe("pending");
    expect(run.metadata().startedAt).toBeUndefined();
    expect(await run.next()).toEqual({ value: 1, done: false });
    expect([sourceStarted, fnCalls, contextBuilt]).toEqual([1, 1, 1]);
    await run.return();
    await run2.return();
    expect(contextBuilt).toBe(1);
  });

  it("never starts a run that is returned before its first pull", async () => {
    let started = 0;
    async function* gen() {
      started++;
      yield 1;
    }
    const run = StreamingPipeline.start<number>().executeFrom(gen());
    await run.return();
    expect(await run.next()).toEqual({ value: undefined, done: true });
    expect(started).toBe(0);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("is immutable: adding a stage returns a new pipeline and leaves the old one intact", async () => {
    const base = StreamingPipeline.start<number>().map("a", (n) => n + 1);
    const longer = base.map("b", (n) => n * 10);
    expect(base.keys).toEqual(["a"]);
    expect(longer.keys).toEqual(["a", "b"]);
    expect(await collect(base.executeFrom([1, 2]))).toEqual([2, 3]);
    expect(await collect(longer.executeFrom([1, 2]))).toEqual([20, 30]);
    // Branching from the same base twice with the same key is fine: they are different pipelines.
    const other = base.map("b", (n) => -n);
    expect(await collect(other.executeFrom([1]))).toEqual([-2]);
  });

  it("is re-executable: each run starts fresh (take, skip, batch counters)", async () => {
    const p = StreamingPipeline.start<number>().skip("s", 1).take("t", 3).batch("b", 2);
    for (let i = 0; i < 3; i++) {
      expect(await collect(p.executeFrom([1, 2, 3, 4, 5, 6]))).toEqual([[2, 3], [4]]);
    }
  });

  it("builds the context once per run and shares it across stages", async () => {
    let built = 0;
    const p = StreamingPipeline.start<number, { id: number }>(async () => {
      await Promise.resolve();
      return { id: ++built };
    })
      .map("a", (n, ctx) => ({ n, id: ctx.context.id, obj: ctx.context }))
      .map("b", (v, ctx) => ({ ...v, same: v.obj === ctx.context }));
    const out1 = await collect(p.executeFrom([1, 2, 3]));
    expect(built).toBe(1);
    expect(out1.map((o) => o.id)).toEqual([1, 1, 1]);
    expect(out1.every((o) => o.same)).toBe(true);
    const out2 = await collect(p.executeFrom([1]));
    expect(built).toBe(2);
    expect(out2[0]?.id).toBe(2);
  });

  it("fails the run when the context builder throws", async () => {
    const p = StreamingPipeline.start<number, never>(() => {
      throw new Error("no context");
    });
    const run = p.executeFrom([1]);
    await expect(collect(run)).rejects.toThrow("no context");
  });

  it("runs concurrent executions independently", async () => {
    let built = 0;
    const p = StreamingPipeline.start<number, number>(() => ++built)
      .map(
        "slow",
        async (n, ctx) => {
          await new Promise((r) => setTimeout(r, n % 3));
          return `${ctx.context}:${n}`;
        },
        { concurrency: 3 },
      )
      .take("t", 4);
    const runs = [p.executeFrom([1, 2, 3, 4, 5]), p.executeFrom([6, 7, 8, 9, 10])];
    const [a, b] = await Promise.all(runs.map((r) => collect(r)));
    const ctxA = a?.[0]?.split(":")[0];
    const ctxB = b?.[0]?.split(":")[0];
    expect(new Set([ctxA, ctxB])).toEqual(new Set(["1", "2"]));
    expect(a).toEqual([1, 2, 3, 4].map((n) => `${ctxA}:${n}`));
    expect(b).toEqual([6, 7, 8, 9].map((n) => `${ctxB}:${n}`));
    expect(runs[0]?.traceId).not.toBe(runs[1]?.traceId);
  });

  it("reads a run's source once: a second run needs its own source", async () => {
    function* gen() {
      yield 1;
      yield 2;
    }
    const p = StreamingPipeline.start<number>();
    const g = gen();
    expect(await collect(p.executeFrom(g))).toEqual([1, 2]);
    // The same exhausted generator gives nothing more: the engine does not buffer sources.
    expect(await collect(p.executeFrom(g))).toEqual([]);
  });
});
