/**
 * docs/errors-and-retry.md, "Failures outside per-item stages are fatal": one test per case
 * the page lists. Each ends the run whatever the error strategy (every pipeline here defaults
 * to SKIP_FAILED) and comes out as a `StreamingError` naming where it happened, with what the
 * user's code raised kept, untouched, as its `cause`. If one of these changes, change the page.
 */
import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../builders/streaming-pipeline.js";
import type { StreamingRun } from "../engine/streaming-run.js";
import { createStreamingStep, type StreamingStepContext } from "../steps/streaming-step.js";
import { StreamingError } from "./step-error.js";

/** Reads a run to its end or its error, keeping every output it delivered. */
async function drain<T>(run: StreamingRun<T>): Promise<{ outputs: T[]; error: unknown }> {
  const outputs: T[] = [];
  try {
    for await (const out of run) outputs.push(out);
  } catch (error) {
    return { outputs, error };
  }
  return { outputs, error: undefined };
}

const lenient = <T>() => StreamingPipeline.start<T>(undefined, { errorStrategy: "SKIP_FAILED" });

/** What every fatal failure shares: a StreamingError that keeps the raised value as its cause. */
function expectWrapped(
  error: unknown,
  raised: unknown,
  expected: { code: string; key: string | undefined; message: string },
): asserts error is StreamingError {
  expect(error).toBeInstanceOf(StreamingError);
  const e = error as StreamingError;
  expect(e.name).toBe("StreamingError");
  expect(e.cause).toBe(raised);
  expect(e.code).toBe(expected.code);
  expect(e.key).toBe(expected.key);
  expect(e.message).toBe(expected.message);
  expect(e.traceId).toMatch(/^[0-9a-f]{32}$/);
}

describe("failures outside per-item stages end the run as a StreamingError", () => {
  it("the source throwing: key 'source', the cause's own code kept", async () => {
    const raised = Object.assign(new Error("disk gone"), { code: "EIO" });
    async function* source() {
      yield 1;
      yield 2;
      throw raised;
    }
    const run = lenient<number>()
      .map("double", (n) => n * 2)
      .executeFrom(source());
    const { outputs, error } = await drain(run);
    expect(outputs).toEqual([2, 4]);
    expectWrapped(error, raised, {
      code: "EIO",
      key: "source",
      message: 'disk gone in stage "source"',
    });
    expect(run.metadata().status).toBe("failed");
  });

  it("a streaming step (add) throwing", async () => {
    const raised = new Error("step broke");
    const step = createStreamingStep(
      "breaks",
      async function* ({ input }: StreamingStepContext<number>) {
        for await (const n of input) {
          if (n === 2) throw raised;
          yield n;
        }
      },
    );
    const run = lenient<number>().add("dedupe", step).executeFrom([1, 2, 3]);
    const { outputs, error } = await drain(run);
    expect(outputs).toEqual([1]);
    expectWrapped(error, raised, {
      code: "STEP_FAILED",
      key: "dedupe",
      message: 'step broke in stage "dedupe"',
    });
    expect(run.metadata().status).toBe("failed");
    expect(run.metadata().stages.find((s) => s.key === "dedupe")?.status).toBe("failed");
  });

  it("a takeWhile predicate throwing", async () => {
    const raised = new Error("predicate broke");
    const run = lenient<number>()
      .takeWhile("small", (n) => {
        if (n === 2) throw raised;
        return n < 10;
      })
      .executeFrom([1, 2, 3]);
    const { outputs, error } = await drain(run);
    expect(outputs).toEqual([1]);
    expectWrapped(error, raised, {
      code: "STEP_FAILED",
      key: "small",
      message: 'predicate broke in stage "small"',
    });
    expect(run.metadata().status).toBe("failed");
  });

  it("a skipWhile predicate throwing (async predicate)", async () => {
    const raised = new Error("predicate broke");
    const run = lenient<number>()
      .skipWhile("header", async (n) => {
        if (n === 2) throw raised;
        return n < 2;
      })
      .executeFrom([1, 2, 3]);
    const { outputs, error } = await drain(run);
    expect(outputs).toEqual([]);
    expectWrapped(error, raised, {
      code: "STEP_FAILED",
      key: "header",
      message: 'predicate broke in stage "header"',
    });
    expect(run.metadata().status).toBe("failed");
  });

  it("a batch weigh function throwing", async () => {
    const raised = new Error("cannot weigh");
    const run = lenient<number>()
      .batch("group", {
        maxWeight: 10,
        weigh: (n) => {
          if (n === 3) throw raised;
          return n;
        },
      })
      .executeFrom([1, 2, 3, 4]);
    const { outputs, error } = await drain(run);
    // The open group [1, 2] was never completed: it goes down with the run.
    expect(outputs).toEqual([]);
    expectWrapped(error, raised, {
      code: "STEP_FAILED",
      key: "group",
      message: 'cannot weigh in stage "group"',
    });
  });

  it("a batch weigh returning a weight that is not a finite number ≥ 0: a RangeError cause", async () => {
    const run = lenient<number>()
      .batch("group", { maxWeight: 10, weigh: () => Number.NaN })
      .executeFrom([1]);
    const { error } = await drain(run);
    expect(error).toBeInstanceOf(StreamingError);
    const e = error as StreamingError;
    expect(e.cause).toBeInstanceOf(RangeError);
    expect((e.cause as RangeError).message).toBe(
      'Stage "group": weigh must return a finite number ≥ 0, got NaN',
    );
    expect(e).toMatchObject({ code: "STEP_FAILED", key: "group" });
  });

  const raisedByContext = new Error("no database");
  const contextBuilders = {
    sync: (): { db: string } => {
      throw raisedByContext;
    },
    async: async (): Promise<{ db: string }> => {
      await Promise.resolve();
      throw raisedByContext;
    },
  };
  for (const [name, build] of Object.entries(contextBuilders)) {
    it(`the context builder throwing (${name}): code CONTEXT_FAILED, like the batch Pipeline`, async () => {
      let called = 0;
      const run = StreamingPipeline.start<number, { db: string }>(build, {
        errorStrategy: "SKIP_FAILED",
      })
        .map("use", (n, ctx) => {
          called++;
          return `${ctx.context.db}:${n}`;
        })
        .executeFrom([1, 2]);
      const { outputs, error } = await drain(run);
      expect(outputs).toEqual([]);
      expect(called).toBe(0);
      expectWrapped(error, raisedByContext, {
        code: "CONTEXT_FAILED",
        key: undefined,
        message: "The context builder failed: no database",
      });
      expect(run.metadata().status).toBe("failed");
      // The run is over: pulling again ends it without a second error.
      expect(await run.next()).toEqual({ value: undefined, done: true });
    });
  }

  it("a checkpoint over maxItems: code CHECKPOINT_LIMIT", async () => {
    const run = lenient<number>().checkpoint("all", { maxItems: 2 }).executeFrom([1, 2, 3]);
    const { error } = await drain(run);
    expect(error).toBeInstanceOf(StreamingError);
    expect(error).toMatchObject({ code: "CHECKPOINT_LIMIT", key: "all" });
    expect(run.metadata().status).toBe("failed");
  });

  it("a thrown non-Error is the cause as it was, with code NON_ERROR_THROWN", async () => {
    const raised = { reason: "not an Error" };
    const run = lenient<number>()
      .takeWhile("small", () => {
        throw raised;
      })
      .executeFrom([1]);
    const { error } = await drain(run);
    expectWrapped(error, raised, {
      code: "NON_ERROR_THROWN",
      key: "small",
      message: 'Non-error value thrown: {"reason":"not an Error"} in stage "small"',
    });
  });

  it("cancellation is not a failure: an aborted signal's reason is thrown unchanged", async () => {
    const controller = new AbortController();
    const reason = new Error("shutting down");
    const run = lenient<number>()
      .map("m", (n) => n)
      .executeFrom([1, 2, 3], { signal: controller.signal });
    expect(await run.next()).toEqual({ value: 1, done: false });
    controller.abort(reason);
    await expect(run.next()).rejects.toBe(reason);
    expect(run.metadata().status).toBe("cancelled");
  });
});
