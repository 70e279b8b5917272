import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline } from "../index.js";

describe("per-item signals", () => {
  for (const concurrency of [1, 4]) {
    it(`each call has its own signal, released when it settles (concurrency ${concurrency})`, async () => {
      const signals: AbortSignal[] = [];
      const p = StreamingPipeline.start<number>().map(
        "m",
        async (n: number, ctx: ItemContext) => {
          signals.push(ctx.signal);
          ctx.signal.addEventListener("abort", () => {});
          await Promise.resolve();
          return n;
        },
        { concurrency },
      );
      const run = p.executeFrom([1, 2, 3, 4, 5, 6]);
      const out: number[] = [];
      for await (const v of run) {
        out.push(v);
        if (out.length === 3) break;
      }
      expect(new Set(signals).size).toBe(signals.length);
      // Calls that had settled before the break are not aborted afterwards.
      expect(signals.slice(0, 3).some((s) => s.aborted)).toBe(false);
    });
  }

  it("a call in flight when the run stops sees its signal abort", async () => {
    let seen: AbortSignal | undefined;
    const p = StreamingPipeline.start<number>().map(
      "m",
      (n: number, ctx: ItemContext) =>
        new Promise<number>((resolve) => {
          seen = ctx.signal;
          ctx.signal.addEventListener("abort", () => resolve(n));
        }),
    );
    const controller = new AbortController();
    const run = p.executeFrom([1], { signal: controller.signal });
    const pending = run.next().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    controller.abort();
    await pending;
    expect(seen?.aborted).toBe(true);
  });
});
