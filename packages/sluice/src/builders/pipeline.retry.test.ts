import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  createStep,
  Pipeline,
  type RetryOptions,
  StepError,
  type StepResult,
  TRANSIENT_ERROR_CODES,
} from "../index.js";

function ok<T>(r: StepResult<T>): T {
  if (!r.success) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.data;
}

function failure<T>(r: StepResult<T>): StepError {
  if (r.success) throw new Error(`expected failure, got ${JSON.stringify(r.data)}`);
  return r.error;
}

/**
 * A map pipeline whose step fails `failures(input)` times per input with `makeError`,
 * counting calls per input.
 */
function flaky(
  retry: RetryOptions,
  failures: (input: number) => number,
  makeError: (input: number, attempt: number) => unknown = () =>
    Object.assign(new Error("transient"), { code: "ECONNRESET" }),
) {
  const calls = new Map<number, number>();
  const step = createStep(
    "flaky",
    async ({ input }: { input: number }) => {
      const n = (calls.get(input) ?? 0) + 1;
      calls.set(input, n);
      if (n <= failures(input)) throw makeError(input, n);
      return input * 10;
    },
    { retry },
  );
  return { step, calls, count: (i: number) => calls.get(i) ?? 0 };
}

describe("retry: real timers, zero backoff", () => {
  it("retries per item: an item that succeeded is never run again", async () => {
    const { step, calls } = flaky({ maxAttempts: 5, backoffMs: 0 }, (n) => (n === 2 ? 3 : 0));
    const r = await Pipeline.start<number[]>().map("m", step).execute([1, 2, 3]);
    expect(ok(r)).toEqual([10, 20, 30]);
    expect(Object.fromEntries(calls)).toEqual({ 1: 1, 2: 4, 3: 1 });
    expect(r.metadata.stages?.[0]?.counts).toMatchObject({ succeeded: 3, failed: 0, retried: 3 });
  });

  it("retries per item in parallel mode, keeping order, never re-running successes", async () => {
    const fails = (n: number) => n % 3;
    const { step, calls } = flaky({ maxAttempts: 3, backoffMs: 0 }, fails);
    const input = Array.from({ length: 30 }, (_, i) => i);
    const r = await Pipeline.start<number[]>()
      .map("m", step, { parallel: true, concurrencyLimit: 4 })
      .execute(input);
    expect(ok(r)).toEqual(input.map((n) => n * 10));
    for (const n of input) expect(calls.get(n)).toBe(fails(n) + 1);
    expect(r.metadata.stages?.[0]?.counts.retried).toBe(30);
  });

  it("gives up after maxAttempts with the last error and the attempt count", async () => {
    const { step, count } = flaky(
      { maxAttempts: 3, backoffMs: 0 },
      () => 99,
      (_, attempt) => Object.assign(new Error(`attempt ${attempt}`), { code: "ETIMEDOUT" }),
    );
    const r = await Pipeline.start<number[]>().map("m", step).execute([7]);
    const e = failure(r);
    expect(count(7)).toBe(3);
    expect(e.attempts).toBe(3);
    expect(e.message).toContain("attempt 3");
    expect(e.code).toBe("ETIMEDOUT");
    expect(e.key).toBe("m");
    expect(r.metadata.stages?.[0]?.counts).toMatchObject({ failed: 1, retried: 2 });
  });

  it("maxAttempts 1 means no retry", async () => {
    const { step, count } = flaky({ maxAttempts: 1, backoffMs: 0 }, () => 1);
    failure(await Pipeline.start<number[]>().map("m", step).execute([1]));
    expect(count(1)).toBe(1);
  });

  it("a step without a retry policy is called once", async () => {
    let calls = 0;
    const step = createStep("once", () => {
      calls++;
      throw Object.assign(new Error("x"), { code: "ECONNRESET" });
    });
    failure(await Pipeline.start<number[]>().map("m", step).execute([1]));
    expect(calls).toBe(1);
  });

  it("retries a whole-value step (add) and a branch step", async () => {
    const { step, count } = flaky({ maxAttempts: 4, backoffMs: 0 }, () => 2);
    expect(ok(await Pipeline.start<number>().add("a", step).execute(5))).toBe(50);
    expect(count(5)).toBe(3);
    const b = flaky({ maxAttempts: 4, backoffMs: 0 }, () => 1);
    const p = Pipeline.start<number>().branch("b", () => true, b.step, b.step);
    expect(ok(await p.execute(6))).toBe(60);
    expect(b.count(6)).toBe(2);
  });

  it("retries flatMap items; a retried item never emits twice", async () => {
    const calls = new Map<number, number>();
    const step = createStep(
      "fm",
      ({ input }: { input: number }) => {
        const n = (calls.get(input) ?? 0) + 1;
        calls.set(input, n);
        if (input === 1 && n === 1) throw Object.assign(new Error("x"), { retryable: true });
        return [input, input];
      },
      { retry: { maxAttempts: 2, backoffMs: 0 } },
    );
    const r = await Pipeline.start<number[]>()
      .flatMap("fm", step, { parallel: true })
      .execute([0, 1, 2]);
    expect(ok(r)).toEqual([0, 0, 1, 1, 2, 2]);
    expect(Object.fromEntries(calls)).toEqual({ 0: 1, 1: 2, 2: 1 });
  });

  it("the step sees the attempt number through a fresh call each time", async () => {
    const attempts: number[] = [];
    let n = 0;
    const step = createStep(
      "s",
      () => {
        attempts.push(++n);
        if (n < 3) throw new StepError("again", { retryable: true });
        return n;
      },
      { retry: { maxAttempts: 5, backoffMs: 0 } },
    );
    expect(ok(await Pipeline.start<number[]>().map("m", step).execute([0]))).toEqual([3]);
    expect(attempts).toEqual([1, 2, 3]);
  });

  describe("what is retryable", () => {
    const retryable: [string, () => unknown][] = [
      ["retryable: true", () => Object.assign(new Error("x"), { retryable: true })],
      ["a StepError with retryable: true", () => new StepError("x", { retryable: true })],
      ...["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "EAI_AGAIN", "EPIPE"].map(
        (code): [string, () => unknown] => [
          `code ${code}`,
          () => Object.assign(new Error(code), { code }),
        ],
      ),
      ...[408, 425, 429, 500, 502, 503, 504, 599].map((status): [string, () => unknown] => [
        `status ${status}`,
        () => Object.assign(new Error(`http ${status}`), { status }),
      ]),
      ...[408, 429, 503].map((statusCode): [string, () => unknown] => [
        `statusCode ${statusCode}`,
        () => Object.assign(new Error(`http ${statusCode}`), { statusCode }),
      ]),
      ["a retryable cause", () => new Error("outer", { cause: { code: "ECONNRESET" } })],
    ];
    it.each(retryable)("%s is retried", async (_label, makeError) => {
      const { step, count } = flaky({ maxAttempts: 3, backoffMs: 0 }, () => 2, makeError);
      ok(await Pipeline.start<number[]>().map("m", step).execute([1]));
      expect(count(1)).toBe(3);
    });

    it("the documented transient codes are all in TRANSIENT_ERROR_CODES", () => {
      for (const code of ["ECONNRESET", "ETIMEDOUT", "ECONNREFUSED", "EAI_AGAIN", "EPIPE"]) {
        expect(TRANSIENT_ERROR_CODES.has(code)).toBe(true);
      }
    });

    const notRetryable: [string, () => unknown][] = [
      ["a plain Error", () => new Error("x")],
      ["retryable: false", () => Object.assign(new Error("x"), { retryable: false })],
      [
        "retryable: false even with a transient code",
        () => Object.assign(new Error("x"), { retryable: false, code: "ECONNRESET" }),
      ],
      ["an unknown code", () => Object.assign(new Error("x"), { code: "EINVAL" })],
      ...[400, 401, 403, 404, 409, 422, 600].map((status): [string, () => unknown] => [
        `status ${status}`,
        () => Object.assign(new Error(`http ${status}`), { status }),
      ]),
      ["a string status", () => Object.assign(new Error("x"), { status: "503" })],
      ["a thrown string", () => "ECONNRESET"],
      ["a thrown null", () => null],
      ["a StepError with retryable: false", () => new StepError("x", { retryable: false })],
    ];
    it.each(notRetryable)("%s is not retried", async (_label, makeError) => {
      const { step, count } = flaky({ maxAttempts: 5, backoffMs: 0 }, () => 9, makeError);
      const e = failure(await Pipeline.start<number[]>().map("m", step).execute([1]));
      expect(count(1)).toBe(1);
      expect(e.attempts).toBe(1);
    });

    it("codes listed in retryableErrors are retried", async () => {
      const { step, count } = flaky(
        { maxAttempts: 3, backoffMs: 0, retryableErrors: ["RATE_LIMITED"] },
        () => 2,
        () => Object.assign(new Error("slow down"), { code: "RATE_LIMITED" }),
      );
      ok(await Pipeline.start<number[]>().map("m", step).execute([1]));
      expect(count(1)).toBe(3);
    });

    it("retryIf overrides the built-in decision and sees the attempt number", async () => {
      const seen: number[] = [];
      const { step, count } = flaky(
        {
          maxAttempts: 5,
          backoffMs: 0,
          retryIf: (_error, attempt) => {
            seen.push(attempt);
            return attempt < 2;
          },
        },
        () => 9,
        () => new Error("plain, normally not retryable"),
      );
      failure(await Pipeline.start<number[]>().map("m", step).execute([1]));
      expect(count(1)).toBe(2);
      expect(seen.slice(0, 2)).toEqual([1, 2]);

      const never = flaky(
        { maxAttempts: 5, backoffMs: 0, retryIf: () => false },
        () => 9,
        () => Object.assign(new Error("x"), { code: "ECONNRESET" }),
      );
      failure(await Pipeline.start<number[]>().map("m", never.step).execute([1]));
      expect(never.count(1)).toBe(1);
    });
  });

  it("SKIP_FAILED skips an item only after its retries are exhausted", async () => {
    const { step, calls } = flaky({ maxAttempts: 3, backoffMs: 0 }, (n) => (n === 1 ? 9 : n));
    const r = await Pipeline.start<number[]>()
      .map("m", step, { errorStrategy: "SKIP_FAILED", parallel: true })
      .execute([0, 1, 2]);
    expect(ok(r)).toEqual([0, 20]);
    expect(Object.fromEntries(calls)).toEqual({ 0: 1, 1: 3, 2: 3 });
    expect(r.metadata.errors?.map((e) => [e.itemIndex, e.attempts])).toEqual([[1, 3]]);
  });

  it("COLLECT_ERRORS reports each item's attempts", async () => {
    const { step } = flaky({ maxAttempts: 2, backoffMs: 0 }, (n) => (n === 0 ? 9 : 0));
    const e = failure(
      await Pipeline.start<number[]>()
        .map("m", step, { errorStrategy: "COLLECT_ERRORS" })
        .execute([0, 1]),
    );
    expect(e.errors?.[0]?.error.attempts).toBe(2);
    expect(e.results).toEqual([10]);
  });
});

describe("retry: backoff timing (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  async function callsAt(count: () => number, schedule: readonly number[]): Promise<number[]> {
    const out: number[] = [];
    let t = 0;
    for (const at of schedule) {
      await vi.advanceTimersByTimeAsync(at - t);
      t = at;
      out.push(count());
    }
    return out;
  }

  it("waits backoffMs·2^(n-1) at most (random at its upper bound): exponential", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const { step, count } = flaky({ maxAttempts: 4, backoffMs: 100 }, () => 9);
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    // attempts at ~0, ~100, ~300, ~700
    const seen = await callsAt(() => count(1), [0, 98, 101, 298, 301, 698, 701]);
    expect(seen).toEqual([1, 1, 2, 2, 3, 3, 4]);
    const e = failure(await run);
    expect(e.attempts).toBe(4);
  });

  it("full jitter: the wait is random() times the exponential delay", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0.5);
    const { step, count } = flaky({ maxAttempts: 3, backoffMs: 1_000 }, () => 9);
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    // waits 500 then 1000
    const seen = await callsAt(() => count(1), [0, 499, 501, 1_499, 1_501]);
    expect(seen).toEqual([1, 1, 2, 2, 3]);
    failure(await run);
  });

  it("random = 0 retries immediately", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { step, count } = flaky({ maxAttempts: 3, backoffMs: 10_000 }, () => 2);
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(count(1)).toBe(3);
    expect(ok(await run)).toEqual([10]);
  });

  it("caps a single wait at maxBackoffMs", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const { step, count } = flaky({ maxAttempts: 5, backoffMs: 100, maxBackoffMs: 250 }, () => 9);
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    // waits 100, 200, 250, 250 → attempts at 0, 100, 300, 550, 800
    const seen = await callsAt(() => count(1), [0, 101, 299, 301, 549, 551, 799, 801]);
    expect(seen).toEqual([1, 2, 2, 3, 3, 4, 4, 5]);
    failure(await run);
  });

  it("caps at 30 s by default", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const { step, count } = flaky({ maxAttempts: 3, backoffMs: 1_000_000 }, () => 9);
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    const seen = await callsAt(() => count(1), [0, 29_990, 30_001, 59_990, 60_010]);
    expect(seen).toEqual([1, 1, 2, 2, 3]);
    failure(await run);
  });

  it("honours retryAfterMs on the error over the computed backoff", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { step, count } = flaky(
      { maxAttempts: 3, backoffMs: 10 },
      () => 1,
      () => Object.assign(new Error("429"), { status: 429, retryAfterMs: 5_000 }),
    );
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    const seen = await callsAt(() => count(1), [0, 4_990, 5_001]);
    expect(seen).toEqual([1, 1, 2]);
    expect(ok(await run)).toEqual([10]);
  });

  it.each([
    ["retryAfter seconds (number)", { retryAfter: 2 }],
    ["Retry-After header (plain object)", { headers: { "retry-after": "2" } }],
    ["Retry-After header (Headers)", { headers: new Headers({ "Retry-After": "2" }) }],
  ])("honours %s", async (_label, extra) => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    const { step, count } = flaky(
      { maxAttempts: 2, backoffMs: 1 },
      () => 1,
      () => Object.assign(new Error("503"), { status: 503, ...extra }),
    );
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    const seen = await callsAt(() => count(1), [0, 1_990, 2_001]);
    expect(seen).toEqual([1, 1, 2]);
    expect(ok(await run)).toEqual([10]);
  });

  it("honours a Retry-After HTTP date", async () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    vi.setSystemTime(new Date("2030-01-01T00:00:00Z"));
    const { step, count } = flaky(
      { maxAttempts: 2, backoffMs: 1 },
      () => 1,
      () =>
        Object.assign(new Error("503"), {
          status: 503,
          headers: { "retry-after": new Date("2030-01-01T00:00:03Z").toUTCString() },
        }),
    );
    const run = Pipeline.start<number[]>().map("m", step).execute([1]);
    const seen = await callsAt(() => count(1), [0, 2_900, 3_100]);
    expect(seen).toEqual([1, 1, 2]);
    expect(ok(await run)).toEqual([10]);
  });

  it("aborting the signal during a backoff wait ends the run at once with ABORTED", async () => {
    const { step, count } = flaky({ maxAttempts: 5, backoffMs: 60_000 }, () => 9);
    vi.spyOn(Math, "random").mockReturnValue(1);
    const controller = new AbortController();
    const run = Pipeline.start<number[]>()
      .map("m", step, { parallel: true })
      .execute([1, 2], { signal: controller.signal });
    await vi.advanceTimersByTimeAsync(10);
    expect(count(1)).toBe(1);
    controller.abort();
    await vi.advanceTimersByTimeAsync(0);
    const r = await run;
    expect(failure(r).code).toBe("ABORTED");
    expect(count(1)).toBe(1);
    expect(count(2)).toBe(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("FAIL_FAST parallel: an item waiting to retry is not retried after a sibling fails", async () => {
    vi.spyOn(Math, "random").mockReturnValue(1);
    const calls = new Map<number, number>();
    const step = createStep(
      "s",
      async ({ input }: { input: number }) => {
        calls.set(input, (calls.get(input) ?? 0) + 1);
        if (input === 0) throw Object.assign(new Error("transient"), { code: "ECONNRESET" });
        await new Promise((r) => setTimeout(r, 50));
        throw new Error("fatal");
      },
      { retry: { maxAttempts: 3, backoffMs: 1_000 } },
    );
    const run = Pipeline.start<number[]>()
      .map("m", step, { parallel: true, concurrencyLimit: 2 })
      .execute([0, 1, 2]);
    await vi.advanceTimersByTimeAsync(60);
    const e = failure(await run);
    expect(e.message).toContain("fatal");
    expect(Object.fromEntries(calls)).toEqual({ 0: 1, 1: 1 });
    expect(vi.getTimerCount()).toBe(0);
  });
});
