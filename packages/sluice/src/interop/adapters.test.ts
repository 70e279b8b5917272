import { describe, expect, it } from "vitest";
import {
  createStep,
  createStreamingStep,
  Pipeline,
  pipelineToStep,
  pipelineToStreaming,
  StreamingPipeline,
  type StreamingStepContext,
  stepToStreamingStep,
  streamingStepToStep,
  streamingToPipeline,
} from "../index.js";

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of it) out.push(v);
  return out;
}

const transient = () => Object.assign(new Error("reset"), { code: "ECONNRESET" });

describe("stepToStreamingStep", () => {
  it("runs a batch step per item, honouring its retry", async () => {
    const calls = new Map<number, number>();
    const flaky = createStep<number, number>(
      "flaky",
      ({ input }) => {
        const n = (calls.get(input) ?? 0) + 1;
        calls.set(input, n);
        if (input % 2 === 0 && n < 3) throw transient();
        return input * 10;
      },
      { retry: { maxAttempts: 3, backoffMs: 0 } },
    );
    const p = StreamingPipeline.start<number>().add(
      "x",
      stepToStreamingStep(flaky, { concurrency: 3 }),
    );
    expect(await collect(p.executeFrom([1, 2, 3, 4]))).toEqual([10, 20, 30, 40]);
    expect([...calls.values()]).toEqual([1, 3, 1, 3]);
  });

  it("keeps the step error's code, retryable flag and cause", async () => {
    const cause = Object.assign(new Error("quota"), { status: 429 });
    const failing = createStep<number, number>("quota", () => {
      throw cause;
    });
    const run = StreamingPipeline.start<number>()
      .add("x", stepToStreamingStep(failing))
      .executeFrom([1]);
    const error = await collect(run).then(
      () => undefined,
      (e: unknown) => e as { code: string; retryable: boolean; cause: unknown },
    );
    expect(error?.retryable).toBe(true);
    let root: unknown = error;
    while (root instanceof Error && root.cause !== undefined) root = root.cause;
    expect(root).toBe(cause);
  });
});

describe("streamingStepToStep", () => {
  it("runs a streaming step over an array inside a batch pipeline", async () => {
    const evens = createStreamingStep(
      "evens",
      async function* ({ input }: StreamingStepContext<number>) {
        for await (const n of input) if (n % 2 === 0) yield n;
      },
    );
    const p = Pipeline.start<number[]>()
      .add("evens", streamingStepToStep(evens))
      .add(
        "sum",
        createStep("sum", ({ input }) => input.reduce((a, b) => a + b, 0)),
      );
    const r = await p.execute([1, 2, 3, 4, 6]);
    expect(r.success && r.data).toBe(12);
  });
});

describe("whole pipelines", () => {
  const perItem = Pipeline.start<string>()
    .add(
      "trim",
      createStep("trim", ({ input }) => input.trim()),
    )
    .add(
      "len",
      createStep("len", ({ input, state }) => input.length + state.trim.length * 0),
    );

  it("a batch pipeline runs inside a streaming one, per item, on the run's trace", async () => {
    const traces: string[] = [];
    const traced = Pipeline.start<number>().add(
      "t",
      createStep("t", ({ input, traceId }) => {
        traces.push(traceId);
        return input;
      }),
    );
    const p = StreamingPipeline.start<string>()
      .add("lengths", pipelineToStreaming(perItem))
      .map("traced", pipelineToStep(traced), { concurrency: 2 });
    const run = p.executeFrom([" a ", "bcd", "  ef"]);
    expect(await collect(run)).toEqual([1, 3, 2]);
    expect(new Set(traces)).toEqual(new Set([run.traceId]));
  });

  it("a streaming pipeline runs inside a batch one and its failure keeps its code", async () => {
    const words = StreamingPipeline.start<string>().flatMap("words", (line) => line.split(" "));
    const ok = await Pipeline.start<string[]>()
      .add("words", streamingToPipeline(words))
      .execute(["a b", "c"]);
    expect(ok.success && ok.data).toEqual(["a", "b", "c"]);
    expect(ok.metadata.stages?.[0]?.key).toBe("words");

    const failing = StreamingPipeline.start<string>().map("boom", (s) => {
      if (s === "x") throw Object.assign(new Error("bad x"), { code: "E_BAD" });
      return s;
    });
    const bad = await Pipeline.start<string[]>()
      .add("run", streamingToPipeline(failing))
      .execute(["a", "x"]);
    expect(bad.success).toBe(false);
    // The outer stage failed; the inner run's error, with its own key and index, is the cause.
    if (!bad.success) {
      expect(bad.error).toMatchObject({ code: "E_BAD", key: "run" });
      expect(bad.error.cause).toMatchObject({ code: "E_BAD", key: "boom", itemIndex: 1 });
    }
  });

  it("streaming inside batch inside streaming, end to end", async () => {
    const inner = StreamingPipeline.start<number>().map("sq", (n) => n * n);
    const middle = Pipeline.start<number[]>().add("squares", streamingToPipeline(inner));
    const outer = StreamingPipeline.start<number[]>().map("squares", pipelineToStep(middle));
    expect(await collect(outer.executeFrom([[1, 2], [3]]))).toEqual([[1, 4], [9]]);
  });

  it("cancelling the outer run aborts the inner pipeline's in-flight work", async () => {
    let aborted = 0;
    const slow = Pipeline.start<number>().add(
      "wait",
      createStep("wait", ({ input, signal }) => {
        return new Promise<number>((resolve) => {
          const t = setTimeout(() => resolve(input), 5_000);
          signal.addEventListener("abort", () => {
            clearTimeout(t);
            aborted++;
            resolve(input);
          });
        });
      }),
    );
    const controller = new AbortController();
    const run = StreamingPipeline.start<number>()
      .map("slow", pipelineToStep(slow), { concurrency: 3 })
      .executeFrom([1, 2, 3], { signal: controller.signal });
    const pending = collect(run);
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(aborted).toBe(3);
  });
});
