import { performance } from "node:perf_hooks";
import { createStep, Pipeline, type Step } from "sluice";
import type { EmbedConfig, EmbedConfigInput } from "../config.ts";
import { openRun } from "./open-run.ts";
import { type PreparePool, prepareConcurrency } from "./prepare-pool.ts";
import { type ProgressSnapshot, StageCounter } from "./progress.ts";
import type { EmbedSession, EmbedSummary, EmbedWorkflowOptions } from "./session.ts";
import { NoFilesError } from "./started-discovery.ts";
import { embedLimits, workflowSteps } from "./steps.ts";

/** The embed stage's limits in the batch builder's terms. */
function limitsOf(config: EmbedConfig) {
  const { concurrency, rateLimit } = embedLimits(config);
  return { concurrencyLimit: concurrency, ...(rateLimit === undefined ? {} : { rateLimit }) };
}

const KEYS = ["discover", "prepare", "batch", "embed", "store"];

/**
 * The batch pipeline: each stage runs over the whole array before the next starts. `counters`
 * gets live per-stage figures (a batch `Pipeline` reports its metadata only at the end). With a
 * `pool`, files are prepared (read, frontmatter, clean, split) in its worker threads.
 */
export function embedBatchPipeline(
  config: EmbedConfig,
  session: EmbedSession,
  counters: ReadonlyMap<string, StageCounter> = new Map(),
  pool?: PreparePool,
) {
  const steps = workflowSteps(config, pool ? { pool } : {});
  const c = <I, O>(key: string, step: Step<I, O, {}, EmbedSession>) =>
    counted(step, counters.get(key));
  return Pipeline.start<void, EmbedSession>(() => session)
    .add("discover", c("discover", steps.discover))
    .flatMap("prepare", c("prepare", steps.prepare), {
      parallel: true,
      concurrencyLimit: prepareConcurrency(config, pool),
      errorStrategy: "SKIP_FAILED",
    })
    .add("batch", c("batch", steps.batch))
    .map("embed", c("embed", steps.embed), {
      parallel: true,
      ...limitsOf(config),
      errorStrategy: "SKIP_FAILED",
    })
    .map("store", c("store", steps.store), { errorStrategy: "SKIP_FAILED" });
}

/**
 * Embeds a folder of markdown with the batch `Pipeline`: discover every file, read them all,
 * clean them all, split, batch by count and token budget, embed every batch, then store. Same
 * steps, incremental behaviour, error report and summary as {@link embedDocumentsStreaming};
 * the first chunk is stored only once everything is embedded, and memory grows with the corpus.
 */
export async function embedDocuments(
  config: EmbedConfigInput | EmbedConfig,
  options: EmbedWorkflowOptions = {},
): Promise<EmbedSummary> {
  const run = await openRun(config, options);
  const { session, pool } = run;
  try {
    const cfg = session.config;
    const concurrency: Record<string, number> = {
      prepare: prepareConcurrency(cfg, pool),
      embed: cfg.embedder.concurrency,
    };
    const counters = new Map(KEYS.map((k) => [k, new StageCounter(k, concurrency[k])]));
    options.onStart?.(() => snapshotOf(session, counters));
    const result = await embedBatchPipeline(cfg, session, counters, pool).execute(undefined, {
      signal: session.runSignal,
    });
    if (session.fatal) throw session.fatal;
    // An abort the pipeline absorbed (items failed under SKIP_FAILED) is still the run's end.
    options.signal?.throwIfAborted();
    for (const error of result.metadata.errors ?? []) session.recordEngineError(error, error.key);
    if (!result.success) {
      // A run that found no file is the caller's mistake, not a step failure: its own error,
      // however many step wrappers it came through.
      let cause: unknown = result.error;
      while (cause instanceof Error && !(cause instanceof NoFilesError)) cause = cause.cause;
      throw cause instanceof NoFilesError ? cause : result.error;
    }
    return session.summary("batch");
  } finally {
    await run.close();
  }
}

function counted<I, O>(
  step: Step<I, O, {}, EmbedSession>,
  counter: StageCounter | undefined,
): Step<I, O, {}, EmbedSession> {
  if (counter === undefined) return step;
  return createStep<I, O, {}, EmbedSession>(
    step.name,
    async (ctx) => {
      counter.in++;
      counter.inFlight++;
      try {
        const result = await step.execute(ctx);
        if (!result.success) throw result.error;
        counter.out++;
        return result.data;
      } catch (error) {
        // A call cut off by the run's own stop (Ctrl-C, a fatal error) did not fail: the
        // pool's signal can reject it before the pipeline has heard of the abort.
        if (!ctx.context.runSignal.aborted) counter.failed++;
        throw error;
      } finally {
        counter.inFlight--;
      }
    },
    step.retry ? { retry: step.retry } : {},
  );
}

function snapshotOf(
  session: EmbedSession,
  counters: ReadonlyMap<string, StageCounter>,
): ProgressSnapshot {
  const stages = [...counters.values()].map((c) => c.snapshot());
  return {
    mode: "batch",
    elapsedMs: performance.now() - session.startedAt,
    files: { total: session.filesTotal, done: session.filesDone },
    embedded: session.embedded,
    errors: stages.reduce((n, s) => n + s.failed, 0),
    stages,
  };
}
