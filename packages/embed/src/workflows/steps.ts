// The stages of the embed-documents workflow, defined once: plain per-item functions over the
// run's session, and the same functions as `createStep` steps. Both workflows use these; they
// differ only in how they orchestrate them.
import { createStep, type Step } from "sluice";
import type { EmbedConfig } from "../config.ts";
import type { JsonObject } from "../json-value.ts";
import { batchItems } from "../steps/batch.ts";
import { chunkId } from "../steps/chunk-id.ts";
import { chunkMetadata } from "../steps/chunk-metadata.ts";
import { type CleanBlock, cleanMarkdown } from "../steps/clean.ts";
import {
  type DiscoveredFile,
  discoverFiles,
  discoverFilesIncrementally,
} from "../steps/discover.ts";
import {
  type FrontmatterResult,
  FrontmatterTooLargeError,
  parseFrontmatter,
} from "../steps/frontmatter.ts";
import type { ChunkDraft } from "../steps/prepare.ts";
import { type ReadSkipReason, readTextFile } from "../steps/read.ts";
import { countCl100kTokens, splitBlocks } from "../steps/split.ts";
import { fileVersionHash } from "../stores/sync-plan.ts";
import type { ChunkRecord } from "../stores/vector-store.ts";
import { inCpuTurn } from "./cpu-turn.ts";
import { ParseError, type ParseErrorCode, type ParsePool } from "./parse-pool.ts";
import { StageFailure } from "./report.ts";
import type { EmbedSession } from "./session.ts";

/** A file read as text, with the version hash its commit will record. */
export interface ReadFile {
  readonly path: string;
  readonly text: string;
  readonly versionHash: string;
}

/** A file split into frontmatter fields and body. */
export interface FrontmatterFile {
  readonly path: string;
  readonly versionHash: string;
  readonly body: string;
  readonly lineOffset: number;
  readonly tags: readonly string[];
  readonly metadata: JsonObject;
}

/** A file as plain-text blocks that know their file lines. */
export interface CleanedFile {
  readonly path: string;
  readonly versionHash: string;
  readonly blocks: readonly CleanBlock[];
  readonly tags: readonly string[];
  readonly metadata: JsonObject;
}

/** A chunk on its way to the embedder, with its size in tokens for batching. */
export interface ChunkItem {
  readonly draft: ChunkDraft;
  readonly tokens: number;
}

const READ_CODES: Record<ReadSkipReason, string> = {
  binary: "BINARY_FILE",
  "too-large": "FILE_TOO_LARGE",
  "invalid-utf8": "INVALID_UTF8",
  unreadable: "UNREADABLE",
};

/**
 * discover: lists the files to embed, and removes from the run's collection every file it holds
 * that is no longer there (deleted, or no longer matching the pattern). Finding no file at all
 * throws a `NoFilesError` and removes nothing.
 */
export async function discover(session: EmbedSession): Promise<DiscoveredFile[]> {
  const files = await discoverFiles(discoveryOf(session));
  session.filesTotal = files.length;
  if (files.length === 0) throw session.noFiles();
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
 * What both discoveries look for: the config's root, pattern and ignores, hidden names and links
 * as configured, and the run's signal.
 */
function discoveryOf(session: EmbedSession) {
  const { config } = session;
  return {
    root: config.root,
    pattern: config.pattern,
    ignore: config.ignore,
    dot: config.includeHidden,
    symlinks: config.followSymlinks ? ("follow" as const) : ("inside-root" as const),
    ...(session.signal ? { signal: session.signal } : {}),
  };
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
  const files = discoverFilesIncrementally({
    ...discoveryOf(session),
    onListed: (paths) => {
      session.filesTotal = paths;
    },
  });
  const first = await files.next();
  if (first.done) throw session.noFiles();
  return (async function* () {
    const found = new Set<string>();
    const unlisted: string[] = [];
    try {
      for (
        let next: IteratorResult<DiscoveredFile, void> = first;
        !next.done;
        next = await files.next()
      ) {
        found.add(next.value.relativePath);
        if (isUnlistedFolder(next.value)) unlisted.push(next.value.relativePath);
        yield next.value;
      }
    } finally {
      // A run that stops early (Ctrl-C) ends the crawl too.
      await files.return();
    }
    session.filesTotal = found.size;
    await session.removeAllBut(found, unlisted);
  })();
}

/**
 * read: the file as text. A file that cannot be embedded throws a StageFailure (skipped for
 * binary, invalid UTF-8 and oversized files; failed for I/O errors) and loses its old chunks, as
 * a clean run would not have them either. So does an entry discovery found a problem with
 * (stage `discover`: `OUTSIDE_ROOT`, `PATH_COLLISION`, `UNREADABLE_FOLDER`).
 */
export async function readFile(file: DiscoveredFile, session: EmbedSession): Promise<ReadFile> {
  if (file.problem !== undefined) {
    // Found but not to be embedded (a link out of the root, a name collision, a folder that
    // cannot be listed): reported here, in order with the files, and any stored copy goes.
    await session.removeIfStored(file.relativePath);
    session.filesDone += 1;
    const { kind, code, message } = file.problem;
    throw new StageFailure("discover", code, message, [{ path: file.relativePath }], kind);
  }
  const result = await readTextFile(file, { maxFileBytes: session.config.maxFileBytes });
  if (!result.ok) {
    await session.removeIfStored(file.relativePath);
    session.filesDone += 1;
    throw new StageFailure(
      "read",
      READ_CODES[result.reason],
      result.message,
      [{ path: file.relativePath }],
      result.reason === "unreadable" ? "failed" : "skipped",
    );
  }
  return {
    path: file.relativePath,
    text: result.text,
    versionHash: fileVersionHash(result.contentHash, session.fingerprint),
  };
}

/** changed: keeps files whose stored version is not this one (new, changed, or never committed). */
export function isChanged(file: ReadFile, session: EmbedSession): boolean {
  if (session.storedHashes.get(file.path) !== file.versionHash) return true;
  session.unchanged += 1;
  session.filesDone += 1;
  return false;
}

/**
 * frontmatter: YAML fields and tags off the top. Problems are warnings, except a frontmatter too
 * large to keep (an alias bomb, say): the file is skipped (`FRONTMATTER_TOO_LARGE`) and loses
 * its old chunks.
 */
export async function frontmatterOf(
  file: ReadFile,
  session: EmbedSession,
): Promise<FrontmatterFile> {
  let fm: FrontmatterResult;
  try {
    fm = parseFrontmatter(file.text, { enabled: session.config.frontmatter });
  } catch (error) {
    if (!(error instanceof FrontmatterTooLargeError)) throw error;
    // Like a read skip: the file's content is the problem, and its old chunks go.
    await session.removeIfStored(file.path);
    session.filesDone += 1;
    throw new StageFailure(
      "frontmatter",
      error.code,
      error.message,
      [{ path: file.path }],
      "skipped",
      { cause: error },
    );
  }
  return {
    path: file.path,
    versionHash: file.versionHash,
    body: fm.body,
    lineOffset: fm.lineOffset,
    tags: fm.tags,
    metadata: fm.metadata,
  };
}

/**
 * clean: markdown to plain-text blocks, configured sections removed. With a `pool`, the parse runs
 * in one of its worker threads under its deadline and heap limit, and a file past them is skipped
 * (`PARSE_TIMEOUT`, `PARSE_TOO_LARGE`, `PARSE_TOO_DEEP`) and loses its old chunks, as a read
 * skip does; without one it runs here, on the calling thread.
 */
export async function cleanOf(
  file: FrontmatterFile,
  session: EmbedSession,
  pool?: ParsePool,
): Promise<CleanedFile> {
  try {
    const options = {
      lineOffset: file.lineOffset,
      removeSections: session.config.clean.removeSections,
    };
    const blocks = pool
      ? await pool.clean(file.body, options)
      : cleanMarkdown(file.body, options).blocks;
    return {
      path: file.path,
      versionHash: file.versionHash,
      blocks,
      tags: file.tags,
      metadata: file.metadata,
    };
  } catch (error) {
    if (session.signal?.aborted) throw error;
    if (error instanceof ParseError && PARSE_SKIPS.has(error.code)) {
      await session.removeIfStored(file.path);
      session.filesDone += 1;
      throw new StageFailure("clean", error.code, error.message, [{ path: file.path }], "skipped", {
        cause: error,
      });
    }
    throw StageFailure.wrap("clean", "CLEAN_FAILED", error, [{ path: file.path }]);
  }
}

/** Parse failures that are the file's own doing: it is skipped, not retried next run. */
const PARSE_SKIPS: ReadonlySet<string> = new Set<ParseErrorCode>([
  "PARSE_TIMEOUT",
  "PARSE_TOO_LARGE",
  "PARSE_TOO_DEEP",
]);

/**
 * split: the file's chunks with ids and metadata (as `prepareChunks` makes them), registered so
 * the file commits once they are all stored. A file without any chunk commits here.
 */
export async function splitOf(file: CleanedFile, session: EmbedSession): Promise<ChunkItem[]> {
  let items: ChunkItem[];
  try {
    const { split } = session.config;
    items = splitBlocks(file.blocks, split).map((chunk) => {
      const metadata = chunkMetadata(file.metadata, file.tags, chunk.headings);
      const draft: ChunkDraft = {
        id: chunkId({
          collection: session.collection,
          path: file.path,
          ordinal: chunk.index,
          text: chunk.text,
        }),
        collection: session.collection,
        path: file.path,
        ordinal: chunk.index,
        text: chunk.text,
        startLine: chunk.startLine,
        endLine: chunk.endLine,
        metadata,
      };
      return {
        draft,
        tokens: split.unit === "tokens" ? chunk.size : countCl100kTokens(chunk.text),
      };
    });
  } catch (error) {
    throw StageFailure.wrap("split", "SPLIT_FAILED", error, [{ path: file.path }]);
  }
  await session.register(
    file.path,
    file.versionHash,
    items.map((i) => i.draft.id),
  );
  return items;
}

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
  session: EmbedSession,
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
  session: EmbedSession,
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
  readonly read: Step<DiscoveredFile, ReadFile, {}, EmbedSession>;
  readonly frontmatter: Step<ReadFile, FrontmatterFile, {}, EmbedSession>;
  readonly clean: Step<FrontmatterFile, CleanedFile, {}, EmbedSession>;
  readonly split: Step<CleanedFile, ChunkItem[], {}, EmbedSession>;
  readonly batch: Step<ChunkItem[], ChunkItem[][], {}, EmbedSession>;
  readonly embed: Step<ChunkItem[], ChunkRecord[], {}, EmbedSession>;
  readonly store: Step<ChunkRecord[], number, {}, EmbedSession>;
}

/** Options of {@link workflowSteps}. */
export interface WorkflowStepsOptions {
  /**
   * Run the CPU-heavy per-file steps (frontmatter, clean, split) each in a turn of its own (see
   * `cpuTurn`), so a streaming run handles I/O (embedding requests above all) between them;
   * default false.
   */
  readonly cpuTurns?: boolean;
  /** Parse markdown in this pool's worker threads (see `cleanOf`); default on this thread. */
  readonly parsePool?: ParsePool;
}

/** Builds the steps; `embed` carries the per-batch retry policy of the config. */
export function workflowSteps(
  config: EmbedConfig,
  options: WorkflowStepsOptions = {},
): WorkflowSteps {
  const turn = <T>(work: () => T | Promise<T>, kind = ""): T | Promise<T> =>
    options.cpuTurns ? inCpuTurn(work, kind) : work();
  return {
    discover: createStep("discover", ({ context }) => discover(context)),
    read: createStep("read", ({ input, context }) => readFile(input, context)),
    frontmatter: createStep("frontmatter", ({ input, context }) =>
      turn(() => frontmatterOf(input, context), "frontmatter"),
    ),
    clean: createStep("clean", ({ input, context }) =>
      options.parsePool
        ? cleanOf(input, context, options.parsePool)
        : turn(() => cleanOf(input, context), "clean"),
    ),
    split: createStep("split", ({ input, context }) =>
      turn(() => splitOf(input, context), "split"),
    ),
    batch: createStep("batch", ({ input, context }) => batchAll(input, context.config)),
    embed: createStep("embed", ({ input, context, signal }) => embedBatch(input, context, signal), {
      retry: {
        maxAttempts: config.embedder.retryAttempts,
        backoffMs: config.embedder.retryBackoffMs,
        maxBackoffMs: 10_000,
      },
    }),
    store: createStep("store", ({ input, context }) => storeBatch(input, context)),
  };
}
