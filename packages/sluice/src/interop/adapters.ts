import type { Pipeline } from "../builders/pipeline.js";
import { StreamingPipeline } from "../builders/streaming-pipeline.js";
import { StepError } from "../errors/step-error.js";
import { toError } from "../errors/to-error.js";
import type { StageMetadata } from "../metrics/metadata.js";
import type { ItemStageOptions } from "../operators/item-stage.js";
import { stepTimer } from "../steps/create-step.js";
import type { Step, StepContext, StepResult } from "../steps/step.js";
import {
  createStreamingStep,
  type StreamingStep,
  type StreamingStepContext,
} from "../steps/streaming-step.js";

/**
 * A batch `Step` as a streaming step: it runs per item on the streaming engine, with the
 * step's retry honoured and `options` (concurrency, order, error strategy) applied. Inside
 * a `StreamingPipeline`, `.map(key, step)` does the same with per-item lineage state; use
 * this adapter where a whole-stream stage is wanted (`.add`).
 *
 * @example
 * ```ts
 * const double = createStep<number, number>("double", ({ input }) => input * 2);
 * const p = StreamingPipeline.start<number>().add("doubled", stepToStreamingStep(double, { concurrency: 4 }));
 * ```
 */
export function stepToStreamingStep<TInput, TOutput, TContext = unknown>(
  step: Step<TInput, TOutput, {}, TContext>,
  options?: ItemStageOptions,
): StreamingStep<TInput, TOutput, {}, TContext> {
  return createStreamingStep(
    step.name,
    async function* (ctx: StreamingStepContext<TInput, {}, TContext>) {
      const inner = StreamingPipeline.start<TInput, TContext>(() => ctx.context).map(
        "step",
        step,
        options,
      );
      yield* inner.executeFrom(ctx.input, { signal: ctx.signal, traceId: ctx.traceId });
    },
    step.retry === undefined ? {} : { retry: step.retry },
  );
}

/**
 * A streaming step as a batch `Step` over an array: the step's generator runs over the
 * items and its outputs are collected. Its retry policy, if any, re-runs the whole array.
 *
 * @example
 * ```ts
 * const evens = createStreamingStep("evens", async function* ({ input }: StreamingStepContext<number>) {
 *   for await (const n of input) if (n % 2 === 0) yield n;
 * });
 * const p = Pipeline.start<number[]>().add("evens", streamingStepToStep(evens));
 * ```
 */
export function streamingStepToStep<TInput, TOutput, TContext = unknown>(
  streamingStep: StreamingStep<TInput, TOutput, {}, TContext>,
): Step<readonly TInput[], TOutput[], {}, TContext> {
  const inner = StreamingPipeline.start<TInput, TContext>().add("step", streamingStep);
  return {
    name: streamingStep.name,
    retry: streamingStep.retry,
    execute: (ctx) =>
      collectRun(streamingStep.name, ctx, () =>
        inner.executeFrom(ctx.input, { signal: ctx.signal, traceId: ctx.traceId }),
      ),
  };
}

/**
 * A whole batch pipeline as a streaming step: each incoming item is one execution of the
 * pipeline (joining the run's trace), and its output flows on. A failed execution ends the
 * stream with the pipeline's `StepError` (code, retryable and cause kept); to apply a
 * per-item error strategy instead, use `.map(key, pipelineToStep(pipeline), options)`.
 *
 * @example
 * ```ts
 * const perDocument = Pipeline.start<string>().add("len", createStep("len", ({ input }) => input.length));
 * const p = StreamingPipeline.start<string>().add("lengths", pipelineToStreaming(perDocument));
 * ```
 */
export function pipelineToStreaming<TInput, TOutput, TState, TContext>(
  pipeline: Pipeline<TInput, TOutput, TState, TContext>,
): StreamingStep<TInput, TOutput, {}, unknown> {
  const step = pipelineToStep(pipeline);
  return createStreamingStep(
    "pipeline",
    async function* (ctx: StreamingStepContext<TInput, {}, unknown>) {
      for await (const item of ctx.input) {
        const r = await step.execute({
          input: item,
          state: {},
          context: ctx.context,
          signal: ctx.signal,
          traceId: ctx.traceId,
          spanId: ctx.spanId,
        });
        if (!r.success) throw r.error;
        yield r.data;
      }
    },
  );
}

/**
 * A whole batch pipeline as a `Step`: usable in `StreamingPipeline.map` (per item, with
 * concurrency, retry and error strategies) or inside another batch pipeline.
 *
 * @example
 * ```ts
 * const perDocument = Pipeline.start<string>().add("len", createStep("len", ({ input }) => input.length));
 * const p = StreamingPipeline.start<string>().map("lengths", pipelineToStep(perDocument), { concurrency: 4 });
 * ```
 */
export function pipelineToStep<TInput, TOutput, TState, TContext>(
  pipeline: Pipeline<TInput, TOutput, TState, TContext>,
): Step<TInput, TOutput, unknown, unknown> {
  return {
    name: "pipeline",
    execute: (ctx) => pipeline.execute(ctx.input, { signal: ctx.signal, traceId: ctx.traceId }),
  };
}

/**
 * A whole streaming pipeline as a batch `Step` whose output is the collected array of its
 * outputs. The run joins the caller's trace and signal; a failure becomes a failed
 * result carrying the run's `StreamingError`; the result's metadata lists the run's stages.
 *
 * @example
 * ```ts
 * const words = StreamingPipeline.start<string>().flatMap("words", (line) => line.split(" "));
 * const p = Pipeline.start<string[]>().add("words", streamingToPipeline(words));
 * ```
 */
export function streamingToPipeline<TInput, TOutput, TState, TContext>(
  streamingPipeline: StreamingPipeline<TInput, TOutput, TState, TContext>,
): Step<Iterable<TInput> | AsyncIterable<TInput>, TOutput[], unknown, unknown> {
  return {
    name: "streaming-pipeline",
    execute: (ctx) =>
      collectRun("streaming-pipeline", ctx, () =>
        streamingPipeline.executeFrom(ctx.input, { signal: ctx.signal, traceId: ctx.traceId }),
      ),
  };
}

interface CollectableRun<T> extends AsyncIterable<T> {
  metadata(): { stages: StageMetadata[] };
}

async function collectRun<T>(
  name: string,
  ctx: StepContext<unknown, unknown, unknown>,
  start: () => CollectableRun<T>,
): Promise<StepResult<T[]>> {
  const timer = stepTimer(name, ctx);
  let run: CollectableRun<T> | undefined;
  const metadata = () => ({ ...timer(), stages: run?.metadata().stages ?? [] });
  try {
    run = start();
    const out: T[] = [];
    for await (const item of run) out.push(item);
    return { success: true, data: out, metadata: metadata() };
  } catch (thrown) {
    const error =
      thrown instanceof StepError
        ? thrown
        : new StepError(`${name} failed: ${toError(thrown).message}`, {
            code: "STAGE_FAILED",
            cause: thrown,
            traceId: ctx.traceId,
          });
    return { success: false, error, metadata: metadata() };
  }
}
