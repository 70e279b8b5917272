import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { TokenBucket } from "./token-bucket.js";

describe("TokenBucket", () => {
  it("never admits more than capacity + rate × t over any window (fake clock)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(
          fc.record({
            gap: fc.integer({ min: 0, max: 300 }),
            cost: fc.integer({ min: 1, max: 20 }),
          }),
          {
            minLength: 1,
            maxLength: 80,
          },
        ),
        (capacity, perSecond, calls) => {
          const rate = perSecond / 1000;
          const bucket = new TokenBucket(capacity, rate, 0);
          let t = 0;
          const admitted: { t: number; cost: number }[] = [];
          for (const { gap, cost: raw } of calls) {
            const cost = Math.min(raw, capacity); // the window bound holds for costs that fit
            t += gap;
            const wait = bucket.waitMs(cost, t);
            t += wait;
            expect(bucket.waitMs(cost, t)).toBe(0);
            bucket.take(cost, t);
            admitted.push({ t, cost });
          }
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += (admitted[j] as { cost: number }).cost;
              const window = (admitted[j] as { t: number }).t - (admitted[i] as { t: number }).t;
              expect(sum).toBeLessThanOrEqual(capacity + rate * window + 1e-6);
            }
          }
        },
      ),
    );
  });

  it("admits a cost above the capacity once full, and the debt delays what follows", () => {
    const bucket = new TokenBucket(10, 1 / 100, 0); // 10 tokens, one per 100 ms
    expect(bucket.waitMs(25, 0)).toBe(0);
    bucket.take(25, 0);
    expect(bucket.tokens(0)).toBe(-15);
    // 16 tokens must come back before a cost of 1 fits: 1 600 ms.
    expect(bucket.waitMs(1, 0)).toBeCloseTo(1600);
  });

  it("refills up to its capacity only", () => {
    const bucket = new TokenBucket(5, 1, 0);
    bucket.take(5, 0);
    expect(bucket.tokens(1_000_000)).toBe(5);
  });
});
