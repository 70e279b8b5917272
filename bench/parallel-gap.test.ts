import { describe, expect, it } from "vitest";
import { GAP_IMPLEMENTATIONS, measureGap, renderGapTable } from "./parallel-gap.ts";

describe("parallel-gap (bench/parallel-gap.ts)", () => {
  it.each(GAP_IMPLEMENTATIONS)("splits %s's cycle into timer and restart gap", async (impl) => {
    const f = await measureGap(impl, 4, { n: 60, runs: 2, warmUp: 1 });
    expect(f.impl).toBe(impl);
    expect(f.efficiency).toBeGreaterThan(0);
    expect(f.efficiency).toBeLessThan(1.2);
    expect(f.timerMs).toBeGreaterThan(0.5);
    // At most c tasks at once: the k-th task starts only after the (k − c)-th callback.
    expect(f.minLagMs).toBeGreaterThanOrEqual(0);
    expect(f.replacementLagMs).toBeGreaterThanOrEqual(f.minLagMs);
    expect(f.burstSize).toBeGreaterThanOrEqual(1);
    const table = renderGapTable([[f]]);
    expect(table.split("\n")).toHaveLength(3);
    expect(table).toContain(`| 4 | ${impl} | ${f.efficiency.toFixed(3)} |`);
  });
});
