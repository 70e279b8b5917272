import { afterEach, describe, expect, it, vi } from "vitest";
import { ASYNC_CHUNK_BUDGET_MS, ChunkBudget } from "./chunk-budget.js";

/** A clock the test moves by hand, and a count of its reads. */
function fakeClock() {
  const clock = { t: 1_000, reads: 0 };
  vi.spyOn(globalThis.performance, "now").mockImplementation(() => {
    clock.reads++;
    return clock.t;
  });
  return clock;
}

/** Items counted until the budget says the chunk is spent (or `max`). */
function itemsUntilSpent(budget: ChunkBudget, clock: { t: number }, msEach: number, max = 1_000) {
  for (let n = 1; n <= max; n++) {
    clock.t += msEach;
    if (budget.spent()) return n;
  }
  return Number.POSITIVE_INFINITY;
}

describe("ChunkBudget", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("ends a chunk of slow items as soon as the budget is used, reading the clock each item", () => {
    const clock = fakeClock();
    const budget = new ChunkBudget();
    budget.begin(clock.t);
    const reads = clock.reads;
    // 0.4 ms each: 0.4, 0.8, 1.2 > 1 ms.
    expect(itemsUntilSpent(budget, clock, 0.4)).toBe(3);
    expect(clock.reads - reads).toBe(3);
  });

  it("reads the clock every few items while items come back within microtasks", () => {
    const clock = fakeClock();
    const budget = new ChunkBudget();
    budget.begin(clock.t);
    const reads = clock.reads;
    expect(itemsUntilSpent(budget, clock, 0, 200)).toBe(Number.POSITIVE_INFINITY);
    // Strides 1, 2, 4, then 8: 3 reads for the first 7 items, then one per 8.
    expect(clock.reads - reads).toBe(3 + Math.floor((200 - 7) / 8));
  });

  it("lets at most 8 items pass when fast items turn slow", () => {
    const clock = fakeClock();
    const budget = new ChunkBudget();
    budget.begin(clock.t);
    itemsUntilSpent(budget, clock, 0, 100);
    // Each slow item alone exceeds the budget; the stride reached 8 before they came.
    expect(itemsUntilSpent(budget, clock, ASYNC_CHUNK_BUDGET_MS * 2)).toBeLessThanOrEqual(8);
    // Seen slow, the clock is read every item again, also in the next chunk.
    budget.begin(clock.t);
    expect(itemsUntilSpent(budget, clock, ASYNC_CHUNK_BUDGET_MS * 2)).toBe(1);
  });
});
