import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";

/**
 * A sync function that stops the run from inside its call (by aborting the run's signal) is
 * the last call any stage makes: the sync loops read the chunk's length per item and a stop
 * empties the chunk in hand.
 */
describe("a stop raised inside a sync call", () => {
  const shapes = {
    "plain sequential": (calls: number[], abort: () => void) =>
      StreamingPipeline.start<number[]>()
        .flatMap("all", (xs: number[]) => xs)
        .map("m", (n: number) => {
          calls.push(n);
          if (n === 5) abort();
          return n;
        }),
    fused: (calls: number[], abort: () => void) =>
      StreamingPipeline.start<number[]>()
        .flatMap("all", (xs: number[]) => xs)
        .map("a", (n: number) => n)
        .map("b", (n: number) => {
          calls.push(n);
          if (n === 5) abort();
          return n;
        }),
    "with context": (calls: number[], abort: () => void) =>
      StreamingPipeline.start<number[]>()
        .flatMap("all", (xs: number[]) => xs)
        .map("m", (n: number, ctx) => {
          calls.push(n + ctx.index * 0);
          if (n === 5) abort();
          return n;
        }),
    "awaited after the abort": (calls: number[], abort: () => void) =>
      StreamingPipeline.start<number[]>()
        .flatMap("all", (xs: number[]) => xs)
        .map("m", (n: number) => {
          calls.push(n);
          if (n === 5) {
            abort();
            return new Promise<number>((resolve) => setTimeout(() => resolve(n), 30));
          }
          return n;
        }),
  };

  for (const [name, build] of Object.entries(shapes)) {
    it(`${name}: no call after it, and the run rejects with the reason`, async () => {
      const controller = new AbortController();
      const calls: number[] = [];
      const pipeline = build(calls, () => controller.abort(new Error("enough")));
      // One input the flatMap expands to a chunk of ten: the stage under test gets them at once.
      const items = [Array.from({ length: 10 }, (_, i) => i)];
      const run = pipeline.executeFrom(items, { signal: controller.signal });
      const seen: number[] = [];
      await expect(
        (async () => {
          for await (const out of run) seen.push(out as number);
        })(),
      ).rejects.toThrow("enough");
      expect(calls).toEqual([0, 1, 2, 3, 4, 5]);
      expect(run.status).toBe("cancelled");
    });
  }
});
