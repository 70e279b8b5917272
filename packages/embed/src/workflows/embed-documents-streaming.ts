import { performance } from "node:perf_hooks";
import { type RunMetadata, StreamingPipeline } from "sluice";
import type { EmbedConfig, EmbedConfigInput } from "../config.ts";
import type { DiscoveredFile } from "../steps/discover.ts";
import { inCpuTurn } from "./cpu-turn.ts";
import { type ParsePool, parsePoolFor } from "./parse-pool.ts";
import type { ProgressSnapshot } from "./progress.ts";
import { EmbedSession, type EmbedSummary, type EmbedWorkflowOptions } from "./session.ts";
import { batchOptions, discoverIncrementally, isChanged, splitOf, workflowSteps } from "./steps.ts";

/**
 * The streaming pipeline over discovered files: every file flows through as soon as it can. With
 * a `parsePool`, markdown is parsed in its worker threads (see `cleanOf`).
 */
export function embedPipeline(config: EmbedConfig, session: EmbedSession, parsePool?: ParsePool) {
  // CPU-heavy steps take turns with I/O: embedding requests and file reads are not held up
  // behind several files' parsing at once.
  const steps = workflowSteps(config, { cpuTurns: true, ...(parsePool ? { parsePool } : {}) });
  // Files are independent and every chunk's id is its own: order buys nothing here, and in order
  // one file that takes its whole parse deadline (or a slow read) would hold back every file
  // behind it. The stores come out the same either way.
  const perFile = { concurrency: config.concurrency, ordered: false };
  return (
    StreamingPipeline.start<DiscoveredFile, EmbedSession>(() => session, {
      errorStrategy: "SPLIT_ERRORS",
    })
      .map("read", steps.read, perFile)
      .filter("changed", (file) => isChanged(file, session))
      .map("frontmatter", steps.frontmatter, perFile)
      .map("clean", steps.clean, perFile)
      .flatMap("split", (file) => inCpuTurn(() => splitOf(file, session), "split"), perFile)
      .batch("batch", batchOptions(config))
      // As many finished batches as requests may wait for the store: requests in flight stay at
      // the embedder's concurrency while the store writes what came back.
      .map("embed", steps.embed, {
        concurrency: config.embedder.concurrency,
        ordered: false,
        buffer: config.embedder.concurrency,
      })
      .map("store", steps.store)
  );
}

/**
 * Embeds a folder of markdown with a `StreamingPipeline`: files are read, cleaned and split
 * concurrently, chunks are batched by count and token budget (or a wait cap), embedded with
 * retries and stored as they come; memory stays bounded by the stages' concurrency. A file or
 * batch that fails goes to the run's SPLIT_ERRORS side stream and into the summary's error
 * report; the rest of the run carries on.
 */
export async function embedDocumentsStreaming(
  config: EmbedConfigInput | EmbedConfig,
  options: EmbedWorkflowOptions = {},
): Promise<EmbedSummary> {
  const session = await EmbedSession.open(config, options);
  const parsePool = options.parsePool ?? parsePoolFor(session.config, options.signal);
  // The worker's start-up overlaps discovery and the first reads.
  parsePool.warmUp();
  try {
    // Files flow into the pipeline as discovery makes them certain, in discovery's sorted order.
    const files = await discoverIncrementally(session);
    const run = embedPipeline(session.config, session, parsePool).executeFrom(files, {
      signal: session.runSignal,
    });
    options.onStart?.(() => snapshotOf(session, run.metadata()));
    const errors = (async () => {
      for await (const record of run.errors) session.recordEngineError(record.error, record.key);
    })();
    try {
      for await (const _ of run) {
        // Stored counts and commits happen in the store stage; nothing to collect here.
      }
    } catch (error) {
      throw session.fatal ?? error;
    } finally {
      await errors;
    }
    if (session.fatal) throw session.fatal;
    // An abort that ended the run as item errors is still the run's end, not a success.
    options.signal?.throwIfAborted();
    return session.summary("streaming");
  } finally {
    if (options.parsePool === undefined) await parsePool.close();
    await session.close();
  }
}

function snapshotOf(session: EmbedSession, metadata: RunMetadata): ProgressSnapshot {
  return {
    mode: "streaming",
    elapsedMs: performance.now() - session.startedAt,
    files: { total: session.filesTotal, done: session.filesDone },
    embedded: session.embedded,
    errors: metadata.errors.length,
    stages: metadata.stages.map((s) => ({
      key: s.key,
      in: s.counts.in,
      out: s.counts.out,
      failed: s.counts.failed,
      retried: s.counts.retried,
      inFlight: s.inFlight,
      concurrency: s.concurrency,
    })),
  };
}
