import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "./histogram.js";

function exactQuantile(sorted: number[], q: number): number {
  const rank = Math.max(1, Math.ceil(q * sorted.length));
  return sorted[rank - 1] as number;
}

describe("LatencyHistogram", () => {
  it("reports percentiles within 2% of exact on known distributions", () => {
    const distributions: Record<string, () => number> = {
      uniform: () => Math.random() * 100,
      exponential: () => -Math.log(1 - Math.random()) * 20,
      bimodal: () => (Math.random() < 0.9 ? 2 + Math.random() : 200 + Math.random() * 50),
    };
    for (const [name, draw] of Object.entries(distributions)) {
      const h = new LatencyHistogram();
      const values = Array.from({ length: 50_000 }, draw);
      for (const v of values) h.record(v);
      const sorted = [...values].sort((a, b) => a - b);
      const s = h.summary();
      for (const [q, got] of [
        [0.5, s.p50],
        [0.9, s.p90],
        [0.95, s.p95],
        [0.99, s.p99],
      ] as const) {
        const exact = exactQuantile(sorted, q);
        expect(Math.abs(got - exact) / exact, `${name} p${q * 100}`).toBeLessThanOrEqual(0.02);
      }
      expect(s.max).toBe(sorted[sorted.length - 1]);
      expect(s.min).toBe(sorted[0]);
      expect(s.count).toBe(values.length);
    }
  });

  it("stays within 2% for any sample set (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0.002, max: 1e6, noNaN: true }), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.constantFrom(0.5, 0.9, 0.95, 0.99),
        (values, q) => {
          const h = new LatencyHistogram();
          for (const v of values) h.record(v);
          const exact = exactQuantile(
            [...values].sort((a, b) => a - b),
            q,
          );
          expect(Math.abs(h.quantile(q) - exact) / exact).toBeLessThanOrEqual(0.02);
        },
      ),
    );
  });

  it("counts weighted samples, zeros and bad values without growing", () => {
    const h = new LatencyHistogram();
    h.record(5, 1_000_000);
    h.record(0, 10);
    h.record(Number.NaN);
    h.record(-3);
    expect(h.count).toBe(1_000_012);
    expect(h.summary().p50).toBeCloseTo(5, 0);
    expect(h.summary().min).toBe(0);
    expect(new LatencyHistogram().summary()).toMatchObject({ count: 0, p99: 0, max: 0 });
  });
});
