/**
 * Runs the quick mode's checksum checks for two small cases, so CI exercises
 * the harness end to end (child processes, tsx loader, checksum comparison).
 * Timings are never asserted.
 */
import { describe, expect, it } from "vitest";
import { runBenchmarks } from "./orchestrate.ts";

describe("bench quick mode", () => {
  it("every implementation of sync-chain and stage-overlap produces the reference checksum", async () => {
    const outcome = await runBenchmarks({
      quick: true,
      rounds: 1,
      cases: ["sync-chain", "stage-overlap"],
      parallelism: 2,
      timeoutMs: 30_000,
      log: () => {},
    });
    expect(outcome.failures).toEqual([]);
    for (const bench of outcome.cases) {
      for (const variant of bench.variants) {
        for (const impl of variant.impls) {
          const where = `${bench.name} ${variant.name} ${impl.impl}`;
          expect(impl.status, `${where}: ${impl.note ?? ""}`).toBe("ok");
          expect(impl.checksums, where).toEqual([variant.reference]);
        }
      }
    }
  }, 60_000);
});
