import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  AbortError,
  type ItemContext,
  StreamingError,
  StreamingErrorStrategy,
  StreamingPipeline,
  StreamingRun,
} from "../index.js";
import { deferred } from "../testing/deferred.js";
import { sourcePuller } from "./sources.js";
import type { StageSpec } from "./stage-spec.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

/** Settles with the outcome instead of throwing, so assertions can look at both. */
async function outcome<T>(
  run: AsyncIterable<T>,
): Promise<{ items: T[]; error: unknown; threw: boolean }> {
  const items: T[] = [];
  try {
    for await (const x of run) items.push(x);
    return { items, error: undefined, threw: false };
  } catch (error) {
    return { items, error, threw: true };
  }
}

/** An async generator over 0.. with counters for items produced and finally blocks run. */
function countingSource(limit = Number.POSITIVE_INFINITY) {
  const c = { produced: 0, finallyRan: 0 };
  async function* gen() {
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

/** An async generator that never yields: a source that stays idle forever. */
function idleSource() {
  const c = { started: 0 };
  async function* gen(): AsyncGenerator<number> {
    c.started++;
    await new Promise(() => {});
  }
  return { c, gen };
}

/**
 * A per-item function with lifecycle counters: it waits `ms` (or until its signal aborts,
 * resolving then) and records whether it saw its signal abort.
 */
function tracked(ms: (n: number) => number) {
  const c = { started: 0, finished: 0, aborted: 0, active: 0 };
  const fn = async (n: number, ctx: ItemContext) => {
    c.started++;
    c.active++;
    try {
      await new Promise<void>((resolve) => {
        const onAbort = () => {
          c.aborted++;
          clearTimeout(t);
          resolve();
        };
        const t = setTimeout(() => {
          ctx.signal.removeEventListener("abort", onAbort);
          resolve();
        }, ms(n));
        ctx.signal.addEventListener("abort", onAbort, { once: true });
      });
      return n;
    } finally {
      c.active--;
      c.finished++;
    }
  };
  return { c, fn };
}

describe("next() called again before the previous call settled", () => {
  it("answers every call, in order, like an async generator", async () => {
    const run = StreamingPipeline.start<number>()
      .map("double", async (n: number) => n * 2, { concurrency: 2 })
      .executeFrom([1, 2, 3]);
    // Each call queues behind the one before; a call served from the chunk buffer must not
    // queue behind itself (that deadlocked: every one of these stayed pending).
    const settled = Promise.all([run.next(), run.next(), run.next(), run.next(), run.next()]);
    const timeout = sleep(1000).then(() => "timed out");
    expect(await Promise.race([settled, timeout])).toEqual([
      { value: 2, done: false },
      { value: 4, done: false },
      { value: 6, done: false },
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
  });
});

describe("next() calls in overlapping waves", () => {
  it("hand out every item once, in order, whatever settles when", async () => {
    const n = 300;
    const run = StreamingPipeline.start<number>()
      .map(
        "slow",
        async (x: number) => {
          if (x % 3 === 0) await sleep(x % 2);
          return x;
        },
        { concurrency: 8 },
      )
      .executeFrom(Array.from({ length: n }, (_, i) => i));
    const calls: Promise<IteratorResult<number, void>>[] = [];
    // Waves of 1 to 4 calls, each wave made after only the first call of the one before
    // settled: calls whose result is known but not yet settled meet new calls.
    for (let wave = 0; calls.length < n + 4; wave++) {
      const size = 1 + (wave % 4);
      const first = run.next();
      calls.push(first);
      for (let i = 1; i < size; i++) calls.push(run.next());
      await first;
    }
    const results = await Promise.all(calls);
    const values = results.filter((r) => r.done !== true).map((r) => r.value);
    expect(values).toEqual(Array.from({ length: n }, (_, i) => i));
    expect(results.slice(n).every((r) => r.done === true)).toBe(true);
  });
});

describe("cancellation by the consumer", () => {
  for (const concurrency of [1, 4]) {
    it(`break aborts in-flight work, closes the source and settles first (concurrency ${concurrency})`, async () => {
      const src = countingSource();
      const work = tracked((n) => (n === 0 ? 0 : 10_000));
      const run = StreamingPipeline.start<number>()
        .map("work", work.fn, { concurrency })
        .executeFrom(src.gen());
      for await (const n of run) if (n === 0) break;
      // The `for await` break awaited run.return(): in-flight work has settled by now.
      expect(work.c.active).toBe(0);
      expect(work.c.finished).toBe(work.c.started);
      expect(work.c.aborted).toBe(work.c.started - 1);
      expect(src.c.finallyRan).toBe(1);
      expect(run.metadata().status).toBe("cancelled");
      expect(run.metadata().endedAt).toBeTypeOf("number");
      const started = work.c.started;
      expect(started).toBeLessThanOrEqual(concurrency + 1);
      await sleep(5);
      // No new work starts after cancellation.
      expect(work.c.started).toBe(started);
      expect(await run.next()).toEqual({ value: undefined, done: true });
    });
  }

  it("return() waits for in-flight work that ignores its signal", async () => {
    let settled = false;
    const run = StreamingPipeline.start<number>()
      .map(
        "stubborn",
        async (n: number) => {
          await sleep(30);
          settled = true;
          return n;
        },
        { concurrency: 2 },
      )
      .executeFrom([1, 2, 3]);
    const first = run.next();
    await sleep(5);
    await run.return();
    expect(settled).toBe(true);
    await expect(first).resolves.toMatchObject({ done: true });
  });

  it("cancels through every stage: in-flight calls in each stage see their signal abort", async () => {
    const src = countingSource();
    const a = tracked(() => 10_000);
    const b = tracked((n) => (n === 0 ? 0 : 10_000));
    const run = StreamingPipeline.start<number>()
      .map("a", (n: number, ctx: ItemContext) => (n === 0 ? n : a.fn(n, ctx)), {
        concurrency: 3,
      })
      .map("b", b.fn, { concurrency: 2, buffer: 1 })
      .executeFrom(src.gen());
    for await (const n of run) if (n === 0) break;
    expect(a.c.active + b.c.active).toBe(0);
    expect(a.c.aborted).toBe(a.c.started);
    expect(b.c.aborted).toBe(b.c.started - 1);
    expect(src.c.finallyRan).toBe(1);
  });

  it("return() on an idle source with a pending next() ends promptly", async () => {
    const src = idleSource();
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n, { concurrency: 2 })
      .bufferTime("b", 60_000)
      .executeFrom(src.gen());
    const next = run.next();
    await sleep(5);
    expect(src.c.started).toBe(1);
    const t0 = performance.now();
    await run.return();
    expect(performance.now() - t0).toBeLessThan(1000);
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(run.metadata().status).toBe("cancelled");
  });

  it("return() is idempotent and concurrent calls agree", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n, { concurrency: 2 })
      .executeFrom(src.gen());
    await run.next();
    const results = await Promise.all([run.return(), run.return()]);
    expect(results).toEqual([
      { value: undefined, done: true },
      { value: undefined, done: true },
    ]);
    await run.return();
    expect(src.c.finallyRan).toBe(1);
  });

  it("Symbol.asyncDispose cancels the run like return()", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>().executeFrom(src.gen());
    await run.next();
    await run[Symbol.asyncDispose]();
    expect(src.c.finallyRan).toBe(1);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("throw() stops the run, then rejects with the given error; status is failed", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>().executeFrom(src.gen());
    await run.next();
    const err = new Error("consumer gave up");
    await expect(run.throw(err)).rejects.toBe(err);
    expect(src.c.finallyRan).toBe(1);
    expect(run.metadata().status).toBe("failed");
  });

  it("a consumer that throws inside for-await cancels the run", async () => {
    const src = countingSource();
    const run = StreamingPipeline.start<number>().executeFrom(src.gen());
    await expect(
      (async () => {
        for await (const n of run) if (n === 2) throw new Error("consumer");
      })(),
    ).rejects.toThrow("consumer");
    expect(src.c.finallyRan).toBe(1);
    expect(run.metadata().status).toBe("cancelled");
  });
});

describe("cancellation through options.signal", () => {
  it("an already aborted signal makes the run throw its reason before any work", async () => {
    const src = countingSource();
    const ac = new AbortController();
    const reason = new Error("pre-aborted");
    ac.abort(reason);
    let calls = 0;
    const run = StreamingPipeline.start<number>()
      .map("m", (n) => {
        calls++;
        return n;
      })
      .executeFrom(src.gen(), { signal: ac.signal });
    const r = await outcome(run);
    expect(r.error).toBe(reason);
    expect(calls).toBe(0);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("an abort between pulls makes the next pull throw the reason, once", async () => {
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>()
      .map("m", (n) => n)
      .executeFrom([1, 2, 3], { signal: ac.signal });
    expect(await run.next()).toEqual({ value: 1, done: false });
    ac.abort("stop now");
    await expect(run.next()).rejects.toBe("stop now");
    expect(await run.next()).toEqual({ value: undefined, done: true });
    expect(run.metadata().status).toBe("cancelled");
  });

  it("an abort without a reason throws the signal's default reason (an AbortError)", async () => {
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>().executeFrom([1, 2, 3], { signal: ac.signal });
    await run.next();
    ac.abort();
    const err = await run.next().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBe(ac.signal.reason);
    expect((err as Error).name).toBe("AbortError");
  });

  it("aborts in-flight work, closes the source and settles before the run throws", async () => {
    const src = countingSource();
    const work = tracked(() => 10_000);
    const ac = new AbortController();
    const reason = new Error("abort");
    const run = StreamingPipeline.start<number>()
      .map("work", work.fn, { concurrency: 3 })
      .executeFrom(src.gen(), { signal: ac.signal });
    const result = outcome(run);
    await sleep(5);
    expect(work.c.started).toBe(3);
    ac.abort(reason);
    expect((await result).error).toBe(reason);
    await run.return();
    expect(work.c.aborted).toBe(3);
    expect(work.c.active).toBe(0);
    expect(src.c.finallyRan).toBe(1);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("ends promptly on an idle source (bufferTime over a generator that never yields)", async () => {
    const src = idleSource();
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>()
      .bufferTime("b", 60_000)
      .executeFrom(src.gen(), { signal: ac.signal });
    const result = outcome(run);
    await sleep(5);
    const t0 = performance.now();
    ac.abort(new Error("stop"));
    await result;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(run.metadata().status).toBe("cancelled");
  });

  // Regression: an abort while a pull is pending (the run waiting on its source or on
  // in-flight work) used to end the run as if the stream had completed.
  const pendingCases: [string, () => AsyncIterable<number> | Iterable<number>, number][] = [
    ["idle source, no stages", () => idleSource().gen(), 0],
    ["idle source under bufferTime", () => idleSource().gen(), 1],
    ["slow in-flight parallel work", () => [1, 2, 3, 4], 2],
  ];
  for (const [name, source, shape] of pendingCases) {
    it(`throws the signal's reason when it aborts during a pending pull (${name})`, async () => {
      const ac = new AbortController();
      const reason = new Error("stop");
      const options = { signal: ac.signal };
      let run: StreamingRun<unknown>;
      if (shape === 0) run = StreamingPipeline.start<number>().executeFrom(source(), options);
      else if (shape === 1) {
        run = StreamingPipeline.start<number>()
          .bufferTime("b", 60_000)
          .executeFrom(source(), options);
      } else {
        run = StreamingPipeline.start<number>()
          .map(
            "slow",
            async (n, ctx) => {
              await new Promise((r) => ctx.signal.addEventListener("abort", r));
              return n;
            },
            { concurrency: 2 },
          )
          .executeFrom(source(), options);
      }
      const result = outcome(run);
      await sleep(5);
      ac.abort(reason);
      const r = await result;
      expect(run.metadata().status).toBe("cancelled");
      expect(r.threw).toBe(true);
      expect(r.error).toBe(reason);
    });
  }

  it("when a signal abort ends the run, in-flight work settled and the source closed first", async () => {
    const src = countingSource();
    const work = tracked(() => 10_000);
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>()
      .map("work", work.fn, { concurrency: 3 })
      .executeFrom(src.gen(), { signal: ac.signal });
    const result = outcome(run);
    await sleep(5);
    ac.abort(new Error("abort"));
    const r = await result;
    expect(r.threw).toBe(true);
    expect(work.c.active).toBe(0);
    expect(work.c.aborted).toBe(3);
    expect(src.c.finallyRan).toBe(1);
  });

  it("a signal aborted after the run completed changes nothing", async () => {
    const ac = new AbortController();
    const run = StreamingPipeline.start<number>().executeFrom([1, 2], { signal: ac.signal });
    expect(await collect(run)).toEqual([1, 2]);
    ac.abort();
    expect(run.metadata().status).toBe("completed");
    expect(await run.next()).toEqual({ value: undefined, done: true });
  });
});

describe("run metadata and status", () => {
  it("goes pending → running → completed with times and per-stage counts", async () => {
    const p = StreamingPipeline.start<number>()
      .map("double", (n) => n * 2)
      .filter("big", (n) => n > 4)
      .batch("pairs", 2);
    const run = p.executeFrom([1, 2, 3, 4, 5]);
    const before = run.metadata();
    expect(before.status).toBe("pending");
    expect(run.status).toBe("pending");
    expect(before.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(before.traceId).toBe(run.traceId);
    expect(before.startedAt).toBeUndefined();
    expect(before.endedAt).toBeUndefined();
    expect(before.durationMs).toBeUndefined();
    expect(before.stages.map((s) => [s.key, s.kind])).toEqual([
      ["double", "map"],
      ["big", "filter"],
      ["pairs", "batch"],
    ]);
    expect(await run.next()).toEqual({ value: [6, 8], done: false });
    expect(run.metadata().status).toBe("running");
    expect(await run.next()).toEqual({ value: [10], done: false });
    expect(await run.next()).toEqual({ value: undefined, done: true });
    const meta = run.metadata();
    expect(meta.status).toBe("completed");
    expect(meta.startedAt).toBeTypeOf("number");
    expect(meta.endedAt).toBeGreaterThanOrEqual(meta.startedAt as number);
    expect(meta.durationMs).toBeGreaterThanOrEqual(0);
    expect(meta.errors).toEqual([]);
    const [double, big, pairs] = meta.stages;
    expect(double?.counts).toMatchObject({ in: 5, out: 5, succeeded: 5, failed: 0, skipped: 0 });
    expect(big?.counts).toMatchObject({ in: 5, out: 3, succeeded: 5 });
    expect(pairs?.counts).toMatchObject({ in: 3, out: 2 });
    for (const s of meta.stages) {
      expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
      expect(s.startedAt).toBeTypeOf("number");
      expect(s.endedAt).toBeTypeOf("number");
      expect(s.inFlight).toBe(0);
    }
    expect(double?.timings.count).toBe(5);
    expect(double?.strategy).toBe("FAIL_FAST");
    expect(double?.concurrency).toBe(1);
    // Durations stop growing once the run ended.
    const d = meta.durationMs;
    await sleep(3);
    expect(run.metadata().durationMs).toBe(d);
  });

  it("reports failed with the error's details", async () => {
    const run = StreamingPipeline.start<number>()
      .map("boom", (n) => {
        if (n === 2) throw new Error("bad");
        return n;
      })
      .executeFrom([1, 2, 3]);
    const r = await outcome(run);
    expect(r.error).toBeInstanceOf(StreamingError);
    const meta = run.metadata();
    expect(meta.status).toBe("failed");
    expect(meta.endedAt).toBeTypeOf("number");
    expect(meta.stages[0]?.counts.failed).toBe(1);
  });

  it("tracks inFlight while running and maxInFlight up to the concurrency", async () => {
    const gate = deferred();
    const run = StreamingPipeline.start<number>()
      .map(
        "par",
        async (n) => {
          await gate.promise;
          return n;
        },
        { concurrency: 3 },
      )
      .executeFrom([1, 2, 3, 4, 5, 6, 7]);
    const all = collect(run);
    await sleep(5);
    const live = run.metadata().stages[0];
    expect(live?.inFlight).toBe(3);
    expect(run.metadata().status).toBe("running");
    gate.resolve();
    expect(await all).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const done = run.metadata().stages[0];
    expect(done?.inFlight).toBe(0);
    expect(done?.maxInFlight).toBe(3);
    expect(done?.timings.count).toBe(7);
    expect(done?.timings.max).toBeGreaterThanOrEqual(done?.timings.p50 ?? 0);
    expect(done?.timings.p99).toBeGreaterThanOrEqual(done?.timings.p90 ?? 0);
  });

  it("snapshots are independent copies", async () => {
    const run = StreamingPipeline.start<number>()
      .map("m", (n) => n)
      .executeFrom([1]);
    const a = run.metadata();
    await collect(run);
    const b = run.metadata();
    expect(a.status).toBe("pending");
    expect(b.status).toBe("completed");
    expect(a.stages[0]?.counts.in).toBe(0);
    expect(b.stages[0]?.counts.in).toBe(1);
  });

  it("gives each run its own trace id and each stage its own span id", () => {
    const p = StreamingPipeline.start<number>()
      .map("a", (n) => n)
      .map("b", (n) => n);
    const r1 = p.executeFrom([1]);
    const r2 = p.executeFrom([1]);
    expect(r1.traceId).not.toBe(r2.traceId);
    const spans = [...r1.metadata().stages, ...r2.metadata().stages].map((s) => s.spanId);
    expect(new Set(spans).size).toBe(4);
  });
});

describe("state lineage", () => {
  it("ctx.state gives the value this item's lineage produced at each earlier key", async () => {
    const p = StreamingPipeline.start<number>()
      .map("raw", (n) => n)
      .map("str", (n) => `s${n}`)
      .filter("keep", (_s, ctx) => ctx.state.raw % 2 === 1)
      .tap("seen", () => undefined)
      .map("out", (s, ctx) => ({
        raw: ctx.state.raw,
        str: ctx.state.str,
        keep: ctx.state.keep,
        seen: ctx.state.seen,
        s,
      }));
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([
      { raw: 1, str: "s1", keep: "s1", seen: "s1", s: "s1" },
      { raw: 3, str: "s3", keep: "s3", seen: "s3", s: "s3" },
    ]);
  });

  it("keeps lineage exact under unordered concurrency", async () => {
    const p = StreamingPipeline.start<number>()
      .map("orig", (n) => n)
      .map(
        "slow",
        async (n) => {
          await sleep((7 - n) % 4);
          return n * 100;
        },
        { concurrency: 4, ordered: false },
      )
      .map("check", (v, ctx) => [ctx.state.orig, ctx.state.slow, v] as const);
    const out = await collect(p.executeFrom([1, 2, 3, 4, 5, 6]));
    expect(out).toHaveLength(6);
    for (const [orig, slow, v] of out) {
      expect(slow).toBe(orig * 100);
      expect(v).toBe(orig * 100);
    }
  });

  it("gives each flatMap output its source item's lineage", async () => {
    const p = StreamingPipeline.start<string>()
      .map("word", (w) => w)
      .flatMap("chars", (w) => w.split(""))
      .map("pair", (c, ctx) => `${ctx.state.word}/${c}`);
    expect(await collect(p.executeFrom(["ab", "", "c"]))).toEqual(["ab/a", "ab/b", "c/c"]);
  });

  it("through take and skip, earlier keys still resolve", async () => {
    const p = StreamingPipeline.start<number>()
      .map("sq", (n) => n * n)
      .skip("s", 1)
      .take("t", 2)
      .map("out", (v, ctx) => [ctx.state.sq, ctx.state.s, ctx.state.t, v]);
    expect(await collect(p.executeFrom([1, 2, 3, 4]))).toEqual([
      [4, 4, 4, 4],
      [9, 9, 9, 9],
    ]);
  });

  it("through batch/window/bufferTime an earlier key gives the members' values", async () => {
    const p = StreamingPipeline.start<number>()
      .map("tag", (n) => `t${n}`)
      .batch("b", 2)
      .map("out", (batch, ctx) => ({ batch, tags: ctx.state.tag, b: ctx.state.b }));
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([
      { batch: ["t1", "t2"], tags: ["t1", "t2"], b: ["t1", "t2"] },
      { batch: ["t3"], tags: ["t3"], b: ["t3"] },
    ]);
    const w = StreamingPipeline.start<number>()
      .map("tag", (n) => n * 10)
      .window("w", 2, 1)
      .map("out", (_win, ctx) => ctx.state.tag);
    expect(await collect(w.executeFrom([1, 2, 3]))).toEqual([
      [10, 20],
      [20, 30],
    ]);
  });

  it("nested N:1 stages nest the arrays", async () => {
    const p = StreamingPipeline.start<number>()
      .map("tag", (n) => `t${n}`)
      .batch("inner", 2)
      .batch("outer", 2)
      .map("out", (_b, ctx) => ctx.state.tag);
    expect(await collect(p.executeFrom([1, 2, 3, 4, 5]))).toEqual([
      [
        ["t1", "t2"],
        ["t3", "t4"],
      ],
      [["t5"]],
    ]);
  });

  it("a key set after the reading stage is not visible (undefined for untyped access)", async () => {
    const p = StreamingPipeline.start<number>().map("a", (_n, ctx) => {
      return (ctx.state as unknown as Record<string, unknown>).b;
    });
    expect(await collect(p.executeFrom([1]))).toEqual([undefined]);
  });
});

describe("no unhandled rejections under random abort timing", () => {
  const strategies = Object.values(StreamingErrorStrategy);
  it("random abort/break timings × strategies × concurrency × ordering", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...strategies),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.integer({ min: 0, max: 3 }),
        fc.integer({ min: 0, max: 12 }),
        fc.constantFrom("signal", "break", "return", "none"),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 25 }),
        async (strategy, concurrency, ordered, buffer, abortAfterTicks, how, input) => {
          const src = countingSource(input.length);
          const work = { active: 0 };
          const ac = new AbortController();
          const p = StreamingPipeline.start<number>(undefined, { errorStrategy: strategy })
            .map(
              "a",
              async (i: number, ctx: ItemContext) => {
                work.active++;
                try {
                  const n = input[i] ?? 0;
                  for (let k = 0; k < n % 4; k++) await Promise.resolve();
                  if (n % 5 === 0) throw Object.assign(new Error(`fail ${n}`), { n });
                  if (ctx.signal.aborted && n % 2 === 0) throw ctx.signal.reason;
                  return n;
                } finally {
                  work.active--;
                }
              },
              { concurrency, ordered, buffer },
            )
            .filter("f", (n) => {
              if (n === 7) throw new Error("filter fail");
              return n !== 3;
            })
            .flatMap("fm", (n) => (n % 3 === 0 ? [] : [n, n]), {
              concurrency: Math.max(1, concurrency - 1),
            })
            .take("t", 30);
          const run = p.executeFrom(src.gen(), { signal: ac.signal });
          const errorsDrained = (async () => {
            const seen: unknown[] = [];
            for await (const e of run.errors) seen.push(e);
            return seen;
          })();
          let ticks = 0;
          const trigger = () => {
            if (ticks++ !== abortAfterTicks) return;
            if (how === "signal") ac.abort(new Error("random abort"));
          };
          const consume = (async () => {
            try {
              for await (const _ of run) {
                trigger();
                if (how === "break" && ticks > abortAfterTicks) break;
                if (how === "return" && ticks > abortAfterTicks) await run.return();
              }
            } catch {
              // failures and aborts are expected outcomes here
            }
          })();
          if (how === "signal") {
            for (let k = 0; k < abortAfterTicks; k++) await Promise.resolve();
            ac.abort(new Error("random abort"));
          }
          await consume;
          await run.return();
          await errorsDrained;
          expect(work.active).toBe(0);
          expect(["completed", "failed", "cancelled"]).toContain(run.metadata().status);
          if (src.c.produced > 0) expect(src.c.finallyRan).toBe(1);
          for (const s of run.metadata().stages) expect(s.inFlight).toBe(0);
        },
      ),
      { numRuns: 80 },
    );
  });

  it("a run that is abandoned mid-stream then returned leaks nothing (every strategy)", async () => {
    for (const strategy of strategies) {
      const run = StreamingPipeline.start<number>()
        .map(
          "m",
          async (n) => {
            await sleep(1);
            if (n % 2) throw new Error("odd");
            return n;
          },
          { concurrency: 3, errorStrategy: strategy },
        )
        .executeFrom([0, 1, 2, 3, 4, 5, 6, 7]);
      await run.next().catch(() => {});
      await run.return();
    }
  });

  it("AbortError is exported and carries ABORT_ERR", () => {
    const e = new AbortError();
    expect(e.name).toBe("AbortError");
    expect(e.code).toBe("ABORT_ERR");
    expect(e.message).toMatch(/aborted/);
  });
});

describe("chunk sizing", () => {
  /** A sync source that counts how many items were taken from it. */
  function counted(n: number) {
    const c = { pulled: 0 };
    function* gen() {
      for (let i = 0; i < n; i++) {
        c.pulled++;
        yield i;
      }
    }
    return { c, source: gen() };
  }

  it("the first result needs only the first item", async () => {
    const { c, source } = counted(10_000);
    const run = StreamingPipeline.start<number>()
      .map("double", (n) => n * 2)
      .executeFrom(source);
    const first = await run.next();
    expect(first).toEqual({ value: 0, done: false });
    expect(c.pulled).toBe(1);
    await run.return();
  });

  /**
   * Runs `pipeline` over `n` counted items, consumed one by one; returns how many came out and
   * the most items taken from the source but not yet delivered.
   */
  async function readAhead(
    n: number,
    pipeline: {
      executeFrom(
        source: Iterable<number>,
        options: { chunkSize?: number },
      ): AsyncIterable<unknown>;
    },
    options: { chunkSize?: number } = {},
  ) {
    const { c, source } = counted(n);
    let maxAhead = 0;
    let delivered = 0;
    for await (const _ of pipeline.executeFrom(source, options)) {
      delivered++;
      maxAhead = Math.max(maxAhead, c.pulled - delivered);
    }
    return { delivered, maxAhead };
  }

  /** A map function that keeps the CPU busy for `ms` per item. */
  const busyFor = (ms: number) => (n: number) => {
    const end = performance.now() + ms;
    while (performance.now() < end) {
      // CPU work
    }
    return n;
  };

  it("cheap items reach full chunks: the read-ahead grows to chunkSize", async () => {
    const pipeline = StreamingPipeline.start<number>().map("inc", (n) => n + 1);
    const { delivered, maxAhead } = await readAhead(10_000, pipeline, { chunkSize: 64 });
    expect(delivered).toBe(10_000);
    expect(maxAhead).toBe(63);
  });

  // 30 µs per item passes the chunk-time rule (a pull of 1 is under 0.05 ms) but not the
  // per-item one; noise can only make items slower, so this cannot flake into growth.
  it("items of 10 µs or more each travel singly even when a pull is quick", async () => {
    const pipeline = StreamingPipeline.start<number>().map("busy", busyFor(0.03));
    const { delivered, maxAhead } = await readAhead(200, pipeline);
    expect(delivered).toBe(200);
    expect(maxAhead).toBe(0);
  });

  it("slow items stay in small chunks: a stage busy 1 ms per item reads one item at a time", async () => {
    const pipeline = StreamingPipeline.start<number>().map("busy", busyFor(1));
    const { delivered, maxAhead } = await readAhead(30, pipeline);
    expect(delivered).toBe(30);
    expect(maxAhead).toBe(0);
  });
});

describe("a stage that cannot be built", () => {
  it("fails the run with its own error and still releases the source", async () => {
    let cancelled = false;
    const stream = new ReadableStream<number>({
      pull(controller) {
        controller.enqueue(1);
      },
      cancel() {
        cancelled = true;
      },
    });
    const broken: StageSpec = {
      key: "broken",
      kind: "test",
      readsState: false,
      create: () => {
        throw new Error("cannot build this stage");
      },
    };
    let made = 0;
    const run = new StreamingRun<number>({
      stages: [broken],
      source: () => {
        made++;
        return sourcePuller(stream);
      },
      contextBuilder: undefined,
    });
    await expect(run.next()).rejects.toThrow("cannot build this stage");
    expect(made).toBe(1);
    expect(cancelled).toBe(true);
    expect(run.metadata().status).toBe("failed");
  });
});
