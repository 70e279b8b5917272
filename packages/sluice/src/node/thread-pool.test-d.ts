import { describe, expectTypeOf, it } from "vitest";
import { Pipeline, StreamingPipeline } from "../index.js";
import { createStep } from "../steps/create-step.js";
import type * as Tasks from "./fixtures/tasks.mjs";
import { type ThreadPool, threadPool } from "./thread-pool.js";

const TASKS = new URL("./fixtures/tasks.mjs", import.meta.url);

describe("threadPool types", () => {
  it("takes its input and output types from the task function", () => {
    const double = threadPool<typeof Tasks.double>(TASKS, "double");
    expectTypeOf(double).toEqualTypeOf<ThreadPool<number, number>>();
    expectTypeOf(double.run(1)).toEqualTypeOf<Promise<number>>();
    // @ts-expect-error: a string is not the task's input
    double.run("1");

    // An async task's output is what its promise resolves to.
    const delayed = threadPool<typeof Tasks.delayed>(TASKS, "delayed");
    expectTypeOf(delayed.run).parameter(0).toEqualTypeOf<{ value: number; ms: number }>();
    expectTypeOf(delayed.run({ value: 1, ms: 0 })).toEqualTypeOf<Promise<number>>();

    // Without a type argument, anything goes in and `unknown` comes out.
    expectTypeOf(threadPool(TASKS, "echo").run).toEqualTypeOf<
      (input: unknown, options?: import("./thread-pool.js").ThreadRunOptions) => Promise<unknown>
    >();
  });

  it("fits a stage as an item function, with no cast", () => {
    const double = threadPool<typeof Tasks.double>(TASKS, "double");
    const streaming = StreamingPipeline.start<number>()
      .map("doubled", double.task, { concurrency: double.threads })
      .map("label", (n, ctx) => `${n} ${ctx.state.doubled}`);
    expectTypeOf(streaming.executeFrom([1])).toMatchTypeOf<AsyncIterable<string>>();
    // @ts-expect-error: the stage's items are strings, the task takes numbers
    StreamingPipeline.start<string>().map("doubled", double.task);

    const batch = Pipeline.start<number[]>().map(
      "doubled",
      createStep("double", ({ input, signal }) => double.run(input, { signal })),
      { parallel: true },
    );
    expectTypeOf(batch.execute([1])).resolves.toMatchTypeOf<
      { success: true; data: number[] } | { success: false }
    >();
  });

  it("rejects a task type of the wrong shape", () => {
    // @ts-expect-error: not a function
    threadPool<number>(TASKS, "notAFunction");
  });
});
