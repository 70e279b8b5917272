import { describe, expect, it } from "vitest";
import { type KindReport, renderStoreCosts, storeCosts, verdictsOf } from "./store-costs.ts";

const kind = (name: KindReport["kind"], rssMb: number, openMs: number): KindReport => ({
  kind: name,
  exact: true,
  embed: { peakRssBytes: rssMb * 1024 * 1024, durationMs: 1000, throughput: 100, chunks: 100 },
  open: { loadAndOpenMs: openMs + 100, openMs },
  search: [],
});

describe("store-costs", () => {
  it("judges the default store against the JSONL store of the same run", () => {
    expect(verdictsOf([kind("sqlite", 300, 5), kind("jsonl", 250, 20)]).map((v) => v.met)).toEqual([
      true,
      true,
    ]);
    expect(
      verdictsOf([kind("sqlite", 400, 150), kind("jsonl", 250, 20)]).map((v) => v.met),
    ).toEqual([false, false]);
  });

  it("measures each kind in child processes and renders a row per kind", async () => {
    const report = await storeCosts({
      kinds: ["sqlite", "jsonl"],
      chunks: [200],
      files: 3,
      log: () => {},
    });
    expect(report.kinds.map((k) => k.kind)).toEqual(["sqlite", "jsonl"]);
    for (const k of report.kinds) {
      expect(k.embed.chunks).toBeGreaterThan(0);
      expect(k.open.openMs).toBeGreaterThan(0);
      expect(k.search).toHaveLength(1);
      expect(k.search[0]?.chunks).toBe(200);
      expect(k.search[0]?.modes.hybrid.medianMs).toBeGreaterThan(0);
    }
    const markdown = renderStoreCosts(report);
    expect(markdown).toMatch(/^## Store costs/);
    expect(markdown).toMatch(/\| sqlite \| yes \|/);
    expect(markdown).toMatch(/\| jsonl \| yes \|/);
    expect(report.verdicts).toHaveLength(2);
  }, 120_000);
});
