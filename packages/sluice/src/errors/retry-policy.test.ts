import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  backoffDelay,
  createStep,
  type ItemContext,
  isRetryable,
  type RetryOptions,
  retryAfterMs,
  StepError,
  StreamingError,
  StreamingPipeline,
  TRANSIENT_ERROR_CODES,
  withinRetryBudget,
} from "../index.js";
import { validateRetry } from "./retry-policy.js";

const withCode = (code: string) => Object.assign(new Error(code), { code });
const withStatus = (status: number) => Object.assign(new Error(`HTTP ${status}`), { status });

describe("isRetryable", () => {
  it("honours an explicit retryable flag", () => {
    expect(isRetryable(Object.assign(new Error("x"), { retryable: true }))).toBe(true);
    expect(isRetryable(Object.assign(new Error("x"), { retryable: false }))).toBe(false);
    expect(isRetryable(new StepError("x", { retryable: true }))).toBe(true);
  });

  it("treats transient network codes as retryable", () => {
    for (const code of ["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "EAI_AGAIN", "EPIPE"]) {
      expect(TRANSIENT_ERROR_CODES.has(code)).toBe(true);
      expect(isRetryable(withCode(code))).toBe(true);
    }
    expect(isRetryable(withCode("ENOENT"))).toBe(false);
    expect(isRetryable(withCode("EACCES"))).toBe(false);
  });

  it("treats listed codes as retryable", () => {
    const retry: RetryOptions = { maxAttempts: 3, backoffMs: 1, retryableErrors: ["E_BUSY"] };
    expect(isRetryable(withCode("E_BUSY"), retry)).toBe(true);
    expect(isRetryable(withCode("E_BUSY"))).toBe(false);
    expect(isRetryable(withCode("E_OTHER"), retry)).toBe(false);
  });

  it("treats HTTP 408, 425, 429 and 5xx as retryable, other statuses not", () => {
    for (const s of [408, 425, 429, 500, 502, 503, 504, 599])
      expect(isRetryable(withStatus(s))).toBe(true);
    for (const s of [200, 400, 401, 403, 404, 409, 422, 600])
      expect(isRetryable(withStatus(s))).toBe(false);
  });

  it("reads the status from statusCode and response.status too", () => {
    expect(isRetryable({ statusCode: 503 })).toBe(true);
    expect(isRetryable({ response: { status: 429 } })).toBe(true);
    expect(isRetryable({ response: { status: 404 } })).toBe(false);
  });

  it("lets an explicit retryable: false win over a retryable status or code", () => {
    expect(isRetryable(Object.assign(withStatus(503), { retryable: false }))).toBe(false);
    expect(isRetryable(Object.assign(withCode("ECONNRESET"), { retryable: false }))).toBe(false);
  });

  it("follows the cause chain", () => {
    expect(isRetryable(new Error("outer", { cause: withCode("ECONNRESET") }))).toBe(true);
    expect(isRetryable(new Error("outer", { cause: new Error("inner") }))).toBe(false);
    // A StepError's flag was decided without this policy: its cause is consulted too.
    const wrapped = new StepError("step", { retryable: false, cause: withCode("E_BUSY") });
    expect(
      isRetryable(wrapped, { maxAttempts: 2, backoffMs: 0, retryableErrors: ["E_BUSY"] }),
    ).toBe(true);
  });

  it("is false for non-objects", () => {
    for (const v of [undefined, null, "ECONNRESET", 503, true]) expect(isRetryable(v)).toBe(false);
  });

  it("retryIf overrides the built-in decision and sees the attempt", () => {
    const seen: number[] = [];
    const retry: RetryOptions = {
      maxAttempts: 5,
      backoffMs: 0,
      retryIf: (_e, attempt) => {
        seen.push(attempt);
        return attempt < 2;
      },
    };
    expect(isRetryable(new Error("plain"), retry, 1)).toBe(true);
    expect(isRetryable(withStatus(503), retry, 2)).toBe(false);
    expect(seen).toEqual([1, 2]);
  });
});

describe("retryAfterMs", () => {
  const now = Date.UTC(2024, 0, 1, 0, 0, 0);

  it("reads retryAfterMs in milliseconds", () => {
    expect(retryAfterMs({ retryAfterMs: 1500 })).toBe(1500);
    expect(retryAfterMs({ retryAfterMs: 0 })).toBe(0);
    expect(retryAfterMs({ retryAfterMs: -1 })).toBeUndefined();
  });

  it("reads retryAfter in seconds (number or string)", () => {
    expect(retryAfterMs({ retryAfter: 3 })).toBe(3000);
    expect(retryAfterMs({ retryAfter: "2" })).toBe(2000);
    expect(retryAfterMs({ retryAfter: "0.5" })).toBe(500);
    expect(retryAfterMs({ retryAfter: -3 })).toBeUndefined();
    expect(retryAfterMs({ retryAfter: "" })).toBeUndefined();
    expect(retryAfterMs({ retryAfter: "soon" })).toBeUndefined();
  });

  it("reads an HTTP-date, relative to now, never negative", () => {
    const in10s = new Date(now + 10_000).toUTCString();
    expect(retryAfterMs({ retryAfter: in10s }, now)).toBe(10_000);
    const past = new Date(now - 10_000).toUTCString();
    expect(retryAfterMs({ retryAfter: past }, now)).toBe(0);
  });

  it("reads a Retry-After header from a plain object or a Headers instance", () => {
    expect(retryAfterMs({ headers: { "retry-after": "4" } })).toBe(4000);
    expect(retryAfterMs({ headers: new Headers({ "Retry-After": "7" }) })).toBe(7000);
    expect(retryAfterMs({ headers: {} })).toBeUndefined();
  });

  it("follows the cause", () => {
    expect(retryAfterMs(new Error("outer", { cause: { retryAfterMs: 250 } }))).toBe(250);
  });

  it("is undefined for non-objects and errors without a hint", () => {
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs("5")).toBeUndefined();
    expect(retryAfterMs(new Error("x"))).toBeUndefined();
  });
});

describe("backoffDelay", () => {
  const retry: RetryOptions = { maxAttempts: 10, backoffMs: 100 };

  it("is full jitter over the exponential: random × backoffMs × 2^(attempt-1)", () => {
    expect(backoffDelay(retry, 1, new Error("x"), () => 1)).toBe(100);
    expect(backoffDelay(retry, 2, new Error("x"), () => 1)).toBe(200);
    expect(backoffDelay(retry, 3, new Error("x"), () => 0.5)).toBe(200);
    expect(backoffDelay(retry, 4, new Error("x"), () => 0)).toBe(0);
  });

  it("caps the exponential at maxBackoffMs (default 30 s)", () => {
    expect(backoffDelay({ ...retry, maxBackoffMs: 250 }, 5, new Error("x"), () => 1)).toBe(250);
    expect(backoffDelay(retry, 30, new Error("x"), () => 1)).toBe(30_000);
  });

  it("honours the server's Retry-After, capped by max(maxBackoffMs, backoffMs)", () => {
    expect(backoffDelay(retry, 1, { retryAfterMs: 5000 }, () => 0)).toBe(5000);
    expect(backoffDelay({ ...retry, maxBackoffMs: 1000 }, 1, { retryAfterMs: 5000 }, () => 0)).toBe(
      1000,
    );
    expect(
      backoffDelay({ maxAttempts: 2, backoffMs: 2000, maxBackoffMs: 1000 }, 1, { retryAfter: 60 }),
    ).toBe(2000);
  });

  it("uses Math.random by default, within [0, cap]", () => {
    for (let i = 0; i < 50; i++) {
      const d = backoffDelay(retry, 3, new Error("x"));
      expect(d).toBeGreaterThanOrEqual(0);
      expect(d).toBeLessThanOrEqual(400);
    }
  });
});

describe("per-item retry in a streaming run (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
    vi.spyOn(Math, "random").mockReturnValue(1);
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  /** Drains a run in the background, recording what came out and how it ended. */
  function drain<T>(run: AsyncIterable<T>) {
    const state = { items: [] as T[], done: false, error: undefined as unknown };
    const promise = (async () => {
      try {
        for await (const x of run) state.items.push(x);
      } catch (e) {
        state.error = e;
      } finally {
        state.done = true;
      }
    })();
    return { state, promise };
  }

  it("retries a transient failure after the backoff and succeeds; attempt counts up", async () => {
    const attempts: number[] = [];
    const p = StreamingPipeline.start<string>().map(
      "fetch",
      (s: string, ctx: ItemContext) => {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 3) throw withCode("ECONNRESET");
        return s.toUpperCase();
      },
      { retry: { maxAttempts: 3, backoffMs: 100 } },
    );
    const run = p.executeFrom(["a"]);
    const d = drain(run);
    await vi.advanceTimersByTimeAsync(99);
    expect(attempts).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(199);
    expect(attempts).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(1);
    await d.promise;
    expect(attempts).toEqual([1, 2, 3]);
    expect(d.state.items).toEqual(["A"]);
    const m = run.metadata().stages[0];
    expect(m?.counts).toMatchObject({ retried: 2, succeeded: 1, failed: 0 });
  });

  it("waits the server's retryAfterMs instead of the backoff", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().map(
      "m",
      async (n) => {
        calls++;
        if (calls === 1) throw Object.assign(withStatus(429), { retryAfterMs: 5000 });
        return n;
      },
      { retry: { maxAttempts: 2, backoffMs: 10 }, concurrency: 2 },
    );
    const d = drain(p.executeFrom([7]));
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await d.promise;
    expect(calls).toBe(2);
    expect(d.state.items).toEqual([7]);
  });

  it("does not retry a non-retryable error", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().map(
      "m",
      () => {
        calls++;
        throw withStatus(404);
      },
      { retry: { maxAttempts: 5, backoffMs: 10 } },
    );
    const d = drain(p.executeFrom([1]));
    await vi.advanceTimersByTimeAsync(1000);
    await d.promise;
    expect(calls).toBe(1);
    expect(d.state.error).toBeInstanceOf(StreamingError);
    expect(d.state.error).toMatchObject({ attempts: 1, retryable: false, key: "m" });
  });

  it("retries listed codes and retryIf decisions", async () => {
    const calls = { listed: 0, custom: 0 };
    const p = StreamingPipeline.start<number>()
      .map(
        "listed",
        (n) => {
          if (++calls.listed < 2) throw withCode("E_BUSY");
          return n;
        },
        { retry: { maxAttempts: 3, backoffMs: 10, retryableErrors: ["E_BUSY"] } },
      )
      .map(
        "custom",
        (n) => {
          if (++calls.custom < 3) throw new Error("flaky");
          return n;
        },
        {
          retry: {
            maxAttempts: 3,
            backoffMs: 10,
            retryIf: (e) => (e as Error).message === "flaky",
          },
        },
      );
    const d = drain(p.executeFrom([1]));
    await vi.advanceTimersByTimeAsync(100);
    await d.promise;
    expect(d.state.items).toEqual([1]);
    expect(calls).toEqual({ listed: 2, custom: 3 });
  });

  it("gives up after maxAttempts with attempts, retryable and cause on the error", async () => {
    const cause = withCode("ETIMEDOUT");
    const p = StreamingPipeline.start<number>().map(
      "m",
      () => {
        throw cause;
      },
      { retry: { maxAttempts: 3, backoffMs: 10 } },
    );
    const run = p.executeFrom([1]);
    const d = drain(run);
    await vi.advanceTimersByTimeAsync(1000);
    await d.promise;
    const e = d.state.error as StreamingError;
    expect(e).toBeInstanceOf(StreamingError);
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.attempts).toBe(3);
    expect(e.retryable).toBe(true);
    expect(e.cause).toBe(cause);
    expect(run.metadata().stages[0]?.counts).toMatchObject({ retried: 2, failed: 1 });
  });

  it("never runs a succeeded item again, in parallel and unordered mode", async () => {
    for (const ordered of [true, false]) {
      const calls = new Map<number, number>();
      const p = StreamingPipeline.start<number>().map(
        "m",
        async (n: number, ctx: ItemContext) => {
          calls.set(n, (calls.get(n) ?? 0) + 1);
          await Promise.resolve();
          if (n % 3 === 0 && ctx.attempt < 2) throw withStatus(503);
          return n;
        },
        { concurrency: 3, ordered, retry: { maxAttempts: 2, backoffMs: 50 } },
      );
      const d = drain(p.executeFrom([0, 1, 2, 3, 4, 5, 6]));
      await vi.advanceTimersByTimeAsync(500);
      await d.promise;
      expect([...d.state.items].sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
      for (const [n, count] of calls) expect(count).toBe(n % 3 === 0 ? 2 : 1);
    }
  });

  it("a retried flatMap item emits its outputs once", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().flatMap(
      "fm",
      async function* (n: number) {
        calls++;
        yield n;
        if (calls === 1) throw withCode("ECONNRESET");
        yield n + 1;
      },
      { retry: { maxAttempts: 2, backoffMs: 10 } },
    );
    const d = drain(p.executeFrom([10]));
    await vi.advanceTimersByTimeAsync(100);
    await d.promise;
    expect(d.state.items).toEqual([10, 11]);
  });

  it("aborting the signal during a backoff wait ends the run without waiting or retrying", async () => {
    let calls = 0;
    const ac = new AbortController();
    const p = StreamingPipeline.start<number>().map(
      "m",
      () => {
        calls++;
        throw withCode("ECONNRESET");
      },
      { retry: { maxAttempts: 5, backoffMs: 60_000 } },
    );
    const run = p.executeFrom([1], { signal: ac.signal });
    const d = drain(run);
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(1);
    ac.abort(new Error("stop"));
    await vi.advanceTimersByTimeAsync(0);
    await d.promise;
    expect(d.state.done).toBe(true);
    expect(calls).toBe(1);
    expect(run.metadata().status).toBe("cancelled");
    expect(vi.getTimerCount()).toBe(0);
  });

  it("return() during a backoff wait resolves without the timer and retries nothing", async () => {
    let calls = 0;
    const p = StreamingPipeline.start<number>().map(
      "m",
      () => {
        calls++;
        throw withCode("ECONNRESET");
      },
      { retry: { maxAttempts: 5, backoffMs: 60_000 }, concurrency: 2 },
    );
    const run = p.executeFrom([1, 2]);
    const next = run.next();
    await vi.advanceTimersByTimeAsync(10);
    expect(calls).toBe(2);
    await run.return();
    await expect(next).resolves.toMatchObject({ done: true });
    expect(calls).toBe(2);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("honours a createStep's retry when mapped per item; the options' retry wins", async () => {
    let stepCalls = 0;
    const step = createStep<number, number>(
      "flaky",
      ({ input }) => {
        stepCalls++;
        if (stepCalls < 3) throw withCode("ECONNRESET");
        return input * 2;
      },
      { retry: { maxAttempts: 3, backoffMs: 10 } },
    );
    const d = drain(StreamingPipeline.start<number>().map("s", step).executeFrom([21]));
    await vi.advanceTimersByTimeAsync(100);
    await d.promise;
    expect(d.state.items).toEqual([42]);
    expect(stepCalls).toBe(3);

    stepCalls = 0;
    const d2 = drain(
      StreamingPipeline.start<number>()
        .map("s", step, { retry: { maxAttempts: 1, backoffMs: 0 } })
        .executeFrom([21]),
    );
    await vi.advanceTimersByTimeAsync(100);
    await d2.promise;
    expect(stepCalls).toBe(1);
    expect(d2.state.error).toBeInstanceOf(StreamingError);
  });
});

describe("retry options are validated when the pipeline is built", () => {
  const bad: [RetryOptions, RegExp][] = [
    [{ maxAttempts: 0, backoffMs: 1 }, /retry\.maxAttempts/],
    [{ maxAttempts: 1.5, backoffMs: 1 }, /retry\.maxAttempts/],
    [{ maxAttempts: 2, backoffMs: -1 }, /retry\.backoffMs/],
    [{ maxAttempts: 2, backoffMs: Number.NaN }, /retry\.backoffMs/],
    [{ maxAttempts: 2, backoffMs: 1, maxBackoffMs: -5 }, /retry\.maxBackoffMs/],
  ];
  for (const [retry, message] of bad) {
    it(`rejects ${JSON.stringify(retry)}`, () => {
      expect(() => StreamingPipeline.start<number>().map("myKey", (n) => n, { retry })).toThrow(
        RangeError,
      );
      expect(() => StreamingPipeline.start<number>().map("myKey", (n) => n, { retry })).toThrow(
        message,
      );
      expect(() => StreamingPipeline.start<number>().map("myKey", (n) => n, { retry })).toThrow(
        /myKey/,
      );
    });
  }

  it("rejects bad retry on createStep and createStreamingStep", () => {
    expect(() => createStep("s", () => 1, { retry: { maxAttempts: 0, backoffMs: 1 } })).toThrow(
      RangeError,
    );
  });
});

describe("retry time budget (maxElapsedMs)", () => {
  it("stops retrying when the budget runs out, with unlimited attempts", async () => {
    let calls = 0;
    const run = StreamingPipeline.start<number>()
      .map(
        "always",
        () => {
          calls++;
          throw Object.assign(new Error("busy"), { status: 503 });
        },
        {
          retry: {
            maxAttempts: Number.POSITIVE_INFINITY,
            backoffMs: 0,
            maxBackoffMs: 0,
            maxElapsedMs: 60,
          },
        },
      )
      .executeFrom([1]);
    const error = await (async () => {
      for await (const _ of run);
    })().catch((e: unknown) => e);
    expect((error as StepError).code).toBe("STEP_FAILED");
    expect(calls).toBeGreaterThan(2); // retried for as long as the budget lasted
    expect((error as StepError).attempts).toBe(calls);
  });

  it("stops at whichever runs out first: attempts or time", async () => {
    let calls = 0;
    const run = StreamingPipeline.start<number>()
      .map(
        "always",
        async () => {
          calls++;
          throw Object.assign(new Error("busy"), { status: 503 });
        },
        { retry: { maxAttempts: 3, backoffMs: 0, maxElapsedMs: 60_000 } },
      )
      .executeFrom([1]);
    await expect(
      (async () => {
        for await (const _ of run);
      })(),
    ).rejects.toThrow("busy");
    expect(calls).toBe(3);
    // A wait that would end past the budget is not started at all.
    const retry: RetryOptions = { maxAttempts: 10, backoffMs: 0, maxElapsedMs: 1000 };
    expect(withinRetryBudget(retry, 1, 600, 400)).toBe(true);
    expect(withinRetryBudget(retry, 1, 600, 401)).toBe(false);
    expect(withinRetryBudget(retry, 10, 0, 0)).toBe(false);
  });

  it("validates the budget and allows Infinity attempts only with it", () => {
    expect(() =>
      validateRetry({ maxAttempts: Number.POSITIVE_INFINITY, backoffMs: 1 }, "S"),
    ).toThrow("S: retry.maxAttempts may be Infinity only with a retry.maxElapsedMs budget");
    expect(() => validateRetry({ maxAttempts: 2, backoffMs: 1, maxElapsedMs: -1 }, "S")).toThrow(
      "S: retry.maxElapsedMs must be a finite number ≥ 0, got -1",
    );
    expect(() =>
      validateRetry({ maxAttempts: Number.POSITIVE_INFINITY, backoffMs: 1, maxElapsedMs: 5 }, "S"),
    ).not.toThrow();
  });
});
