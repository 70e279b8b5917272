import { AbortError, StepError, StreamingError } from "../errors/step-error.js";
import type { EventSink } from "../metrics/events.js";
import type { StageMetrics } from "../metrics/stage-metrics.js";
import { RunEnv } from "./run-env.js";
import { sourcePuller } from "./sources.js";
import { buildChain, type StageSpec, stageMetrics } from "./stage-spec.js";

/** How a batch stage run over an array ended. */
export type ListOutcome =
  | { ok: true; values: unknown[]; metrics: StageMetrics; recorded: readonly StepError[] }
  | { ok: false; error: StepError; metrics: StageMetrics; recorded: readonly StepError[] };

/** What a batch run shares with each of its stages. */
export interface ListRunContext {
  traceId: string;
  context: unknown;
  state: object;
  signal: AbortSignal | undefined;
  events: EventSink;
}

/**
 * Runs one stage of the streaming engine over an array and materializes the result: how
 * the batch `Pipeline` executes its list operations, so both builders share one
 * implementation of parallelism, retry, error strategies and metrics.
 */
export async function runListStage(
  spec: StageSpec,
  items: readonly unknown[],
  run: ListRunContext,
): Promise<ListOutcome> {
  const env = new RunEnv(run.traceId, run.events);
  env.context = run.context;
  const [metrics] = stageMetrics([spec]) as [StageMetrics];
  metrics.events = run.events;
  const tail = buildChain([spec], sourcePuller(items), env, [metrics], run.state);
  const fail = (error: StepError): ListOutcome => ({
    ok: false,
    error,
    metrics,
    recorded: env.recorded,
  });
  const signal = run.signal;
  const onAbort = () => {
    tail.cancel().catch(() => {});
  };
  if (signal?.aborted) return fail(abortError(signal, spec.key, run.traceId));
  signal?.addEventListener("abort", onAbort, { once: true });
  const values: unknown[] = [];
  try {
    for (;;) {
      const chunk = await tail.pull(512);
      if (chunk === null) break;
      for (const v of chunk.values) values.push(v);
    }
  } catch (error) {
    await tail.cancel().catch(() => {});
    return fail(asStepError(error, spec.key, run.traceId));
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  if (signal?.aborted) return fail(abortError(signal, spec.key, run.traceId));
  if (env.collected.length > 0) {
    const records = env.collected;
    return fail(
      new StepError(`${records.length} of ${items.length} item(s) failed in stage "${spec.key}"`, {
        code: "COLLECTED_ERRORS",
        key: spec.key,
        traceId: run.traceId,
        spanId: metrics.spanId,
        errors: records.map((r) => ({ index: r.index, item: r.item, error: r.error })),
        results: values,
        cause: records[0]?.error,
      }),
    );
  }
  return { ok: true, values, metrics, recorded: env.recorded };
}

function asStepError(error: unknown, key: string, traceId: string): StepError {
  if (error instanceof StepError) return error;
  const cause = error instanceof Error ? error : new Error(String(error));
  return new StreamingError(`Stage "${key}" failed: ${cause.message}`, {
    code: "STAGE_FAILED",
    key,
    traceId,
    cause: error,
  });
}

function abortError(signal: AbortSignal, key: string, traceId: string): StepError {
  const reason: unknown = signal.reason ?? new AbortError();
  return new StepError(`Aborted during stage "${key}"`, {
    code: "ABORTED",
    key,
    traceId,
    cause: reason,
  });
}
