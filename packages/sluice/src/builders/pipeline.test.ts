import { describe, expect, it } from "vitest";
import {
  createStep,
  ListErrorStrategy,
  Pipeline,
  type StageMetadata,
  StepError,
  type StepResult,
} from "../index.js";

const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;

function ok<T>(r: StepResult<T>): T {
  if (!r.success) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.data;
}

function failure<T>(r: StepResult<T>): StepError {
  if (r.success) throw new Error(`expected failure, got ${JSON.stringify(r.data)}`);
  return r.error;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describe("Pipeline: stages", () => {
  it("runs an empty pipeline as the identity", async () => {
    const input = { a: 1 };
    expect(ok(await Pipeline.start<{ a: number }>().execute(input))).toBe(input);
  });

  it("add runs a step on the whole value", async () => {
    const p = Pipeline.start<string>()
      .add(
        "len",
        createStep("len", ({ input }) => input.length),
      )
      .add(
        "double",
        createStep("double", async ({ input }) => input * 2),
      );
    expect(ok(await p.execute("abcd"))).toBe(8);
  });

  it("map runs a step per item, in input order", async () => {
    const p = Pipeline.start<number[]>().map(
      "sq",
      createStep("sq", ({ input }) => input * input),
    );
    expect(ok(await p.execute([1, 2, 3, 4]))).toEqual([1, 4, 9, 16]);
    expect(ok(await p.execute([]))).toEqual([]);
  });

  it("flatMap flattens each item's array, in order, including empty arrays", async () => {
    const p = Pipeline.start<number[]>().flatMap(
      "rep",
      createStep("rep", ({ input }) => Array.from({ length: input }, () => input)),
      { parallel: true, concurrencyLimit: 3 },
    );
    expect(ok(await p.execute([2, 0, 3, 1]))).toEqual([2, 2, 3, 3, 3, 1]);
  });

  it("flatMap fails the item when the step returns something that is not an array", async () => {
    const p = Pipeline.start<number[]>().flatMap(
      "bad",
      createStep("bad", () => 5 as unknown as number[]),
    );
    const e = failure(await p.execute([1]));
    expect(e.key).toBe("bad");
  });

  it("filter keeps the items whose (sync or async) predicate is truthy", async () => {
    const p = Pipeline.start<number[]>()
      .filter("even", (n) => n % 2 === 0)
      .filter("big", async (n) => {
        await sleep(1);
        return n > 2;
      });
    expect(ok(await p.execute([1, 2, 3, 4, 5, 6]))).toEqual([4, 6]);
  });

  it("filter's predicate receives the item context (index, state, context)", async () => {
    const seen: unknown[] = [];
    const p = Pipeline.start<string[], { tag: string }>(() => ({ tag: "T" }))
      .map(
        "up",
        createStep("up", ({ input }) => input.toUpperCase()),
      )
      .filter("pick", (s, ctx) => {
        seen.push([s, ctx.index, ctx.state.up, ctx.context.tag, ctx.attempt]);
        return ctx.index !== 1;
      });
    expect(ok(await p.execute(["a", "b", "c"]))).toEqual(["A", "C"]);
    expect(seen).toEqual([
      ["A", 0, ["A", "B", "C"], "T", 1],
      ["B", 1, ["A", "B", "C"], "T", 1],
      ["C", 2, ["A", "B", "C"], "T", 1],
    ]);
  });

  it("batch splits into chunks of size; the last one may be shorter", async () => {
    const p = Pipeline.start<number[]>().batch("b", 3);
    expect(ok(await p.execute([1, 2, 3, 4, 5, 6, 7]))).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
    expect(ok(await p.execute([1, 2, 3]))).toEqual([[1, 2, 3]]);
    expect(ok(await p.execute([]))).toEqual([]);
  });

  it("flatten flattens by one level only", async () => {
    const p = Pipeline.start<number[][][]>().flatten("f");
    expect(ok(await p.execute([[[1], [2]], [], [[3, 4]]]))).toEqual([[1], [2], [3, 4]]);
  });

  it("batch then map then flatten round-trips", async () => {
    const p = Pipeline.start<number[]>()
      .batch("chunks", 2)
      .map(
        "sums",
        createStep("inc", ({ input }) => input.map((n) => n + 1)),
        { parallel: true },
      )
      .flatten("flat");
    expect(ok(await p.execute([1, 2, 3, 4, 5]))).toEqual([2, 3, 4, 5, 6]);
  });

  it("branch runs whenTrue or whenFalse on the whole value, per run", async () => {
    const calls: string[] = [];
    const p = Pipeline.start<number[]>().branch(
      "which",
      ({ input }) => input.length > 2,
      createStep("long", ({ input }) => {
        calls.push("long");
        return `long:${input.length}`;
      }),
      createStep("short", ({ input }) => {
        calls.push("short");
        return input.length;
      }),
    );
    expect(ok(await p.execute([1, 2, 3]))).toBe("long:3");
    expect(ok(await p.execute([1]))).toBe(1);
    expect(calls).toEqual(["long", "short"]);
  });

  it("branch's condition may be async and sees state and context", async () => {
    const ctxObj = { threshold: 10 };
    let seen: unknown;
    const p = Pipeline.start<number, typeof ctxObj>(() => ctxObj)
      .add(
        "plus",
        createStep("plus", ({ input }) => input + 1),
      )
      .branch(
        "b",
        async ({ input, state, context }) => {
          seen = { input, plus: state.plus, context };
          await sleep(1);
          return input > context.threshold;
        },
        createStep("big", () => "big"),
        createStep("small", () => "small"),
      );
    expect(ok(await p.execute(3))).toBe("small");
    expect(seen).toEqual({ input: 4, plus: 4, context: ctxObj });
    expect((seen as { context: unknown }).context).toBe(ctxObj);
    expect(ok(await p.execute(30))).toBe("big");
  });

  it("a branch condition that throws fails the run with a result naming the stage", async () => {
    const p = Pipeline.start<number>().branch(
      "decide",
      () => {
        throw new Error("cond boom");
      },
      createStep("a", () => 1),
      createStep("b", () => 2),
    );
    const e = failure(await p.execute(1));
    expect(e.key).toBe("decide");
    expect(e.message).toContain("cond boom");
  });

  it("a failing chosen branch step fails the run", async () => {
    const p = Pipeline.start<number>().branch(
      "b",
      () => false,
      createStep("yes", () => 1),
      createStep("no", () => {
        throw new Error("no-branch failed");
      }),
    );
    expect(failure(await p.execute(1)).message).toContain("no-branch failed");
  });
});

describe("Pipeline: state and context", () => {
  it("each step sees the outputs of all earlier keys in state (and no later ones)", async () => {
    const snapshots: Record<string, unknown>[] = [];
    const snap = (state: object) => snapshots.push({ ...state });
    const p = Pipeline.start<string[]>()
      .map(
        "lens",
        createStep("lens", ({ input, state }) => {
          snap(state);
          return input.length;
        }),
      )
      .filter("long", (n, ctx) => {
        snap(ctx.state);
        return n > 1;
      })
      .add(
        "sum",
        createStep("sum", ({ input, state }) => {
          snap(state);
          return input.reduce((a, b) => a + b, 0);
        }),
      )
      .add(
        "label",
        createStep("label", ({ input, state }) => {
          snap(state);
          return `${state.lens.length} words, ${state.long.length} long, total ${input}`;
        }),
      );
    expect(ok(await p.execute(["a", "bb", "ccc"]))).toBe("3 words, 2 long, total 5");
    expect(snapshots[0]).toEqual({});
    expect(snapshots[3]).toEqual({ lens: [1, 2, 3] });
    expect(snapshots[6]).toEqual({ lens: [1, 2, 3], long: [2, 3] });
    expect(snapshots[7]).toEqual({ lens: [1, 2, 3], long: [2, 3], sum: 5 });
  });

  it("the context builder runs once per execute and every step sees the same object", async () => {
    let built = 0;
    const contexts = new Set<unknown>();
    const p = Pipeline.start<number[], { id: number }>(() => ({ id: ++built }))
      .map(
        "a",
        createStep("a", ({ input, context }) => {
          contexts.add(context);
          return input;
        }),
        { parallel: true, concurrencyLimit: 4 },
      )
      .filter("f", (_n, ctx) => {
        contexts.add(ctx.context);
        return true;
      })
      .flatMap(
        "fm",
        createStep("fm", ({ input, context }) => {
          contexts.add(context);
          return [input];
        }),
      )
      .add(
        "w",
        createStep("w", ({ context }) => {
          contexts.add(context);
          return context.id;
        }),
      )
      .branch(
        "br",
        ({ context }) => {
          contexts.add(context);
          return true;
        },
        createStep("t", ({ input, context }) => {
          contexts.add(context);
          return input;
        }),
        createStep("f", ({ input }) => input),
      );
    expect(ok(await p.execute([1, 2, 3, 4, 5]))).toBe(1);
    expect(built).toBe(1);
    expect(contexts.size).toBe(1);
    contexts.clear();
    expect(ok(await p.execute([1]))).toBe(2);
    expect(built).toBe(2);
    expect(contexts.size).toBe(1);
  });

  it("an async context builder is awaited once", async () => {
    let built = 0;
    const p = Pipeline.start<number, { v: number }>(async () => {
      built++;
      await sleep(2);
      return { v: 7 };
    }).add(
      "r",
      createStep("r", ({ input, context }) => input + context.v),
    );
    expect(ok(await p.execute(1))).toBe(8);
    expect(built).toBe(1);
  });

  it("a throwing context builder fails the run with a result (sync and async)", async () => {
    let stepRan = false;
    const step = createStep("s", () => {
      stepRan = true;
      return 1;
    });
    const a = await Pipeline.start<number>(() => {
      throw new Error("ctx sync");
    })
      .add("s", step)
      .execute(1);
    const b = await Pipeline.start<number>(async () => {
      throw new Error("ctx async");
    })
      .add("s", step)
      .execute(1);
    expect(failure(a).code).toBe("CONTEXT_FAILED");
    expect(failure(a).message).toContain("ctx sync");
    expect(failure(b).code).toBe("CONTEXT_FAILED");
    expect(stepRan).toBe(false);
  });

  it("start rejects a context builder that is not a function", () => {
    expect(() => Pipeline.start<number>("nope" as unknown as () => unknown)).toThrow(TypeError);
  });
});

describe("Pipeline: undefined, null and order", () => {
  it("undefined and null are ordinary inputs and outputs in every stage kind", async () => {
    const p = Pipeline.start<(number | null | undefined)[]>()
      .map(
        "id",
        createStep("id", ({ input }) => input),
      )
      .map(
        "undef",
        createStep("undef", ({ input }) => (input === 1 ? undefined : input)),
        { parallel: true },
      )
      .filter("all", () => true)
      .flatMap(
        "fm",
        createStep("fm", ({ input }) => [input, null]),
      )
      .batch("b", 3)
      .flatten("flat");
    expect(ok(await p.execute([undefined, 1, null, 2]))).toEqual([
      undefined,
      null,
      undefined,
      null,
      null,
      null,
      2,
      null,
    ]);
  });

  it("a whole-value step may take and return undefined / null", async () => {
    const p = Pipeline.start<undefined>()
      .add(
        "n",
        createStep("n", ({ input }) => (input === undefined ? null : 1)),
      )
      .add(
        "u",
        createStep("u", ({ input }) => (input === null ? undefined : 2)),
      );
    const r = await p.execute(undefined);
    expect(r.success).toBe(true);
    expect(ok(r)).toBeUndefined();
  });

  it("keeps input order in parallel mode with random delays (map, flatMap, filter)", async () => {
    const input = Array.from({ length: 60 }, (_, i) => i);
    const jitter = () => sleep(Math.floor(Math.random() * 4));
    const p = Pipeline.start<number[]>()
      .map(
        "m",
        createStep("m", async ({ input }) => {
          await jitter();
          return input * 2;
        }),
        { parallel: true, concurrencyLimit: 16 },
      )
      .flatMap(
        "fm",
        createStep("fm", async ({ input }) => {
          await jitter();
          return [input, input + 1];
        }),
        { parallel: true, concurrencyLimit: 7 },
      )
      .filter(
        "odd",
        async (n) => {
          await jitter();
          return n % 2 === 1;
        },
        { parallel: true, concurrencyLimit: 5 },
      );
    expect(ok(await p.execute(input))).toEqual(input.map((i) => i * 2 + 1));
  });
});

describe("Pipeline: parallelism", () => {
  it("parallel map respects concurrencyLimit", async () => {
    let inFlight = 0;
    let max = 0;
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", async ({ input }) => {
        max = Math.max(max, ++inFlight);
        await sleep(2);
        inFlight--;
        return input;
      }),
      { parallel: true, concurrencyLimit: 3 },
    );
    const r = await p.execute(Array.from({ length: 12 }, (_, i) => i));
    expect(ok(r)).toHaveLength(12);
    expect(max).toBe(3);
    const stage = r.metadata.stages?.[0];
    expect(stage?.concurrency).toBe(3);
    expect(stage?.maxInFlight).toBe(3);
  });

  it("defaults to concurrency 10 when parallel, and 1 when not", async () => {
    let inFlight = 0;
    let max = 0;
    const step = createStep("m", async ({ input }: { input: number }) => {
      max = Math.max(max, ++inFlight);
      await sleep(2);
      inFlight--;
      return input;
    });
    const items = Array.from({ length: 25 }, (_, i) => i);
    const par = await Pipeline.start<number[]>().map("m", step, { parallel: true }).execute(items);
    expect(max).toBe(10);
    expect(par.metadata.stages?.[0]?.concurrency).toBe(10);
    max = 0;
    const seq = await Pipeline.start<number[]>().map("m", step).execute(items);
    expect(max).toBe(1);
    expect(seq.metadata.stages?.[0]?.concurrency).toBe(1);
    max = 0;
    await Pipeline.start<number[]>()
      .map("m", step, { parallel: false, concurrencyLimit: 5 })
      .execute(items);
    expect(max).toBe(1);
  });

  it("parallel work really overlaps (wall time)", async () => {
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", async ({ input }) => {
        await sleep(100);
        return input;
      }),
      { parallel: true, concurrencyLimit: 10 },
    );
    const t0 = performance.now();
    ok(await p.execute(Array.from({ length: 10 }, (_, i) => i)));
    // Sequentially this takes 1 s; in parallel about 100 ms. The bound is loose for busy CI.
    expect(performance.now() - t0).toBeLessThan(600);
  });
});

describe("Pipeline: metadata", () => {
  it("returns run and per-stage metadata", async () => {
    const p = Pipeline.start<number[]>()
      .map(
        "double",
        createStep("doubler", async ({ input }) => {
          await sleep(1);
          return input * 2;
        }),
        { parallel: true, concurrencyLimit: 2, errorStrategy: "SKIP_FAILED" },
      )
      .filter("small", (n) => n < 7)
      .batch("pairs", 2)
      .add(
        "count",
        createStep("count", ({ input }) => input.length),
      );
    const before = Date.now();
    const r = await p.execute([1, 2, 3, 4, 5]);
    const after = Date.now();
    expect(ok(r)).toBe(2);
    const m = r.metadata;
    expect(m.traceId).toMatch(HEX32);
    expect(m.spanId).toMatch(HEX16);
    expect(m.status).toBe("completed");
    expect(m.startedAt).toBeGreaterThanOrEqual(before);
    expect(m.endedAt).toBeLessThanOrEqual(after);
    expect(m.endedAt).toBeGreaterThanOrEqual(m.startedAt);
    expect(m.durationMs).toBeGreaterThanOrEqual(0);
    expect(m.errors).toEqual([]);
    const stages = m.stages as StageMetadata[];
    expect(stages.map((s) => [s.key, s.kind])).toEqual([
      ["double", "map"],
      ["small", "filter"],
      ["pairs", "batch"],
      ["count", "step"],
    ]);
    const spanIds = new Set(stages.map((s) => s.spanId));
    expect(spanIds.size).toBe(4);
    for (const s of stages) {
      expect(s.spanId).toMatch(HEX16);
      expect(s.durationMs).toBeGreaterThanOrEqual(0);
      expect(s.timings).toEqual(
        expect.objectContaining({
          p50: expect.any(Number),
          p95: expect.any(Number),
          p99: expect.any(Number),
          max: expect.any(Number),
          count: expect.any(Number),
        }),
      );
    }
    const [double, small, pairs, count] = stages as [
      StageMetadata,
      StageMetadata,
      StageMetadata,
      StageMetadata,
    ];
    expect(double.counts).toEqual({
      in: 5,
      out: 5,
      succeeded: 5,
      failed: 0,
      skipped: 0,
      retried: 0,
    });
    expect(double.strategy).toBe("SKIP_FAILED");
    expect(double.concurrency).toBe(2);
    expect(double.stepName).toBe("doubler");
    expect(double.timings.count).toBe(5);
    expect(double.timings.max).toBeGreaterThan(0);
    expect(small.counts).toMatchObject({ in: 5, out: 3 });
    expect(small.strategy).toBe("FAIL_FAST");
    expect(pairs.counts).toMatchObject({ in: 3, out: 2 });
    expect(count.counts).toMatchObject({ in: 1, out: 1, succeeded: 1 });
  });

  it("steps receive the run's traceId and their stage's spanId", async () => {
    const seen: { traceId: string; spanId: string; key: string }[] = [];
    const probe = (key: string) =>
      createStep(
        key,
        ({ input, traceId, spanId }: { input: number[]; traceId: string; spanId: string }) => {
          seen.push({ traceId, spanId, key });
          return input;
        },
      );
    const p = Pipeline.start<number[]>()
      .add("a", probe("a"))
      .map(
        "b",
        createStep("b", ({ input, traceId, spanId }) => {
          seen.push({ traceId, spanId, key: "b" });
          return input;
        }),
        { parallel: true },
      )
      .add("c", probe("c"));
    const r = await p.execute([1, 2]);
    ok(r);
    expect(seen).toHaveLength(4);
    for (const s of seen) {
      expect(s.traceId).toBe(r.metadata.traceId);
      expect(s.spanId).toMatch(HEX16);
    }
    const stageSpan = Object.fromEntries((r.metadata.stages ?? []).map((s) => [s.key, s.spanId]));
    for (const s of seen) expect(s.spanId).toBe(stageSpan[s.key]);
  });

  it("each execution gets its own traceId", async () => {
    const p = Pipeline.start<number>();
    const ids = new Set(
      (await Promise.all([1, 2, 3].map((n) => p.execute(n)))).map((r) => r.metadata.traceId),
    );
    expect(ids.size).toBe(3);
  });

  it("a failed run still reports metadata of the stages that ran, with status failed", async () => {
    const p = Pipeline.start<number[]>()
      .map(
        "ok",
        createStep("ok", ({ input }) => input),
      )
      .map(
        "bad",
        createStep("bad", () => {
          throw new Error("x");
        }),
      )
      .map(
        "never",
        createStep("never", ({ input }) => input),
      );
    const r = await p.execute([1, 2]);
    expect(r.success).toBe(false);
    expect(r.metadata.status).toBe("failed");
    expect(r.metadata.traceId).toMatch(HEX32);
    expect(r.metadata.stages?.map((s) => s.key)).toEqual(["ok", "bad"]);
    expect(r.metadata.stages?.[1]?.counts.failed).toBe(1);
  });
});

describe("Pipeline: validation", () => {
  it.each([0, -1, 2.5, Number.NaN, Number.POSITIVE_INFINITY, "3"])(
    "batch size %s throws a RangeError naming the option and key at build time",
    (size) => {
      const build = () => Pipeline.start<number[]>().batch("myBatch", size as number);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(/size/);
      expect(build).toThrow(/myBatch/);
    },
  );

  it.each([0, -3, 1.5, Number.NaN, "4"])(
    "concurrencyLimit %s throws a RangeError naming the option and key (map, flatMap, filter)",
    (limit) => {
      const step = createStep("s", ({ input }: { input: number }) => [input]);
      const opts = { parallel: true, concurrencyLimit: limit as number };
      const builds = [
        () => Pipeline.start<number[]>().map("myMap", step, opts),
        () => Pipeline.start<number[]>().flatMap("myMap", step, opts),
        () => Pipeline.start<number[]>().filter("myMap", () => true, opts),
      ];
      for (const build of builds) {
        expect(build).toThrow(RangeError);
        expect(build).toThrow(/concurrencyLimit/);
        expect(build).toThrow(/myMap/);
      }
    },
  );

  it("an invalid concurrencyLimit is rejected even when parallel is off", () => {
    const step = createStep("s", ({ input }: { input: number }) => input);
    expect(() => Pipeline.start<number[]>().map("m", step, { concurrencyLimit: 0 })).toThrow(
      RangeError,
    );
  });

  it("an unknown error strategy is rejected at build time", () => {
    const step = createStep("s", ({ input }: { input: number }) => input);
    expect(() =>
      Pipeline.start<number[]>().map("m", step, {
        errorStrategy: "SPLIT_ERRORS" as unknown as ListErrorStrategy,
      }),
    ).toThrow(RangeError);
    expect(() =>
      Pipeline.start<number[]>().map("m", step, {
        errorStrategy: "nope" as unknown as ListErrorStrategy,
      }),
    ).toThrow(/errorStrategy/);
  });

  it("duplicate and reserved keys throw at build time (for untyped callers)", () => {
    const step = createStep("s", ({ input }: { input: number }) => input);
    const p = Pipeline.start<number>().add("a", step);
    expect(() => p.add("a" as never, step as never)).toThrow(/Duplicate stage key "a"/);
    for (const k of ["accumulated", "materialize", "stream", "hasSnapshot"]) {
      expect(() => Pipeline.start<number>().add(k as never, step)).toThrow(/reserved/);
    }
    expect(() => Pipeline.start<number>().add("" as never, step)).toThrow(TypeError);
  });

  it("a list stage given a non-array at run time fails with INVALID_INPUT naming the stage", async () => {
    const step = createStep("s", ({ input }: { input: number }) => input);
    for (const bad of [undefined, null, 5, "abc", { length: 1 }]) {
      const r = await Pipeline.start<number[]>()
        .map("items", step)
        .execute(bad as unknown as number[]);
      const e = failure(r);
      expect(e.code).toBe("INVALID_INPUT");
      expect(e.key).toBe("items");
      expect(e.message).toContain("items");
    }
    // The non-array can also come from an earlier stage.
    const r = await Pipeline.start<number>()
      .add(
        "scalar",
        createStep("scalar", ({ input }) => input as unknown as number[]),
      )
      .batch("chunks", 2)
      .execute(1);
    expect(failure(r)).toMatchObject({ code: "INVALID_INPUT", key: "chunks" });
  });
});

describe("Pipeline: immutability and re-use", () => {
  it("adding a stage returns a new pipeline; the old one is unchanged", async () => {
    const base = Pipeline.start<number[]>().map(
      "inc",
      createStep("inc", ({ input }) => input + 1),
    );
    const a = base.filter("even", (n) => n % 2 === 0);
    const b = base.map(
      "neg",
      createStep("neg", ({ input }) => -input),
    );
    expect(a).not.toBe(base);
    expect(b).not.toBe(base);
    expect(base.keys).toEqual(["inc"]);
    expect(a.keys).toEqual(["inc", "even"]);
    expect(b.keys).toEqual(["inc", "neg"]);
    expect(ok(await base.execute([1, 2, 3]))).toEqual([2, 3, 4]);
    expect(ok(await a.execute([1, 2, 3]))).toEqual([2, 4]);
    expect(ok(await b.execute([1, 2, 3]))).toEqual([-2, -3, -4]);
    // Both branches may reuse the same key independently.
    const c = base.filter("even", (n) => n > 2);
    expect(ok(await c.execute([1, 2, 3]))).toEqual([3, 4]);
  });

  it("the input array is not mutated", async () => {
    const input = [3, 1, 2];
    const frozen = Object.freeze([...input]);
    const p = Pipeline.start<readonly number[]>()
      .map(
        "m",
        createStep("m", ({ input }) => input * 2),
        { parallel: true },
      )
      .filter("f", (n) => n > 2);
    expect(ok(await p.execute(frozen))).toEqual([6, 4]);
    expect(frozen).toEqual(input);
  });

  it("runs many times, concurrently and independently (state and context isolated)", async () => {
    let built = 0;
    const p = Pipeline.start<number[], { run: number }>(() => ({ run: built++ }))
      .map(
        "slow",
        createStep("slow", async ({ input }) => {
          await sleep(Math.random() * 5);
          return input * 10;
        }),
        { parallel: true, concurrencyLimit: 3 },
      )
      .add(
        "summary",
        createStep("summary", async ({ input, state, context }) => {
          await sleep(Math.random() * 5);
          return { sum: input.reduce((a, b) => a + b, 0), seen: state.slow, run: context.run };
        }),
      );
    const inputs = Array.from({ length: 20 }, (_, i) =>
      Array.from({ length: i % 5 }, (_, j) => i + j),
    );
    const results = await Promise.all(inputs.map((input) => p.execute(input)));
    const runs = new Set<number>();
    results.forEach((r, i) => {
      const data = ok(r);
      const expected = (inputs[i] ?? []).map((n) => n * 10);
      expect(data.seen).toEqual(expected);
      expect(data.sum).toBe(expected.reduce((a, b) => a + b, 0));
      runs.add(data.run);
    });
    expect(runs.size).toBe(20);
  });

  it("a failing run does not affect other concurrent runs", async () => {
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", async ({ input }) => {
        await sleep(1);
        if (input < 0) throw new Error("negative");
        return input;
      }),
      { parallel: true },
    );
    const [a, b, c] = await Promise.all([p.execute([1, 2]), p.execute([-1, 2]), p.execute([3])]);
    expect(ok(a)).toEqual([1, 2]);
    expect(b?.success).toBe(false);
    expect(ok(c)).toEqual([3]);
  });

  it("ListErrorStrategy exposes the three strategies", () => {
    expect(ListErrorStrategy).toEqual({
      FAIL_FAST: "FAIL_FAST",
      SKIP_FAILED: "SKIP_FAILED",
      COLLECT_ERRORS: "COLLECT_ERRORS",
    });
  });
});

describe("Pipeline: errors as results", () => {
  it("a failing step makes a failed result, never an exception out of execute", async () => {
    const boom = new Error("boom");
    const p = Pipeline.start<number>().add(
      "explode",
      createStep("exploder", () => {
        throw boom;
      }),
    );
    const r = await p.execute(1);
    const e = failure(r);
    expect(e).toBeInstanceOf(StepError);
    expect(e.key).toBe("explode");
    expect(e.stepName).toBe("exploder");
    expect(e.message).toContain("boom");
    let c: unknown = e;
    const chain: unknown[] = [];
    while (c instanceof Error) {
      chain.push(c);
      c = c.cause;
    }
    expect(chain).toContain(boom);
  });

  it("a thrown non-Error in a list stage is wrapped and reachable", async () => {
    const thrown = { weird: true };
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", () => {
        throw thrown;
      }),
    );
    const e = failure(await p.execute([1]));
    let c: unknown = e;
    const chain: unknown[] = [];
    for (let i = 0; i < 6 && c !== undefined; i++) {
      chain.push(c);
      c = (c as { cause?: unknown }).cause;
    }
    expect(chain).toContain(thrown);
    expect(e.itemIndex).toBe(0);
  });

  it("a thrown StepError's code survives the pipeline", async () => {
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", ({ input }) => {
        if (input === 2) throw new StepError("custom", { code: "MY_CODE" });
        return input;
      }),
    );
    const e = failure(await p.execute([1, 2, 3]));
    expect(e.code).toBe("MY_CODE");
    expect(e.itemIndex).toBe(1);
    expect(e.key).toBe("m");
  });
});

describe("Pipeline: abort", () => {
  it("an already-aborted signal fails the run with ABORTED and runs no step", async () => {
    let ran = 0;
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", ({ input }) => {
        ran++;
        return input;
      }),
    );
    const r = await p.execute([1, 2], { signal: AbortSignal.abort() });
    expect(failure(r).code).toBe("ABORTED");
    expect(r.metadata.status).toBe("cancelled");
    expect(ran).toBe(0);
  });

  it("aborting mid-run fails with ABORTED, aborts in-flight steps' signals and stops later stages", async () => {
    const controller = new AbortController();
    const aborted: number[] = [];
    let started = 0;
    let laterRan = false;
    const p = Pipeline.start<number[]>()
      .map(
        "slow",
        createStep("slow", ({ input, signal }) => {
          started++;
          return new Promise<number>((resolve, reject) => {
            const t = setTimeout(() => resolve(input), 5_000);
            signal.addEventListener("abort", () => {
              aborted.push(input);
              clearTimeout(t);
              reject(signal.reason);
            });
          });
        }),
        { parallel: true, concurrencyLimit: 3 },
      )
      .add(
        "later",
        createStep("later", ({ input }) => {
          laterRan = true;
          return input;
        }),
      );
    setTimeout(() => controller.abort(), 20);
    const t0 = performance.now();
    const r = await p.execute([1, 2, 3, 4, 5, 6], { signal: controller.signal });
    expect(performance.now() - t0).toBeLessThan(1_000);
    const e = failure(r);
    expect(e.code).toBe("ABORTED");
    expect(e.key).toBe("slow");
    expect(r.metadata.status).toBe("cancelled");
    expect(started).toBe(3);
    expect(aborted.sort()).toEqual([1, 2, 3]);
    expect(laterRan).toBe(false);
  });

  it("aborting while a step ignores its signal still yields ABORTED (whole-value stage)", async () => {
    const controller = new AbortController();
    const p = Pipeline.start<number>().add(
      "stubborn",
      createStep("stubborn", async ({ input }) => {
        await sleep(30);
        return input;
      }),
    );
    setTimeout(() => controller.abort(new Error("user cancelled")), 5);
    const r = await p.execute(1, { signal: controller.signal });
    const e = failure(r);
    expect(e.code).toBe("ABORTED");
    expect((e.cause as Error).message).toBe("user cancelled");
  });

  it("aborting between stages fails the next stage with ABORTED", async () => {
    const controller = new AbortController();
    let secondRan = false;
    const p = Pipeline.start<number>()
      .add(
        "first",
        createStep("first", ({ input }) => {
          controller.abort();
          return input;
        }),
      )
      .add(
        "second",
        createStep("second", ({ input }) => {
          secondRan = true;
          return input;
        }),
      );
    const r = await p.execute(1, { signal: controller.signal });
    expect(failure(r).code).toBe("ABORTED");
    expect(secondRan).toBe(false);
  });

  it("an already-aborted signal fails even a pipeline with no stages, before the context builder", async () => {
    let built = 0;
    const r = await Pipeline.start<number>(() => {
      built++;
    }).execute(1, { signal: AbortSignal.abort() });
    expect(failure(r).code).toBe("ABORTED");
    expect(built).toBe(0);
  });

  it("a completed run is unaffected by a later abort", async () => {
    const controller = new AbortController();
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", ({ input }) => input),
    );
    const r = await p.execute([1], { signal: controller.signal });
    controller.abort();
    expect(ok(r)).toEqual([1]);
  });
});
