// The stages of the embed-documents workflow, defined once: plain per-item functions over the
// run's session, and the same functions as `createStep` steps. Both workflows use these; they
// differ only in how they orchestrate them.
import {
  type AdaptiveConcurrencyOptions,
  createStep,
  isOverload,
  isRetryable,
  type RateLimitOption,
  type RetryOptions,
  type Step,
} from "sluice";
import { ThreadPoolError } from "sluice/node";
import type { EmbedConfig } from "../config.ts";
import { batchItems } from "../steps/batch.ts";
import type { DiscoveredFile } from "../steps/discover.ts";
import type { ChunkRecord } from "../stores/vector-store.ts";
import type { ChunkItem, PrepareOutcome, PrepareRequest } from "./prepare-file.ts";
import type { PreparePool } from "./prepare-pool.ts";
import { StageFailure } from "./report.ts";
import type { EmbedSession } from "./session.ts";
import { type StartedDiscovery, startDiscovery } from "./started-discovery.ts";

export type { ChunkItem } from "./prepare-file.ts";

/** The listing the session was opened with (see `EmbedSession.open`), else one started now. */
async function discoveryFor(session: EmbedSession): Promise<StartedDiscovery> {
  return session.takeListed() ?? (await startDiscovery(session.config, session.signal));
}

/**
 * discover: lists the files to embed, and removes from the run's collection every file it holds
 * that is no longer there (deleted, or no longer matching the pattern). Finding no file at all
 * throws a `NoFilesError` and removes nothing.
 */
export async function discover(session: EmbedSession): Promise<DiscoveredFile[]> {
  const started = await discoveryFor(session);
  const files = [started.first];
  for await (const file of started.rest) files.push(file);
  session.filesTotal = files.length;
  await session.removeAllBut(
    new Set(files.map((f) => f.relativePath)),
    files.filter(isUnlistedFolder).map((f) => f.relativePath),
  );
  return files;
}

/**
 * A folder discovery could not list: what it holds is unknown, not gone, so its stored files
 * stay (like a failed file's chunks) until a run can list it again.
 */
function isUnlistedFolder(file: DiscoveredFile): boolean {
  return file.problem?.code === "UNREADABLE_FOLDER";
}

/**
 * discover, for the streaming workflow: the same files in the same order, each handed on as soon
 * as discovery is sure of it (see `discoverFilesIncrementally`), so the first files are read
 * while the rest of the tree is still being resolved. The folder is listed (and a missing root
 * reported) before this returns, and a `NoFilesError` is thrown when it matched nothing; once
 * the last file is handed on, every file of the collection that is no longer there is removed.
 */
export async function discoverIncrementally(
  session: EmbedSession,
): Promise<AsyncIterable<DiscoveredFile>> {
  const { first, rest, paths } = await discoveryFor(session);
  session.filesTotal = paths;
  return (async function* () {
    const found = new Set<string>();
    const unlisted: string[] = [];
    try {
      for (
        let next: IteratorResult<DiscoveredFile, void> = { value: first, done: false };
        !next.done;
        next = await rest.next()
      ) {
        found.add(next.value.relativePath);
        if (isUnlistedFolder(next.value)) unlisted.push(next.value.relativePath);
        yield next.value;
      }
    } finally {
      // A run that stops early (Ctrl-C) ends the crawl too.
      await rest.return();
    }
    session.filesTotal = found.size;
    await session.removeAllBut(found, unlisted);
  })();
}

/**
 * prepare: read, frontmatter, clean and split one file into chunks with ids and metadata, in one
 * of `pool`'s worker threads (on this thread without one), and register the chunks so that the
 * file commits once they are all stored; a file without chunks commits here. A file whose stored
 * version is this one yields nothing. A file that cannot be embedded throws a StageFailure
 * naming the stage it stopped at (skipped for binary, invalid UTF-8, oversized files, a
 * frontmatter too large, or a parse past its deadline or heap: `PARSE_TIMEOUT`,
 * `PARSE_TOO_LARGE`; failed for I/O errors) and loses its old chunks, as a clean run would not
 * have them either. So does an entry discovery found a problem with (stage `discover`:
 * `OUTSIDE_ROOT`, `PATH_COLLISION`, `UNREADABLE_FOLDER`).
 */
export async function prepare(
  file: DiscoveredFile,
  session: EmbedSession,
  pool?: PreparePool,
  signal?: AbortSignal,
): Promise<ChunkItem[]> {
  const path = file.relativePath;
  if (file.problem !== undefined) {
    // Found but not to be embedded (a link out of the root, a name collision, a folder that
    // cannot be listed): reported here, in order with the files, and any stored copy goes.
    await session.removeIfStored(path);
    session.filesDone += 1;
    const { kind, code, message } = file.problem;
    throw new StageFailure("discover", code, message, [{ path }], kind);
  }
  const prepared = await prepareOutcome(
    {
      absolutePath: file.absolutePath,
      relativePath: path,
      storedHash: session.storedHashes.get(path),
      settings: session.prepareSettings,
    },
    session,
    pool,
    signal,
  );
  switch (prepared.type) {
    case "unchanged":
      session.unchanged += 1;
      session.filesDone += 1;
      return [];
    case "problem":
      await session.removeIfStored(path);
      session.filesDone += 1;
      throw new StageFailure(
        prepared.stage,
        prepared.code,
        prepared.message,
        [{ path }],
        prepared.kind,
      );
    case "chunks":
      await session.register(
        path,
        prepared.versionHash,
        prepared.items.map((i) => i.draft.id),
      );
      return prepared.items;
  }
}

/**
 * What `prepareFile` makes of a request, in one of `pool`'s worker threads (on this thread
 * without one). A file the pool gave up on for its own sake (past its deadline or heap) is a
 * skipped `problem`; any other failure throws a StageFailure (workers that cannot start also
 * stop the run). The queue worker prepares its messages through this too.
 */
export async function prepareOutcome(
  request: PrepareRequest,
  session: Pick<EmbedSession, "config" | "signal" | "stopRun">,
  pool?: PreparePool,
  signal?: AbortSignal,
): Promise<PrepareOutcome> {
  try {
    return pool
      ? await pool.run(request, signal ? { signal } : {})
      : // Loaded only here: with a pool, the parser and tokenizer load in the workers alone.
        (await import("./prepare-file.ts")).prepareFile(request);
  } catch (error) {
    if (signal?.aborted || session.signal?.aborted) throw error;
    const skip = error instanceof ThreadPoolError ? POOL_SKIPS[error.code] : undefined;
    if (skip === undefined) {
      const failure = StageFailure.wrap("prepare", "PREPARE_FAILED", error, [
        { path: request.relativePath },
      ]);
      // Workers that cannot start fail every file the same way: end the run with one error.
      if (failure.code === "THREAD_START_FAILED") session.stopRun(error as Error);
      throw failure;
    }
    return {
      type: "problem",
      stage: "clean",
      code: skip,
      message:
        skip === "PARSE_TIMEOUT"
          ? `preparing the file took longer than ${session.config.parseTimeoutMs} ms`
          : `preparing the file needs more than the worker's ${session.config.parseHeapMb} MB heap`,
      kind: "skipped",
    };
  }
}

/** A file the pool gave up on for its own sake: skipped, as its content is the problem. */
const POOL_SKIPS: Partial<Record<ThreadPoolError["code"], string>> = {
  THREAD_TIMEOUT: "PARSE_TIMEOUT",
  THREAD_OUT_OF_MEMORY: "PARSE_TOO_LARGE",
};

/** batch (batch builder): chunks grouped by count and token budget, in order. */
export function batchAll(items: readonly ChunkItem[], config: EmbedConfig): ChunkItem[][] {
  return [
    ...batchItems(items, {
      size: config.batch.size,
      maxTokens: config.batch.maxTokens,
      tokensOf: (item) => item.tokens,
    }),
  ];
}

/** The streaming `batch` operator's options: the same count and token budget, plus a wait cap. */
export function batchOptions(config: EmbedConfig) {
  return {
    size: config.batch.size,
    maxWeight: config.batch.maxTokens,
    weigh: (item: ChunkItem) => item.tokens,
    maxWaitMs: config.batch.maxWaitMs,
  };
}

/** embed: one request per batch; a failure names every chunk of the batch. */
export async function embedBatch(
  batch: readonly ChunkItem[],
  session: Pick<EmbedSession, "embedder" | "stopRun">,
  signal?: AbortSignal,
): Promise<ChunkRecord[]> {
  try {
    const vectors = await session.embedder.embed(
      batch.map((item) => item.draft.text),
      signal,
    );
    return batch.map((item, i) => ({ ...item.draft, vector: vectors[i] ?? [] }));
  } catch (error) {
    if (signal?.aborted) throw error;
    const failure = StageFailure.wrap("embed", "EMBED_FAILED", error, subjectsOf(batch));
    // Every later batch would fail the same way: end the run with one error.
    if (failure.code === "ENDPOINT_UNREACHABLE") session.stopRun(failure.cause as Error);
    throw failure;
  }
}

/** store: upserts a batch, then commits every file whose chunks are now all stored. */
export async function storeBatch(
  records: readonly ChunkRecord[],
  session: Pick<EmbedSession, "store" | "stored">,
): Promise<number> {
  try {
    await session.store.upsert(records);
  } catch (error) {
    throw StageFailure.wrap(
      "store",
      "STORE_FAILED",
      error,
      records.map((r) => ({ path: r.path, chunkId: r.id })),
    );
  }
  await session.stored(records);
  return records.length;
}

function subjectsOf(batch: readonly ChunkItem[]) {
  return batch.map((item) => ({ path: item.draft.path, chunkId: item.draft.id }));
}

/** The workflow's stages as steps, for either builder; the run's session is their context. */
export interface WorkflowSteps {
  readonly discover: Step<unknown, DiscoveredFile[], {}, EmbedSession>;
  readonly prepare: Step<DiscoveredFile, ChunkItem[], {}, EmbedSession>;
  readonly batch: Step<ChunkItem[], ChunkItem[][], {}, EmbedSession>;
  readonly embed: Step<ChunkItem[], ChunkRecord[], {}, EmbedSession>;
  readonly store: Step<ChunkRecord[], number, {}, EmbedSession>;
}

/** Options of {@link workflowSteps}. */
export interface WorkflowStepsOptions {
  /** Prepare files in this pool's worker threads (see `prepare`); default on this thread. */
  readonly pool?: PreparePool;
}

/** Whether the embed stage paces itself: the OpenAI-compatible embedder, adaptive or limited. */
function paced(config: EmbedConfig): boolean {
  const e = config.embedder;
  return (
    e.kind === "openai" && (e.adaptiveConcurrency || e.rpm !== undefined || e.tpm !== undefined)
  );
}

/**
 * The embed stage's concurrency and rate limit: for the OpenAI-compatible embedder, the
 * configured requests and tokens per minute (tokens counted as the batch budget counts them)
 * and a concurrency that adapts to 429/503 answers; for the others, the fixed concurrency.
 */
export function embedLimits(config: EmbedConfig): {
  concurrency: number | AdaptiveConcurrencyOptions;
  rateLimit?: RateLimitOption;
} {
  const e = config.embedder;
  if (e.kind !== "openai") return { concurrency: e.concurrency };
  // A batch costs its tokens: the adaptive pace and the token limit both count them.
  const weigh = (batch: readonly ChunkItem[]) => batch.reduce((sum, item) => sum + item.tokens, 0);
  const concurrency = e.adaptiveConcurrency
    ? { max: e.concurrency, adaptive: true, weigh }
    : e.concurrency;
  if (e.rpm === undefined && e.tpm === undefined) return { concurrency };
  return {
    concurrency,
    rateLimit: {
      ...(e.rpm === undefined ? {} : { requests: e.rpm }),
      ...(e.tpm === undefined ? {} : { units: e.tpm }),
      perMs: 60_000,
      weigh,
    },
  };
}

/**
 * The embed step's retry: `retryAttempts` for failures in general; a paced embed stage also
 * retries a batch refused for rate limits (429/503) for as long as `rateLimitRetryMs` allows,
 * so a run that respects a limit is not failed by it.
 */
export function embedRetry(config: EmbedConfig): RetryOptions {
  const e = config.embedder;
  const base = { backoffMs: e.retryBackoffMs, maxBackoffMs: 10_000 };
  if (!paced(config)) return { ...base, maxAttempts: e.retryAttempts };
  return {
    ...base,
    maxAttempts: Number.POSITIVE_INFINITY,
    maxElapsedMs: e.rateLimitRetryMs,
    retryIf: (error, attempt) =>
      isOverload(error) || (attempt < e.retryAttempts && isRetryable(error)),
  };
}

/** Builds the steps; `embed` carries the per-batch retry policy of the config. */
export function workflowSteps(
  config: EmbedConfig,
  options: WorkflowStepsOptions = {},
): WorkflowSteps {
  return {
    discover: createStep("discover", ({ context }) => discover(context)),
    prepare: createStep("prepare", ({ input, context, signal }) =>
      prepare(input, context, options.pool, signal),
    ),
    batch: createStep("batch", ({ input, context }) => batchAll(input, context.config)),
    embed: createStep("embed", ({ input, context, signal }) => embedBatch(input, context, signal), {
      retry: embedRetry(config),
    }),
    store: createStep("store", ({ input, context }) => storeBatch(input, context)),
  };
}
