import { describe, expect, it } from "vitest";
import { merge, StreamingError, StreamingPipeline } from "../index.js";
import { within } from "../testing/within.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** An async generator that records its next() calls and whether its finally ran. */
function tracked<T>(items: Iterable<T>, opts: { delayMs?: number; endless?: T } = {}) {
  const c = { nexts: 0, finallyRan: false };
  let release!: () => void;
  const finished = new Promise<void>((r) => {
    release = r;
  });
  async function* gen(): AsyncGenerator<T> {
    try {
      for (const x of items) {
        if (opts.delayMs !== undefined) await sleep(opts.delayMs);
        c.nexts++;
        yield x;
      }
      if (opts.endless !== undefined) {
        for (;;) {
          if (opts.delayMs !== undefined) await sleep(opts.delayMs);
          c.nexts++;
          yield opts.endless;
        }
      }
    } finally {
      c.finallyRan = true;
      release();
    }
  }
  return { c, gen, finished };
}

/** A promise resolved from outside, to order async sources without timers. */
function gate() {
  let open!: () => void;
  const p = new Promise<void>((r) => {
    open = r;
  });
  return { p, open };
}

const id = StreamingPipeline.start<unknown>();

describe("merge", () => {
  it("reads every kind of source: arrays, iterables, async iterables, streams, runs", async () => {
    const set = new Set([4, 5]);
    async function* gen() {
      yield 6;
      yield 7;
    }
    const stream = new ReadableStream<number>({
      start(c) {
        c.enqueue(8);
        c.close();
      },
    });
    const run = StreamingPipeline.start<number>()
      .map("x", (n) => n * 10)
      .executeFrom([9]);
    const out = await collect(id.executeFrom(merge<number>([1, 2, 3], set, gen(), stream, run)));
    expect([...out].sort((a, b) => Number(a) - Number(b))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 90]);
    // A merged source also reads without a pipeline.
    expect(await collect(merge([1], [2]))).toEqual([1, 2]);
  });

  it("hands items on in arrival order", async () => {
    const g1 = gate();
    const g2 = gate();
    async function* a() {
      yield "a1";
      await g2.p;
      yield "a2";
    }
    async function* b() {
      await g1.p;
      yield "b1";
    }
    const out: string[] = [];
    const reading = (async () => {
      for await (const x of merge(a(), b())) {
        out.push(x);
        if (x === "a1") g1.open();
        if (x === "b1") g2.open();
      }
    })();
    await within(reading, "the merge", 2_000);
    expect(out).toEqual(["a1", "b1", "a2"]);
  });

  it("is fair: an endless sync source does not starve a slow async one", async () => {
    function* fast() {
      for (;;) yield "fast";
    }
    // Slow by microtasks: a consumer that never waits on I/O never lets timers fire.
    const c = { finallyRan: false };
    async function* slowGen() {
      try {
        for (const s of ["s1", "s2", "s3"]) {
          for (let k = 0; k < 20; k++) await null;
          yield s;
        }
      } finally {
        c.finallyRan = true;
      }
    }
    const out = await within(
      collect(
        StreamingPipeline.start<string>()
          .takeWhile("untilSlowDone", () => true)
          .filter("f", (x) => x !== "")
          .take("t", 200_000)
          .executeFrom(merge(fast(), slowGen())),
      ),
      "the merge",
      10_000,
    );
    expect(out.filter((x) => x !== "fast")).toEqual(["s1", "s2", "s3"]);
    expect(out).toHaveLength(200_000);
    expect(c.finallyRan).toBe(true);
  });

  it("takes turns between ready sync sources", async () => {
    function* endless(tag: string) {
      for (;;) yield tag;
    }
    const out = await collect(
      id.take("t", 6).executeFrom(merge(endless("a"), endless("b")), { chunkSize: 1 }),
    );
    expect(out).toEqual(["a", "b", "a", "b", "a", "b"]);
  });

  it("keeps each source at most readAhead pulls ahead of the consumer", async () => {
    for (const readAhead of [1, 3]) {
      const src = tracked([], { endless: 1 });
      const idle = tracked([], { delayMs: 10_000 });
      const merged = merge({ src: src.gen(), idle: idle.gen() }, { readAhead });
      const it = merged[Symbol.asyncIterator]();
      for (let consumed = 1; consumed <= 5; consumed++) {
        await it.next();
        await sleep(2); // time for a source that reads ahead too far to show it
        expect(src.c.nexts).toBeLessThanOrEqual(consumed + readAhead);
      }
      expect(src.c.nexts).toBeGreaterThanOrEqual(5);
      await it.return?.();
      expect(src.c.finallyRan).toBe(true);
    }
  });

  it("fails the run on a failing source and closes every other source (FAIL_FAST)", async () => {
    const idle = tracked(["never"], { delayMs: 40 }); // blocked in an await when the failure comes
    const busy = tracked([], { endless: 0, delayMs: 1 });
    async function* bad() {
      yield 1;
      throw Object.assign(new Error("disk gone"), { code: "EIO" });
    }
    const run = id.executeFrom(merge({ idle: idle.gen(), busy: busy.gen(), bad: bad() }));
    const error = await collect(run).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StreamingError);
    expect((error as StreamingError).message).toContain('source "bad" failed: disk gone');
    expect((error as StreamingError).code).toBe("EIO");
    expect(run.metadata().status).toBe("failed");
    await within(busy.finished, "the busy source's finally", 2_000);
    await within(idle.finished, "the idle source's finally", 2_000);
  });

  it("drops a failing source and goes on under DROP_SOURCE, recording the error", async () => {
    async function* bad() {
      yield 1;
      throw new Error("flaky feed");
    }
    const dropped: string[] = [];
    const merged = merge(
      { bad: bad(), good: [10, 20, 30] },
      { sourceErrors: "DROP_SOURCE", onSourceDropped: (_, name) => dropped.push(name) },
    );
    const out = await collect(id.executeFrom(merged));
    expect([...out].sort((a, b) => Number(a) - Number(b))).toEqual([1, 10, 20, 30]);
    expect(dropped).toEqual(["bad"]);
    expect(merged.errors.map((e) => e.message)).toEqual(['merge: source "bad" failed: flaky feed']);
  });

  it("closes every source when the consumer stops early, also sources blocked in an await", async () => {
    const blocked = tracked(["late"], { delayMs: 60 });
    const fast = tracked([], { endless: "x" });
    let streamCancelled = false;
    const stream = new ReadableStream<string>({
      pull() {
        return sleep(20); // an idle stream: a pending read when the run stops
      },
      cancel() {
        streamCancelled = true;
      },
    });
    const run = id.executeFrom(merge<unknown>(blocked.gen(), fast.gen(), stream));
    let n = 0;
    for await (const _ of run) if (++n === 3) break;
    expect(run.metadata().status).toBe("cancelled");
    expect(fast.c.finallyRan).toBe(true);
    expect(streamCancelled).toBe(true);
    // An async generator runs return() after its pending await: its finally still runs.
    await within(blocked.finished, "the blocked source's finally", 2_000);
  });

  it("closes every source on a satisfied take and on the run's signal", async () => {
    const a = tracked([], { endless: 1, delayMs: 1 });
    const b = tracked([], { endless: 2, delayMs: 1 });
    const out = await collect(id.take("t", 5).executeFrom(merge(a.gen(), b.gen())));
    expect(out).toHaveLength(5);
    await within(Promise.all([a.finished, b.finished]), "finally of both", 2_000);

    const c = tracked([], { endless: 1, delayMs: 5 });
    const controller = new AbortController();
    const run = id.executeFrom(merge(c.gen(), [1, 2]), { signal: controller.signal });
    const reading = collect(run).catch((e: unknown) => e);
    await sleep(15);
    controller.abort(new Error("stop"));
    expect(((await reading) as Error).message).toBe("stop");
    await within(c.finished, "finally after abort", 2_000);
  });

  it("tags items with their source's name", async () => {
    const out = await collect(merge({ web: [1, 2], disk: ["a"] }, { tag: true }));
    expect(out).toEqual([
      { source: "web", value: 1 },
      { source: "web", value: 2 }, // a sync source hands on a chunk at a time
      { source: "disk", value: "a" },
    ]);
  });

  it("rejects bad input with a clear error", () => {
    expect(() => merge([1], 5 as never)).toThrow(/source 1 must be an Iterable/);
    expect(() => merge({ a: [1] }, { readAhead: 0 })).toThrow(RangeError);
    expect(() => merge({ a: [1] }, { sourceErrors: "SKIP" as never })).toThrow(/sourceErrors/);
    const merged = merge([1]);
    id.executeFrom(merged);
    expect(() => id.executeFrom(merged)).toThrow(/read only once/);
  });
});

describe("StreamingPipeline.merge", () => {
  it("merges the stream so far with named sources; state names each item's source", async () => {
    async function* live() {
      yield "l1";
      yield "l2";
    }
    const p = StreamingPipeline.start<string>()
      .map("upper", (s) => s.toUpperCase())
      .merge("origin", { backlog: ["B1"], live: () => live() })
      .map("tagged", (s, ctx) => `${ctx.state.origin}:${s}:${ctx.state.upper ?? "-"}`);
    for (let run = 0; run < 2; run++) {
      const out = await collect(p.executeFrom(["i1"]));
      expect([...out].sort()).toEqual(["backlog:B1:-", "input:I1:I1", "live:l1:-", "live:l2:-"]);
    }
  });

  it("records a dropped source in the run's errors and goes on", async () => {
    const p = StreamingPipeline.start<number>().merge(
      "src",
      {
        bad: () => {
          throw new Error("cannot open");
        },
      },
      { sourceErrors: "DROP_SOURCE", inputName: "main" },
    );
    // A factory that throws is that source failing, under the same strategy.
    const first = p.executeFrom([1]);
    expect(await collect(first)).toEqual([1]);
    expect(first.metadata().errors[0]?.message).toContain('source "bad" failed: cannot open');
    async function* bad() {
      yield 5;
      throw new Error("broken");
    }
    const q = StreamingPipeline.start<number>().merge(
      "src",
      { bad: () => bad() },
      { sourceErrors: "DROP_SOURCE" },
    );
    const run = q.executeFrom([1, 2]);
    expect((await collect(run)).sort()).toEqual([1, 2, 5]);
    expect(run.metadata().errors.map((e) => e.message)).toEqual([
      'merge: source "bad" failed: broken',
    ]);
  });

  it("rejects one-shot sources and name clashes when the stage is added", () => {
    async function* g() {
      yield 1;
    }
    const p = StreamingPipeline.start<number>();
    expect(() => p.merge("m", { live: g() })).toThrow(/generator, which can be read once/);
    expect(() => p.merge("m", { input: [1] })).toThrow(/"input" is taken/);
    expect(() => p.merge("m", { a: 5 as never })).toThrow(/must be a source or a function/);
  });
});
