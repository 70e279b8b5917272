import { describe, expect, it } from "vitest";
import { StreamingError } from "../errors/step-error.js";
import { StreamingPipeline } from "../index.js";

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** Reads a run to its end or its error, keeping every output it delivered. */
async function drain<T>(run: AsyncIterable<T>): Promise<{ outputs: T[]; error: unknown }> {
  const outputs: T[] = [];
  try {
    for await (const out of run) outputs.push(out);
  } catch (error) {
    return { outputs, error };
  }
  return { outputs, error: undefined };
}

// Items travel in chunks of up to 512: before this was pinned, the outputs of the items
// before a FAIL_FAST failure in the same chunk were dropped with it.
describe("FAIL_FAST in a sequential stage", () => {
  const failAt5 = (n: number) => {
    if (n === 5) throw new Error("boom at 5");
    return n * 10;
  };

  const cases = {
    "a fused group (one-parameter functions)": () =>
      StreamingPipeline.start<number>()
        .map("fail", failAt5)
        .map("next", (n) => n + 1),
    "a stage whose function takes ctx": () =>
      StreamingPipeline.start<number>()
        .map("fail", (n, _ctx) => failAt5(n))
        .map("next", (n, _ctx) => n + 1),
    "an async function": () =>
      StreamingPipeline.start<number>()
        .map("fail", async (n: number) => failAt5(n))
        .map("next", (n) => n + 1),
    "a retried stage": () =>
      StreamingPipeline.start<number>()
        .map("fail", failAt5, { retry: { maxAttempts: 2, backoffMs: 0 } })
        .map("next", (n) => n + 1),
  };

  for (const [name, build] of Object.entries(cases)) {
    it(`${name}: delivers the items before the failing one, then throws`, async () => {
      const run = build().executeFrom(range(100));
      const { outputs, error } = await drain(run);
      expect(outputs).toEqual([1, 11, 21, 31, 41]);
      expect(error).toBeInstanceOf(StreamingError);
      expect(error).toMatchObject({ key: "fail", itemIndex: 5 });
      expect(run.metadata().status).toBe("failed");
    });
  }

  it("throws at once when the first item of a chunk fails", async () => {
    const { outputs, error } = await drain(
      StreamingPipeline.start<number>().map("fail", failAt5).executeFrom([5, 6, 7]),
    );
    expect(outputs).toEqual([]);
    expect(error).toMatchObject({ key: "fail", itemIndex: 0 });
  });

  it("a failing later stage still stops the run before later items reach the consumer", async () => {
    const seen: number[] = [];
    const { outputs, error } = await drain(
      StreamingPipeline.start<number>()
        .map("fail", failAt5)
        .tap("seen", (n) => {
          seen.push(n);
        })
        .executeFrom(range(100)),
    );
    expect(outputs).toEqual([0, 10, 20, 30, 40]);
    expect(seen).toEqual(outputs);
    expect(error).toMatchObject({ key: "fail" });
  });
});
