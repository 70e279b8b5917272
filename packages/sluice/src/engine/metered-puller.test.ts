import { afterEach, describe, expect, it, vi } from "vitest";
import { StageMetrics } from "../metrics/stage-metrics.js";
import type { Chunk, Puller } from "./chunk.js";
import { MeteredPuller } from "./metered-puller.js";

describe("MeteredPuller", () => {
  afterEach(() => vi.restoreAllMocks());

  // A puller whose pullNow cannot answer, so the caller falls back to pull: the interval
  // before that pull must be charged once, not once per attempt.
  it("charges downstream blocking once when pullNow defers to pull", async () => {
    let clock = 5;
    vi.spyOn(performance, "now").mockImplementation(() => clock);
    const chunk: Chunk = { values: [1], lins: undefined };
    const inner: Puller = {
      pull: async () => chunk,
      pullNow: () => undefined,
      stop: () => {},
      cancel: async () => {},
    };
    const stage = new StageMetrics("s", "map", "0000000000000001", undefined, undefined, 1);
    const metered = new MeteredPuller(inner, [stage], undefined, true, () => {}, "t");
    await metered.pull(1); // the first chunk leaves at clock 5
    clock = 15;
    expect(metered.pullNow(1)).toBeUndefined();
    await metered.pull(1);
    expect(stage.blockedDownstreamMs).toBe(10);
  });

  it("reports a throw from pullNow as the stage's failure", () => {
    const failures: unknown[] = [];
    const inner: Puller = {
      pull: async () => null,
      pullNow: () => {
        throw new Error("source broke");
      },
      stop: () => {},
      cancel: async () => {},
    };
    const metered = new MeteredPuller(inner, [], undefined, false, (e) => failures.push(e), "t");
    expect(() => metered.pullNow(1)).toThrow("source broke");
    expect(failures).toHaveLength(1);
    expect(failures[0]).toMatchObject({ key: "source" });
  });
});
