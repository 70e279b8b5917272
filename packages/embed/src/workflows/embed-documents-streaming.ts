import { performance } from "node:perf_hooks";
import { type RunMetadata, StreamingPipeline } from "sluice";
import type { EmbedConfig, EmbedConfigInput } from "../config.ts";
import type { DiscoveredFile } from "../steps/discover.ts";
import { drainRun } from "./drain-run.ts";
import { openRun } from "./open-run.ts";
import { type PreparePool, prepareConcurrency } from "./prepare-pool.ts";
import { type ProgressSnapshot, stagesProgress } from "./progress.ts";
import type { EmbedSession, EmbedSummary, EmbedWorkflowOptions } from "./session.ts";
import {
  batchOptions,
  discoverIncrementally,
  embedLimits,
  prepare,
  workflowSteps,
} from "./steps.ts";

/**
 * The streaming pipeline over discovered files: every file flows through as soon as it can.
 * With a `pool`, files are prepared (read, frontmatter, clean, split) in its worker threads.
 */
export function embedPipeline(config: EmbedConfig, session: EmbedSession, pool?: PreparePool) {
  const steps = workflowSteps(config);
  return (
    StreamingPipeline.start<DiscoveredFile, EmbedSession>(() => session, {
      errorStrategy: "SPLIT_ERRORS",
    })
      // Files are independent and every chunk's id is its own: order buys nothing here, and in
      // order one file that takes its whole deadline (or a slow read) would hold back every file
      // behind it. The stores come out the same either way. Twice as many files as workers are
      // in flight, so that a worker finds its next file waiting when it finishes one.
      .flatMap("prepare", (file, ctx) => prepare(file, session, pool, ctx.signal), {
        concurrency: prepareConcurrency(config, pool),
        ordered: false,
      })
      .batch("batch", batchOptions(config))
      // As many finished batches as requests may wait for the store: requests in flight stay at
      // the embedder's concurrency while the store writes what came back.
      .map("embed", steps.embed, {
        ...embedLimits(config),
        ordered: false,
        buffer: config.embedder.concurrency,
      })
      .map("store", steps.store)
  );
}

/**
 * Embeds a folder of markdown with a `StreamingPipeline`: files are read, cleaned and split
 * concurrently in worker threads, chunks are batched by count and token budget (or a wait cap), embedded with
 * retries and stored as they come; memory stays bounded by the stages' concurrency. A file or
 * batch that fails goes to the run's SPLIT_ERRORS side stream and into the summary's error
 * report; the rest of the run carries on.
 */
export async function embedDocumentsStreaming(
  config: EmbedConfigInput | EmbedConfig,
  options: EmbedWorkflowOptions = {},
): Promise<EmbedSummary> {
  const run = await openRun(config, options);
  const { session, pool } = run;
  try {
    // Files flow into the pipeline as discovery makes them certain, in discovery's sorted order.
    const files = await discoverIncrementally(session);
    const run = embedPipeline(session.config, session, pool).executeFrom(files, {
      signal: session.runSignal,
    });
    options.onStart?.(() => snapshotOf(session, run.metadata()));
    await drainRun(run, session, (error, key) => session.recordEngineError(error, key));
    // An abort that ended the run as item errors is still the run's end, not a success.
    options.signal?.throwIfAborted();
    return session.summary("streaming");
  } finally {
    await run.close();
  }
}

function snapshotOf(session: EmbedSession, metadata: RunMetadata): ProgressSnapshot {
  return {
    mode: "streaming",
    elapsedMs: performance.now() - session.startedAt,
    files: { total: session.filesTotal, done: session.filesDone },
    embedded: session.embedded,
    errors: metadata.errors.length,
    stages: stagesProgress(metadata.stages),
  };
}
