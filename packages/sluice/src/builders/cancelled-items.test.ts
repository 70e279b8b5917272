// Items whose calls fail because the run was cancelled are cancelled, not failed. A resource
// made before the run (a worker pool, a client) often listens to the same signal and rejects
// its calls in its own abort listener, which runs before the run's; the run is given a signal
// derived with `AbortSignal.any`, as workflows that can also stop themselves do.
import { describe, expect, it } from "vitest";
import { createStep, Pipeline, StreamingPipeline } from "../index.js";

/** A pool made before the run: it rejects every call in flight when `signal` aborts. */
function poolOn(signal: AbortSignal) {
  const waiting = new Set<(error: unknown) => void>();
  signal.addEventListener("abort", () => {
    for (const reject of waiting) reject(signal.reason);
    waiting.clear();
  });
  let started = 0;
  return {
    started: () => started,
    call: (n: number) =>
      new Promise<number>((resolve, reject) => {
        started++;
        if (n < 2) {
          resolve(n);
          return;
        }
        waiting.add(reject);
      }),
  };
}

describe("calls failed by the run's own cancellation", () => {
  for (const strategy of ["SKIP_FAILED", "COLLECT_ERRORS"] as const) {
    it(`are not counted or recorded as failures by a batch Pipeline (${strategy})`, async () => {
      const controller = new AbortController();
      const pool = poolOn(controller.signal);
      const runSignal = AbortSignal.any([controller.signal]);
      const pipeline = Pipeline.start<number[]>().map(
        "work",
        createStep("work", ({ input }: { input: number }) => pool.call(input)),
        {
          parallel: true,
          concurrencyLimit: 4,
          errorStrategy: strategy,
        },
      );
      const pending = pipeline.execute([0, 1, 2, 3, 4, 5], { signal: runSignal });
      while (pool.started() < 4) await new Promise((r) => setTimeout(r, 1));
      controller.abort(new Error("Ctrl-C"));
      const result = await pending;
      expect(result.success).toBe(false);
      expect(result.metadata.status).toBe("cancelled");
      const stage = result.metadata.stages?.find((s) => s.key === "work");
      expect(stage?.counts.failed).toBe(0);
      expect(result.metadata.errors).toEqual([]);
    });
  }

  it("are not counted or recorded as failures by a StreamingPipeline", async () => {
    const controller = new AbortController();
    const pool = poolOn(controller.signal);
    const run = StreamingPipeline.start<number>()
      .map("work", (n: number) => pool.call(n), {
        concurrency: 4,
        errorStrategy: "SKIP_FAILED",
      })
      .executeFrom([0, 1, 2, 3, 4, 5], { signal: AbortSignal.any([controller.signal]) });
    const seen: number[] = [];
    const done = (async () => {
      for await (const n of run) seen.push(n);
    })().catch((e: unknown) => e);
    while (pool.started() < 4) await new Promise((r) => setTimeout(r, 1));
    controller.abort(new Error("Ctrl-C"));
    expect(await done).toBeInstanceOf(Error);
    const meta = run.metadata();
    expect(meta.status).toBe("cancelled");
    expect(meta.stages.find((s) => s.key === "work")?.counts.failed).toBe(0);
    expect(meta.errors).toEqual([]);
  });
});
