import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createRateLimiter } from "./rate-limiter.js";

describe("createRateLimiter", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "performance", "Date"] });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("defaults the burst to one second of the rate", () => {
    const l = createRateLimiter({ requests: 1200, units: 240_000, perMs: 60_000 });
    expect(l.options.burst).toEqual({ requests: 20, units: 4000 });
    expect(createRateLimiter({ requests: 6, perMs: 60_000 }).options.burst.requests).toBe(1);
    expect(createRateLimiter({ requests: 5, perMs: 100 }).options.burst.requests).toBe(5);
  });

  it("never admits more than burst + rate × t over any window, with waiters in line", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 20 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 400 }),
            units: fc.integer({ min: 0, max: 30 }),
          }),
          {
            minLength: 1,
            maxLength: 40,
          },
        ),
        async (burst, perSecond, calls) => {
          const start = performance.now();
          const l = createRateLimiter({
            requests: perSecond,
            units: perSecond * 10,
            perMs: 1000,
            burst: { requests: burst, units: 40 },
          });
          const admittedAt: number[] = [];
          const pending: Promise<void>[] = [];
          for (const { gap, units } of calls) {
            await vi.advanceTimersByTimeAsync(gap);
            pending.push(
              l.acquire(units).then(() => void admittedAt.push(performance.now() - start)),
            );
          }
          await vi.runAllTimersAsync();
          await Promise.all(pending);
          expect(admittedAt).toHaveLength(calls.length);
          const rate = perSecond / 1000;
          for (let i = 0; i < admittedAt.length; i++) {
            for (let j = i; j < admittedAt.length; j++) {
              const window = (admittedAt[j] as number) - (admittedAt[i] as number);
              // +1: admissions happen on whole-millisecond timer ticks.
              expect(j - i + 1).toBeLessThanOrEqual(burst + rate * (window + 1) + 1e-6);
            }
          }
          expect(vi.getTimerCount()).toBe(0);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("serves waiters first come, first served: a heavy head is not overtaken", async () => {
    const l = createRateLimiter({ units: 100, perMs: 1000, burst: { units: 100 } });
    await l.acquire(100); // empties the bucket
    const order: string[] = [];
    const heavy = l.acquire(80).then(() => order.push("heavy"));
    const light = l.acquire(1).then(() => order.push("light"));
    await vi.advanceTimersByTimeAsync(500);
    expect(order).toEqual([]); // 50 units back: light would fit, but waits behind heavy
    await vi.advanceTimersByTimeAsync(400);
    await Promise.all([heavy, light]);
    expect(order).toEqual(["heavy", "light"]);
  });

  it("admits a call costing more than the burst alone, then makes the rest repay it", async () => {
    const l = createRateLimiter({ units: 10, perMs: 1000, burst: { units: 10 } });
    const t0 = performance.now();
    expect(await l.acquire(50)).toBe(0); // bucket full: goes at once, 40 in debt
    const next = l.acquire(10);
    await vi.advanceTimersByTimeAsync(5000);
    expect(await next).toBeGreaterThanOrEqual(4999);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(5000);
  });

  it("gives up the place in line when the signal aborts, leaving no timer", async () => {
    const l = createRateLimiter({ requests: 1, perMs: 1000 });
    await l.acquire();
    const c = new AbortController();
    const waiting = l.acquire(0, c.signal);
    const behind = l.acquire();
    expect(l.stats().waiting).toBe(2);
    const reason = new Error("stop");
    c.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(l.stats().waiting).toBe(1);
    await vi.advanceTimersByTimeAsync(1000);
    await behind; // the one behind moved up and went at the next token
    expect(vi.getTimerCount()).toBe(0);
    await expect(l.acquire(0, c.signal)).rejects.toBe(reason);
  });

  it("counts admissions, units and time waited", async () => {
    const l = createRateLimiter({ requests: 2, units: 100, perMs: 1000, burst: { requests: 1 } });
    await l.acquire(5);
    const p = l.acquire(7);
    await vi.advanceTimersByTimeAsync(500);
    await p;
    expect(l.stats()).toEqual({ admitted: 2, units: 12, waiting: 0, throttledMs: 500 });
  });

  it("rejects bad options and bad costs with errors naming them", async () => {
    expect(() => createRateLimiter({ perMs: 1000 })).toThrow(/needs requests or units/);
    expect(() => createRateLimiter({ requests: 0, perMs: 1000 })).toThrow(/requests must be/);
    expect(() => createRateLimiter({ requests: 1, perMs: Number.NaN })).toThrow(/perMs must be/);
    expect(() => createRateLimiter({ requests: 1, perMs: 10, burst: { requests: 0.5 } })).toThrow(
      /burst.requests must be at least 1/,
    );
    const l = createRateLimiter({ requests: 1, perMs: 10 });
    await expect(l.acquire(-1)).rejects.toThrow(/units must be a finite number/);
  });
});
