import { describe, expect, it } from "vitest";
import { compose, createStep, Pipeline, StreamingPipeline } from "../index.js";

const ctx = <T>(input: T) => ({
  input,
  state: {},
  context: undefined,
  signal: new AbortController().signal,
  traceId: "1".padStart(32, "0"),
  spanId: "1".padStart(16, "0"),
});

describe("compose", () => {
  const trim = createStep<string, string>("trim", ({ input }) => input.trim());
  const parse = createStep<string, number>("parse", ({ input }) => Number(input));
  const double = createStep<number, number>("double", ({ input }) => input * 2);

  it("runs steps left to right, each on the previous output", async () => {
    const step = compose(trim, parse, double);
    expect(step.name).toBe("trim | parse | double");
    const r = await step.execute(ctx(" 21 "));
    expect(r).toMatchObject({ success: true, data: 42 });
    expect(r.metadata.name).toBe("trim | parse | double");
  });

  it("works in both builders as one step", async () => {
    const step = compose(trim, parse, double);
    const out: number[] = [];
    for await (const n of StreamingPipeline.start<string>()
      .map("n", step)
      .executeFrom([" 1", "2 "])) {
      out.push(n);
    }
    expect(out).toEqual([2, 4]);
    const r = await Pipeline.start<string>().add("n", step).execute(" 5 ");
    expect(r.success && r.data).toBe(10);
  });

  it("stops at the first failure, with that step's error, running no later step", async () => {
    let laterRan = false;
    const fail = createStep<number, number>("fail", () => {
      throw Object.assign(new Error("nope"), { code: "E_NOPE" });
    });
    const later = createStep<number, number>("later", ({ input }) => {
      laterRan = true;
      return input;
    });
    const r = await compose(parse, fail, later).execute(ctx("1"));
    expect(r.success).toBe(false);
    if (!r.success) {
      expect(r.error.code).toBe("E_NOPE");
      expect(r.error.stepName).toBe("fail");
    }
    expect(laterRan).toBe(false);
  });

  it("retries a step under its own policy without redoing the steps before it", async () => {
    let parses = 0;
    let flaky = 0;
    const counted = createStep<string, number>("parse", ({ input }) => {
      parses++;
      return Number(input);
    });
    const retried = createStep<number, number>(
      "flaky",
      ({ input }) => {
        if (++flaky < 3) throw Object.assign(new Error("busy"), { code: "ECONNRESET" });
        return input + 1;
      },
      { retry: { maxAttempts: 3, backoffMs: 1 } },
    );
    const step = compose(counted, retried);
    expect(step.retry).toBeUndefined();
    expect(await step.execute(ctx("1"))).toMatchObject({ success: true, data: 2 });
    expect(parses).toBe(1);
    expect(flaky).toBe(3);
  });

  it("rejects calls without steps", () => {
    expect(() => (compose as (...s: unknown[]) => unknown)()).toThrow(/at least one step/);
    expect(() => (compose as (...s: unknown[]) => unknown)(trim, 5)).toThrow(/argument 1/);
  });
});
