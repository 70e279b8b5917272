import { describe, expect, it } from "vitest";
import { createStep, Pipeline, type Step, StepError, type StepResult } from "../index.js";

const TRACE = "0af7651916cd43dd8448eb211c80319c";
const SPAN = "b7ad6b7169203331";

function ctxFor<I>(input: I, signal = new AbortController().signal) {
  return { input, state: {}, context: undefined, signal, traceId: TRACE, spanId: SPAN };
}

function expectFailure<T>(r: StepResult<T>): StepError {
  if (r.success) throw new Error(`expected a failure, got ${JSON.stringify(r.data)}`);
  return r.error;
}

describe("createStep", () => {
  it("returns a Step carrying its name and retry policy", () => {
    const retry = { maxAttempts: 3, backoffMs: 10 };
    const step = createStep("double", ({ input }: { input: number }) => input * 2, { retry });
    expect(step.name).toBe("double");
    expect(step.retry).toEqual(retry);
    expect(typeof step.execute).toBe("function");
    expect(createStep("plain", () => 1).retry).toBeUndefined();
  });

  it("passes input, state, context, signal, traceId and spanId to the function", async () => {
    const seen: unknown[] = [];
    const state = { raw: "x" };
    const context = { db: "conn" };
    const signal = new AbortController().signal;
    const step = createStep<number, number, { raw: string }, { db: string }>("probe", (ctx) => {
      seen.push(ctx);
      return ctx.input + 1;
    });
    const r = await step.execute({
      input: 41,
      state,
      context,
      signal,
      traceId: TRACE,
      spanId: SPAN,
    });
    expect(r).toMatchObject({ success: true, data: 42 });
    const ctx = seen[0] as Record<string, unknown>;
    expect(ctx.input).toBe(41);
    expect(ctx.state).toBe(state);
    expect(ctx.context).toBe(context);
    expect(ctx.signal).toBe(signal);
    expect(ctx.traceId).toBe(TRACE);
    expect(ctx.spanId).toBe(SPAN);
  });

  it("resolves sync and async results alike, with metadata", async () => {
    const sync = createStep("sync", ({ input }: { input: string }) => input.toUpperCase());
    const async = createStep("async", async ({ input }: { input: string }) => {
      await new Promise((r) => setTimeout(r, 5));
      return input.length;
    });
    const a = await sync.execute(ctxFor("ab"));
    const b = await async.execute(ctxFor("abc"));
    expect(a).toMatchObject({ success: true, data: "AB" });
    expect(b).toMatchObject({ success: true, data: 3 });
    expect(b.metadata).toMatchObject({ name: "async", traceId: TRACE, spanId: SPAN });
    expect(b.metadata.durationMs).toBeGreaterThanOrEqual(0);
    expect(b.metadata.endedAt).toBeGreaterThanOrEqual(b.metadata.startedAt);
  });

  it("accepts a PromiseLike (thenable) result", async () => {
    const thenable: PromiseLike<number> = {
      // biome-ignore lint/suspicious/noThenProperty: testing a thenable on purpose
      then: (ok, _ko) => Promise.resolve(ok?.(7)) as never,
    };
    const r = await createStep("thenable", () => thenable).execute(ctxFor(null));
    expect(r).toMatchObject({ success: true, data: 7 });
  });

  it("treats undefined and null as ordinary outputs", async () => {
    const u = await createStep("u", () => undefined).execute(ctxFor(1));
    const n = await createStep("n", () => null).execute(ctxFor(1));
    expect(u.success && u.data === undefined).toBe(true);
    expect(n.success && n.data === null).toBe(true);
    // ...and as ordinary inputs
    const id = createStep("id", ({ input }: { input: unknown }) => input);
    const ri = await id.execute(ctxFor(undefined));
    expect(ri).toMatchObject({ success: true });
    expect(ri.success && ri.data).toBeUndefined();
  });

  it("turns a thrown Error into a failed result, never an exception", async () => {
    const boom = new Error("boom");
    const step = createStep("explode", () => {
      throw boom;
    });
    const r = await step.execute(ctxFor(1));
    const e = expectFailure(r);
    expect(e).toBeInstanceOf(StepError);
    expect(e.message).toContain("boom");
    expect(e.message).toContain("explode");
    expect(e.cause).toBe(boom);
    expect(e.code).toBe("STEP_FAILED");
    expect(e.retryable).toBe(false);
    expect(e.stepName).toBe("explode");
    expect(e.traceId).toBe(TRACE);
    expect(e.spanId).toBe(SPAN);
    expect(r.metadata.name).toBe("explode");
  });

  it("turns a rejected promise into a failed result", async () => {
    const step = createStep("reject", async () => {
      await Promise.resolve();
      throw new TypeError("nope");
    });
    const e = expectFailure(await step.execute(ctxFor(1)));
    expect(e.cause).toBeInstanceOf(TypeError);
  });

  it("keeps the cause's string code and its retryable nature", async () => {
    const err = Object.assign(new Error("reset"), { code: "ECONNRESET" });
    const e = expectFailure(
      await createStep("net", () => {
        throw err;
      }).execute(ctxFor(1)),
    );
    expect(e.code).toBe("ECONNRESET");
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(err);

    const e429 = expectFailure(
      await createStep("http", () => {
        throw Object.assign(new Error("slow down"), { status: 429 });
      }).execute(ctxFor(1)),
    );
    expect(e429.retryable).toBe(true);
  });

  it("returns a thrown StepError as is", async () => {
    const own = new StepError("mine", { code: "MINE", retryable: true });
    const e = expectFailure(
      await createStep("own", () => {
        throw own;
      }).execute(ctxFor(1)),
    );
    expect(e).toBe(own);
  });

  it.each([
    ["a string", "plain string"],
    ["a number", 42],
    ["an object", { reason: "object" }],
    ["null", null],
    ["a symbol", Symbol("sym")],
    ["a bigint", 10n],
    ["an array", [1, 2]],
  ])("wraps a thrown non-Error value (%s) without losing it", async (_label, value) => {
    const e = expectFailure(
      await createStep("thrower", () => {
        throw value;
      }).execute(ctxFor(1)),
    );
    expect(e).toBeInstanceOf(StepError);
    expect(e).toBeInstanceOf(Error);
    expect(typeof e.message).toBe("string");
    expect(e.message.length).toBeGreaterThan(0);
    // The original is reachable through the cause chain.
    expect(causeChain(e)).toContain(value);
  });

  it("wraps a thrown undefined with a message saying so", async () => {
    const e = expectFailure(
      await createStep("undef", () => {
        throw undefined;
      }).execute(ctxFor(1)),
    );
    expect(e).toBeInstanceOf(StepError);
    expect(e.message).toContain("undefined");
  });

  it("wraps an object whose JSON serialization throws (circular)", async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const e = expectFailure(
      await createStep("circ", () => {
        throw circular;
      }).execute(ctxFor(1)),
    );
    expect(causeChain(e)).toContain(circular);
  });

  it("validates its arguments eagerly", () => {
    expect(() => createStep("", () => 1)).toThrow(TypeError);
    expect(() => createStep(42 as unknown as string, () => 1)).toThrow(/name/);
    expect(() => createStep("x", "nope" as unknown as () => 1)).toThrow(/fn must be a function/);
  });

  it.each([0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, "3"])(
    "rejects retry.maxAttempts = %s with a RangeError naming the step and the option",
    (maxAttempts) => {
      const build = () =>
        createStep("fetchPage", () => 1, {
          retry: { maxAttempts: maxAttempts as number, backoffMs: 10 },
        });
      expect(build).toThrow(RangeError);
      expect(build).toThrow(/fetchPage/);
      expect(build).toThrow(/maxAttempts/);
    },
  );

  it("rejects a negative backoff", () => {
    expect(() => createStep("s", () => 1, { retry: { maxAttempts: 2, backoffMs: -1 } })).toThrow(
      RangeError,
    );
  });

  it("a step is reusable and stateless across calls", async () => {
    let calls = 0;
    const step = createStep("count", ({ input }: { input: number }) => {
      calls++;
      return input;
    });
    const rs = await Promise.all([1, 2, 3].map((n) => step.execute(ctxFor(n))));
    expect(rs.map((r) => r.success && r.data)).toEqual([1, 2, 3]);
    expect(calls).toBe(3);
  });
});

describe("hand-written Step objects", () => {
  it("work in every batch stage kind, and their failures are results", async () => {
    const double: Step<number, number> = {
      name: "double",
      execute: async ({ input, traceId, spanId }) => ({
        success: true,
        data: input * 2,
        metadata: { name: "double", traceId, spanId, startedAt: 0, endedAt: 0, durationMs: 0 },
      }),
    };
    const pairs: Step<number, readonly number[]> = {
      name: "pairs",
      execute: async ({ input, traceId, spanId }) => ({
        success: true,
        data: [input, input],
        metadata: { name: "pairs", traceId, spanId, startedAt: 0, endedAt: 0, durationMs: 0 },
      }),
    };
    const sum: Step<number[], number> = {
      name: "sum",
      execute: async ({ input, traceId, spanId }) => ({
        success: true,
        data: input.reduce((a, b) => a + b, 0),
        metadata: { name: "sum", traceId, spanId, startedAt: 0, endedAt: 0, durationMs: 0 },
      }),
    };
    const r = await Pipeline.start<number[]>()
      .map("doubled", double, { parallel: true })
      .flatMap("paired", pairs)
      .add("total", sum)
      .execute([1, 2, 3]);
    expect(r).toMatchObject({ success: true, data: 24 });
  });

  it("a hand-written step returning a failed result fails the run with its error", async () => {
    const error = new StepError("custom failure", { code: "CUSTOM" });
    const failing: Step<number, number> = {
      name: "failing",
      execute: async ({ traceId, spanId }) => ({
        success: false,
        error,
        metadata: { name: "failing", traceId, spanId, startedAt: 0, endedAt: 0, durationMs: 0 },
      }),
    };
    const r = await Pipeline.start<number>().add("x", failing).execute(1);
    const e = expectFailure(r);
    expect(e.code).toBe("CUSTOM");
    expect(causeChain(e)).toContain(error);
  });

  it("a hand-written step whose execute throws (or rejects) fails the run, not the caller", async () => {
    const throwsSync: Step<number, number> = {
      name: "throwsSync",
      execute: () => {
        throw new Error("sync throw from execute");
      },
    };
    const rejects: Step<number, number> = {
      name: "rejects",
      execute: () => Promise.reject(new Error("rejected execute")),
    };
    const a = await Pipeline.start<number>().add("a", throwsSync).execute(1);
    const b = await Pipeline.start<number[]>().map("b", rejects).execute([1]);
    expect(expectFailure(a).message).toContain("sync throw from execute");
    expect(expectFailure(b).message).toContain("rejected execute");
  });

  it("a hand-written step's retry policy is honoured per item", async () => {
    const calls = new Map<number, number>();
    const flaky: Step<number, number> = {
      name: "flaky",
      retry: { maxAttempts: 3, backoffMs: 0 },
      execute: async ({ input, traceId, spanId }) => {
        const n = (calls.get(input) ?? 0) + 1;
        calls.set(input, n);
        const metadata = {
          name: "flaky",
          traceId,
          spanId,
          startedAt: 0,
          endedAt: 0,
          durationMs: 0,
        };
        if (input === 2 && n < 3) {
          return {
            success: false,
            error: new StepError("transient", { retryable: true }),
            metadata,
          };
        }
        return { success: true, data: input * 10, metadata };
      },
    };
    const r = await Pipeline.start<number[]>().map("m", flaky).execute([1, 2, 3]);
    expect(r).toMatchObject({ success: true, data: [10, 20, 30] });
    expect(Object.fromEntries(calls)).toEqual({ 1: 1, 2: 3, 3: 1 });
  });

  it("an invalid retry on a hand-written step is a RangeError naming the stage, at build time", () => {
    const step: Step<number, number> = {
      name: "hw",
      retry: { maxAttempts: 0, backoffMs: 1 },
      execute: async () => {
        throw new Error("never called");
      },
    };
    const build = () => Pipeline.start<number[]>().map("handWritten", step);
    expect(build).toThrow(RangeError);
    expect(build).toThrow(/handWritten/);
    expect(build).toThrow(/maxAttempts/);
  });

  it("rejects something that is not a step when the pipeline is built", () => {
    expect(() =>
      Pipeline.start<number>().add("x", { name: "nope" } as unknown as Step<number, number>),
    ).toThrow(TypeError);
    expect(() =>
      Pipeline.start<number[]>().map("x", ((n: number) => n) as unknown as Step<number, number>),
    ).toThrow(/expected a step/);
  });
});

function causeChain(error: unknown): unknown[] {
  const out: unknown[] = [];
  let e: unknown = error;
  for (let i = 0; i < 10 && e !== undefined; i++) {
    out.push(e);
    if (typeof e !== "object" || e === null || !("cause" in e)) break;
    e = (e as { cause?: unknown }).cause;
  }
  return out;
}
