// The worker threads that prepare files (read, frontmatter, clean, split: `prepareFile`). They
// use every core, and keep a file's parse off the main thread: a file that outlasts its deadline
// costs one worker (terminated, replaced), never the event loop that stores, draws progress and
// answers Ctrl-C; a heap limit bounds what one file may take.
import { availableParallelism } from "node:os";
import { type ThreadPool, threadPool } from "sluice/node";
import type { EmbedConfig } from "../config.ts";
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
  return threadPool<typeof prepareFile>(
    new URL("./prepare-file.ts", import.meta.url),
    "prepareFile",
    {
      threads: config.threads,
      timeoutMs: config.parseTimeoutMs,
      maxHeapMb: config.parseHeapMb,
      preload: new URL("./typescript-loader.js", import.meta.url),
      ...(signal ? { signal } : {}),
    },
  );
}
