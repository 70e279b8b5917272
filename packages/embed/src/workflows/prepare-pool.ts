// The worker threads that prepare files (read, frontmatter, clean, split: `prepareFile`). They
// use every core, and keep a file's parse off the main thread: a file that outlasts its deadline
// costs one worker (terminated, replaced), never the event loop that stores, draws progress and
// answers Ctrl-C; a heap limit bounds what one file may take.
import { availableParallelism } from "node:os";
import { type ThreadPool, threadPool } from "sluice/node";
import type { EmbedConfig } from "../config.ts";
import { bundledModule, workerModule } from "../threads/worker-module.ts";
import type { PrepareOutcome, PrepareRequest, prepareFile } from "./prepare-file.ts";

/** Worker threads that prepare files for a run. */
export type PreparePool = ThreadPool<PrepareRequest, PrepareOutcome>;

/** One fewer thread than the machine has cores (the main thread embeds and stores), at least 1. */
export function defaultThreads(): number {
  return Math.max(1, availableParallelism() - 1);
}

/**
 * The pool a run prepares files in: the config's threads, deadline and heap limit, and the run's
 * signal; none for `threads: 0` (files are prepared on the main thread).
 */
export function preparePoolFor(
  config: Pick<EmbedConfig, "threads" | "parseTimeoutMs" | "parseHeapMb">,
  signal?: AbortSignal,
): PreparePool | undefined {
  if (config.threads === 0) return undefined;
  const { module, preload } = workerModule(TASK_MODULE);
  return threadPool<typeof prepareFile>(module, "prepareFile", {
    threads: config.threads,
    prefetch: PREFETCH,
    timeoutMs: config.parseTimeoutMs,
    maxHeapMb: config.parseHeapMb,
    ...(preload ? { preload } : {}),
    ...(signal ? { signal } : {}),
  });
}

/**
 * Files sent ahead to each busy worker. The main thread embeds and stores a batch in one go
 * (64 chunks of hashing and JSON text: several ms); with one file ahead, a worker finished it
 * and then waited, idle for ~40% of a run. Eight keep it busy through that: 5,000 files with
 * the hash embedder and one worker, 3,870 -> 5,150-5,560 chunks/s (docs/performance.md).
 */
const PREFETCH = 8;

/**
 * Files in preparation at once: the config's `concurrency`, and at least enough to give each
 * worker one running and {@link PREFETCH} sent ahead.
 */
export function prepareConcurrency(
  config: Pick<EmbedConfig, "concurrency">,
  pool: PreparePool | undefined,
): number {
  return Math.max(config.concurrency, (PREFETCH + 1) * (pool?.threads ?? 0));
}

const TASK_MODULE = new URL("./prepare-file.ts", import.meta.url);

/** `prepareFile`'s module bundled for a worker (see {@link bundledModule}). */
export function bundledPrepareModule(): string | undefined {
  return bundledModule(TASK_MODULE);
}
