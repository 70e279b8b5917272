/**
 * The warm protocol of `parallel-latency` in a real child process: after the cold run and a
 * warm-up on a short input, recorded runs go on until they add up to ≥ 300 ms and number at
 * least 5. Uses a peer, not sluice, so that it checks the harness only. Timings are bounded
 * from below by the loop itself, never asserted as speeds.
 */
import { describe, expect, it } from "vitest";
import { spawnWorker } from "./spawn.ts";

describe("bench worker, parallel-latency warm runs", () => {
  it("records ≥ 300 ms and ≥ 5 warm runs with a GC between them, and a median efficiency", async () => {
    const [result] = await spawnWorker(
      { case: "parallel-latency", impl: "hand-written", variant: "c=128,ordered,gc-between-runs" },
      { quick: false, timeoutMs: 60_000 },
    );
    expect(result?.status, JSON.stringify(result)).toBe("ok");
    if (result?.status !== "ok") return;
    const f = result.figures ?? {};
    expect(f.warmRunCount).toBeGreaterThanOrEqual(5);
    expect(f.warmTotalMs).toBeGreaterThanOrEqual(300);
    expect(f.warmEfficiency).toBeGreaterThan(0);
    expect(result.items).toBe(2_000);
  }, 60_000);
});
