import { describe, expect, it } from "vitest";
import type { CaseSummary } from "./aggregate.ts";
import { machineInfo } from "./machine.ts";
import { type RunReport, replaceCases } from "./report.ts";

const machine = machineInfo();

const bench = (name: string, baseline = "base"): CaseSummary =>
  ({ name, description: name, baseline, columns: [], variants: [] }) as unknown as CaseSummary;

const report = (date: string, cases: CaseSummary[]): RunReport => ({
  schema: 1,
  date,
  mode: "full",
  rounds: 3,
  durationS: 1,
  machine,
  cases,
  targets: [],
});

describe("replaceCases (run.ts --replace-cases)", () => {
  it("replaces re-run cases in place and adds those the main run did not have, in case order", () => {
    const latest = report("main", [bench("sync-chain"), bench("memory")]);
    const partial = report("later", [bench("merge-sources", "one-source"), bench("memory", "new")]);
    const out = replaceCases(latest, partial, ["sync-chain", "merge-sources", "memory"]);
    expect(out.cases.map((c) => [c.name, c.baseline])).toEqual([
      ["sync-chain", "base"],
      ["merge-sources", "one-source"],
      ["memory", "new"],
    ]);
    expect(out.replaced?.map((r) => [r.case, r.date])).toEqual([
      ["merge-sources", "later"],
      ["memory", "later"],
    ]);
    expect(out.date).toBe("main");
    // Judged again with the cases it now has: merge-sources is no longer "case not run".
    const merge = out.targets.find((t) => t.id === "merge-sources");
    expect(merge?.note).not.toBe("case not run");
  });
});
