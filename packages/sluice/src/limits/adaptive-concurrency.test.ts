import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { AdaptiveLimit, isOverload, readConcurrency } from "./adaptive-concurrency.js";

const overload = (retryAfterMs?: number) =>
  Object.assign(new Error("slow down"), { status: 429, retryAfterMs });

describe("isOverload", () => {
  it("knows 429, 503, RATE_LIMITED and a requested wait, also as a cause", () => {
    expect(isOverload({ status: 429 })).toBe(true);
    expect(isOverload({ statusCode: 503 })).toBe(true);
    expect(isOverload({ code: "RATE_LIMITED" })).toBe(true);
    expect(isOverload({ retryAfterMs: 10 })).toBe(true);
    expect(isOverload(new Error("wrapped", { cause: { response: { status: 429 } } }))).toBe(true);
    expect(isOverload({ status: 500 })).toBe(false);
    expect(isOverload(new Error("bad input"))).toBe(false);
    expect(isOverload(undefined)).toBe(false);
  });
});

describe("AdaptiveLimit", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("halves once per round of calls on overload, never below min", () => {
    const changes: string[] = [];
    const a = new AdaptiveLimit(8, 2, (limit, previous, reason) =>
      changes.push(`${previous}>${limit} ${reason}`),
    );
    const tokens = [0, 0, 0].map(() => {
      let t = -1;
      void a.acquire().then((x) => {
        t = x;
      });
      return () => t;
    });
    return Promise.resolve().then(() => {
      // Three calls of one round all fail with 429: one decrease.
      for (const t of tokens) a.release(t(), true, overload());
      expect(a.limit).toBe(4);
      const next = [a.acquire(), a.acquire()];
      return Promise.all(next).then(([t1, t2]) => {
        a.release(t1 as number, true, overload());
        expect(a.limit).toBe(2);
        a.release(t2 as number, true, overload());
        expect(a.limit).toBe(2); // same round
        expect(changes).toEqual(["8>4 overload", "4>2 overload"]);
      });
    });
  });

  it("probes up by one per `limit` successes once quiet, never above max", async () => {
    const a = new AdaptiveLimit(3, 1);
    a.release(await a.acquire(), true, overload());
    expect(a.limit).toBe(1);
    a.release(await a.acquire(), false);
    expect(a.limit).toBe(1); // within the quiet time after an overload
    await vi.advanceTimersByTimeAsync(1000);
    a.release(await a.acquire(), false);
    expect(a.limit).toBe(2);
    for (let i = 0; i < 10; i++) a.release(await a.acquire(), false);
    expect(a.limit).toBe(3);
    expect(a.samples.map((s) => s.limit)).toEqual([3, 1, 2, 3]);
  });

  it("pauses every new call for the Retry-After on one shared clock", async () => {
    const a = new AdaptiveLimit(4, 1);
    const first = await a.acquire();
    a.release(first, true, overload(2000));
    let started = 0;
    const waiting = [a.acquire(), a.acquire()].map((p) => p.then(() => started++));
    await vi.advanceTimersByTimeAsync(1999);
    expect(started).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    await Promise.all(waiting);
    expect(started).toBe(2);
    expect(a.pausedMs).toBe(2000);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("limits calls at once to the current limit and lets an aborted waiter go", async () => {
    const a = new AdaptiveLimit(2, 1);
    const t1 = await a.acquire();
    await a.acquire();
    const c = new AbortController();
    const third = a.acquire(c.signal);
    c.abort(new Error("gone"));
    await expect(third).rejects.toThrow("gone");
    a.release(t1, false);
    await a.acquire(); // the slot went to a new caller, not the aborted one
    expect(vi.getTimerCount()).toBe(0);
  });

  it("reads and validates the concurrency option", () => {
    expect(readConcurrency(4, "k")).toEqual({ max: 4, adaptive: undefined });
    expect(readConcurrency({ max: 8, adaptive: true }, "k")).toEqual({
      max: 8,
      adaptive: { min: 1 },
    });
    expect(readConcurrency({ max: 8, adaptive: false }, "k")).toEqual({
      max: 8,
      adaptive: undefined,
    });
    expect(() => readConcurrency({ max: 2, min: 3, adaptive: true }, "k")).toThrow(
      'Stage "k": concurrency.min (3) must not exceed concurrency.max (2)',
    );
    expect(() => readConcurrency({ max: 0, adaptive: true }, "k")).toThrow(
      /concurrency.max must be a positive integer/,
    );
    expect(() => readConcurrency({ max: 2 }, "k")).toThrow(
      /concurrency.adaptive must be a boolean/,
    );
    expect(() => readConcurrency("3", "k")).toThrow(
      'Stage "k": concurrency must be a positive integer, got 3',
    );
  });
});

describe("AdaptiveLimit pacing", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("learns the service's rate from the successes between two overloads", async () => {
    const a = new AdaptiveLimit(1, 1);
    a.release(await a.acquire(), true, overload(1000));
    expect(a.pacingMs).toBe(0); // one overload: nothing to measure yet
    await vi.advanceTimersByTimeAsync(1000);
    // After the pause, 20 calls got through before the next overload: 20 per second.
    for (let i = 0; i < 20; i++) a.release(await a.acquire(), false);
    a.release(await a.acquire(), true, overload(1000));
    expect(a.pacingMs).toBeCloseTo(50, 0);
    // Starts are now spaced: after the pause, two calls take one gap apart.
    await vi.advanceTimersByTimeAsync(1000);
    const t0 = performance.now();
    a.release(await a.acquire(), false);
    const second = a.acquire();
    await vi.advanceTimersByTimeAsync(60);
    a.release(await second, false);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(49);
  });

  it("spaces calls by their cost when given one", async () => {
    const a = new AdaptiveLimit(1, 1);
    a.release(await a.acquire(undefined, 100), true, overload(1000), 100);
    await vi.advanceTimersByTimeAsync(1000);
    // 400 units got through in the second between the overloads: 0.4 per ms.
    a.release(await a.acquire(undefined, 400), false, undefined, 400);
    a.release(await a.acquire(undefined, 400), true, overload(1000), 400);
    expect(a.pacingMs).toBeCloseTo(2.5, 5);
    await vi.advanceTimersByTimeAsync(1000);
    // A call of 40 units holds the next start back 100 ms; one of 4 units, 10 ms.
    const t0 = performance.now();
    a.release(await a.acquire(undefined, 40), false, undefined, 40);
    const next = a.acquire(undefined, 4);
    await vi.advanceTimersByTimeAsync(100);
    a.release(await next, false, undefined, 4);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(98);
  });

  it("at least doubles the pace when nothing got through a pause", async () => {
    const a = new AdaptiveLimit(1, 1);
    a.release(await a.acquire(), true, overload(1000));
    const p = a.acquire();
    await vi.advanceTimersByTimeAsync(1000);
    a.release(await p, true, overload(1000));
    expect(a.pacingMs).toBe(1000);
    expect(vi.getTimerCount()).toBe(0);
  });
});
