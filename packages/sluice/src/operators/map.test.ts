import { describe, expect, it } from "vitest";
import {
  createStep,
  type ItemContext,
  type StepContext,
  StepError,
  StreamingError,
  StreamingPipeline,
} from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const modes = [
  { name: "sequential", options: {} },
  { name: "parallel", options: { concurrency: 3 } },
  { name: "buffered", options: { buffer: 2 } },
] as const;

describe("map", () => {
  for (const { name, options } of modes) {
    it(`transforms each item with a sync or async fn, in order (${name})`, async () => {
      const sync = StreamingPipeline.start<number>().map("m", (n) => n + 1, options);
      expect(await collect(sync.executeFrom([1, 2, 3]))).toEqual([2, 3, 4]);
      const async = StreamingPipeline.start<number>().map(
        "m",
        async (n) => {
          await new Promise((r) => setTimeout(r, (5 - n) % 3));
          return `#${n}`;
        },
        options,
      );
      expect(await collect(async.executeFrom([1, 2, 3, 4, 5]))).toEqual([
        "#1",
        "#2",
        "#3",
        "#4",
        "#5",
      ]);
    });

    it(`keeps undefined and null results (${name})`, async () => {
      const p = StreamingPipeline.start<number>().map(
        "m",
        (n) => (n === 0 ? undefined : n === 1 ? null : n),
        options,
      );
      expect(await collect(p.executeFrom([0, 1, 2, 0]))).toEqual([undefined, null, 2, undefined]);
      const a = StreamingPipeline.start<number>().map("m", async () => undefined, options);
      expect(await collect(a.executeFrom([1, 2]))).toEqual([undefined, undefined]);
    });

    it(`passes (item, ctx) with index, attempt, state, context, signal, traceId, spanId (${name})`, async () => {
      const contexts: ItemContext<unknown, { tenant: string }>[] = [];
      const p = StreamingPipeline.start<string, { tenant: string }>(() => ({ tenant: "acme" }))
        .map("len", (s) => s.length)
        .map(
          "ctx",
          (n, ctx) => {
            contexts.push(ctx);
            return {
              n,
              index: ctx.index,
              attempt: ctx.attempt,
              len: ctx.state.len,
              tenant: ctx.context.tenant,
              aborted: ctx.signal.aborted,
            };
          },
          options,
        );
      const run = p.executeFrom(["a", "bb", "ccc"]);
      expect(await collect(run)).toEqual([
        { n: 1, index: 0, attempt: 1, len: 1, tenant: "acme", aborted: false },
        { n: 2, index: 1, attempt: 1, len: 2, tenant: "acme", aborted: false },
        { n: 3, index: 2, attempt: 1, len: 3, tenant: "acme", aborted: false },
      ]);
      const span = run.metadata().stages[1]?.spanId;
      for (const ctx of contexts) {
        expect(ctx.traceId).toBe(run.traceId);
        expect(ctx.traceId).toMatch(/^[0-9a-f]{32}$/);
        expect(ctx.spanId).toBe(span);
        expect(ctx.signal).toBeInstanceOf(AbortSignal);
      }
    });

    it(`calls a one-parameter fn with the item only, others with a context (${name})`, async () => {
      const second: unknown[] = [];
      const oneParam = StreamingPipeline.start<number>().map(
        "one",
        function (this: unknown, n: number) {
          // biome-ignore lint/complexity/noArguments: the test inspects what the engine passes
          second.push(arguments[1]);
          return n;
        },
        options,
      );
      await collect(oneParam.executeFrom([1, 2]));
      expect(second).toEqual([undefined, undefined]);

      const rest: unknown[] = [];
      const variadic = StreamingPipeline.start<number>().map(
        "rest",
        (...args: [number, ItemContext]) => {
          rest.push(typeof args[1]?.index);
          return args[0];
        },
        options,
      );
      await collect(variadic.executeFrom([1]));
      expect(rest).toEqual(["number"]);
    });
  }

  it("indexes count the stage's input, after upstream filtering", async () => {
    const p = StreamingPipeline.start<number>()
      .filter("odd", (n) => n % 2 === 1)
      .map("idx", (n, ctx) => [n, ctx.index]);
    expect(await collect(p.executeFrom([1, 2, 3, 4, 5]))).toEqual([
      [1, 0],
      [3, 1],
      [5, 2],
    ]);
  });

  it("accepts a thenable that is not a Promise", async () => {
    const thenable = (n: number) =>
      ({
        // biome-ignore lint/suspicious/noThenProperty: a custom thenable is what this test needs
        then(resolve: (v: number) => void) {
          resolve(n * 2);
        },
      }) as unknown as PromiseLike<number>;
    const p = StreamingPipeline.start<number>().map("m", (n) => thenable(n));
    expect(await collect(p.executeFrom([1, 2]))).toEqual([2, 4]);
  });
});

describe("map with a batch Step (createStep)", () => {
  it("runs the step per item with input, state, context, signal and ids", async () => {
    const seen: StepContext<number, { raw: string }, { unit: string }>[] = [];
    const step = createStep<number, string, { raw: string }, { unit: string }>("fmt", (ctx) => {
      seen.push(ctx);
      return `${ctx.state.raw}=${ctx.input}${ctx.context.unit}`;
    });
    const p = StreamingPipeline.start<string, { unit: string }>(() => ({ unit: "kg" }))
      .map("raw", (s) => s)
      .map("num", (s) => Number(s))
      .map("label", step, { concurrency: 2 });
    const run = p.executeFrom(["1", "2"]);
    expect(await collect(run)).toEqual(["1=1kg", "2=2kg"]);
    expect(seen).toHaveLength(2);
    for (const ctx of seen) {
      expect(ctx.traceId).toBe(run.traceId);
      expect(ctx.spanId).toBe(run.metadata().stages[2]?.spanId);
      expect(ctx.signal).toBeInstanceOf(AbortSignal);
    }
    expect(run.metadata().stages[2]?.stepName).toBe("fmt");
    expect(run.metadata().stages[2]?.kind).toBe("map");
  });

  it("a failed StepResult fails the item with its code, retryable and cause kept", async () => {
    const cause = Object.assign(new Error("rate limited"), { code: "E_RATE", status: 429 });
    const step = createStep<number, number>("call", () => {
      throw cause;
    });
    const run = StreamingPipeline.start<number>().map("s", step).executeFrom([1]);
    let error: unknown;
    try {
      await collect(run);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StreamingError);
    const e = error as StreamingError;
    expect(e.code).toBe("E_RATE");
    expect(e.retryable).toBe(true);
    expect(e.key).toBe("s");
    expect(e.stepName).toBe("call");
    // The step's own StepError is the cause, and its cause is the original error.
    expect(e.cause).toBeInstanceOf(StepError);
    expect((e.cause as StepError).cause).toBe(cause);
  });

  it("a step failure under SKIP_FAILED is recorded with the step's code", async () => {
    const step = createStep<number, number>("half", ({ input }) => {
      if (input % 2) throw Object.assign(new Error("odd"), { code: "E_ODD" });
      return input / 2;
    });
    const run = StreamingPipeline.start<number>()
      .map("h", step, { errorStrategy: "SKIP_FAILED" })
      .executeFrom([1, 2, 3, 4]);
    expect(await collect(run)).toEqual([1, 2]);
    expect(run.metadata().errors.map((e) => e.code)).toEqual(["E_ODD", "E_ODD"]);
  });
});

describe("map: options are validated when the pipeline is built", () => {
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["concurrency 0", { concurrency: 0 }, /concurrency/],
    ["concurrency -1", { concurrency: -1 }, /concurrency/],
    ["concurrency 1.5", { concurrency: 1.5 }, /concurrency/],
    ["concurrency NaN", { concurrency: Number.NaN }, /concurrency/],
    ["concurrency Infinity", { concurrency: Number.POSITIVE_INFINITY }, /concurrency/],
    ["concurrency as a string", { concurrency: "2" }, /concurrency/],
    ["buffer -1", { buffer: -1 }, /buffer/],
    ["buffer 0.5", { buffer: 0.5 }, /buffer/],
  ];
  for (const [name, options, option] of bad) {
    it(`throws a RangeError naming the option and the key for ${name}`, () => {
      const build = () => StreamingPipeline.start<number>().map("myMap", (n) => n, options);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(option);
      expect(build).toThrow(/myMap/);
    });
  }

  it("throws a TypeError for a non-boolean ordered", () => {
    const build = () =>
      StreamingPipeline.start<number>().map("m", (n) => n, {
        ordered: "yes" as unknown as boolean,
      });
    expect(build).toThrow(TypeError);
    expect(build).toThrow(/ordered/);
  });

  it("throws a TypeError when the fn is not a function", () => {
    const build = () =>
      StreamingPipeline.start<number>().map("m", 42 as unknown as (n: number) => number);
    expect(build).toThrow(TypeError);
    expect(build).toThrow(/"m"/);
  });

  it("throws a TypeError for duplicate, reserved and empty keys (untyped callers)", () => {
    const p = StreamingPipeline.start<number>().map("a", (n) => n);
    const untyped = p as unknown as { map: (k: string, f: (n: number) => number) => unknown };
    expect(() => untyped.map("a", (n) => n)).toThrow(TypeError);
    expect(() => untyped.map("a", (n) => n)).toThrow(/Duplicate stage key "a"/);
    for (const reserved of ["accumulated", "materialize", "stream", "hasSnapshot"]) {
      expect(() => untyped.map(reserved, (n) => n)).toThrow(/reserved/);
    }
    expect(() => untyped.map("", (n) => n)).toThrow(TypeError);
    expect(() => untyped.map(7 as unknown as string, (n) => n)).toThrow(TypeError);
  });

  it("checks duplicates across every operator kind", () => {
    const p = StreamingPipeline.start<number>().take("k", 1) as unknown as Record<
      string,
      (...args: unknown[]) => unknown
    >;
    const calls: [string, unknown[]][] = [
      ["filter", [() => true]],
      ["tap", [() => undefined]],
      ["flatMap", [() => []]],
      ["batch", [2]],
      ["window", [2]],
      ["bufferTime", [10]],
      ["skip", [1]],
      ["take", [1]],
      ["takeWhile", [() => true]],
      ["skipWhile", [() => true]],
      ["checkpoint", []],
    ];
    for (const [method, args] of calls) {
      expect(() => p[method]?.call(p, "k", ...args), method).toThrow(/Duplicate stage key "k"/);
    }
  });
});
