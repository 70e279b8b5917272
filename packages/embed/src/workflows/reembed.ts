// The reembed workflow: every chunk of one store into another, with a new embedder and/or store
// kind, as one StreamingPipeline: scan (a page of files at a time) → batch by count and token
// budget → embed → store → commit each file once all its chunks are stored. A batch Pipeline
// would hold the whole store in memory, which is what this workflow exists to avoid.

import { performance } from "node:perf_hooks";
import { type RunMetadata, StreamingPipeline } from "sluice";
import {
  type EmbedConfig,
  type EmbedConfigInput,
  embedderSettings,
  type ParseConfigOptions,
  parseEmbedConfig,
} from "../config.ts";
import { createEmbedder } from "../embedders/create.ts";
import type { Embedder } from "../embedders/embedder.ts";
import { countCl100kTokens } from "../steps/token-count.ts";
import { openVectorStore, type StoreLocation } from "../stores/open.ts";
import { fileVersionHash } from "../stores/sync-plan.ts";
import {
  type ChunkRecord,
  type Collection,
  type StoredChunk,
  type VectorStore,
  VectorStoreError,
} from "../stores/vector-store.ts";
import { drainRun } from "./drain-run.ts";
import { type PendingFile, PendingFiles } from "./pending-files.ts";
import type { ChunkItem } from "./prepare-file.ts";
import { type ProgressProbe, type ProgressSnapshot, stagesProgress } from "./progress.ts";
import { commitFailure, type ErrorEntry, entriesOf, sortEntries } from "./report.ts";
import { batchOptions, embedBatch, storeBatch } from "./steps.ts";

/** Options of {@link reembedStore}. */
export interface ReembedOptions extends ParseConfigOptions {
  /** Use this embedder instead of the one the target config names. */
  readonly embedder?: Embedder;
  /** Stops the run: work in flight is aborted, what was committed stays, a re-run resumes. */
  readonly signal?: AbortSignal;
  /** Called once the run starts, with a probe a progress view can poll. */
  readonly onStart?: (probe: ProgressProbe) => void;
  /** Files per page of the source scan (default the store's). */
  readonly pageFiles?: number;
}

/** What a reembed run did. Times in milliseconds. */
export interface ReembedSummary {
  /** Collections of the source, each written to the target under the same name. */
  readonly collections: number;
  /** Files of the source that hold chunks or a committed hash. */
  readonly files: number;
  /** Files the target already held as this run would write them (a resumed run's done part). */
  readonly unchanged: number;
  /** Files committed in the target by this run. */
  readonly committed: number;
  /** Files the target held in those collections that the source does not: removed. */
  readonly removed: number;
  /** Chunks read from the source for files not yet done. */
  readonly chunks: number;
  /** Chunks embedded and stored by this run. */
  readonly embedded: number;
  /** Files not committed because a chunk failed (re-run to retry), and those chunks. */
  readonly failed: number;
  readonly failedChunks: number;
  /**
   * Whether the vectors' embedder is the source's: then file hashes are copied as they are, so
   * `sluice embed` into the target later finds unchanged files unchanged.
   */
  readonly sameEmbedder: boolean;
  readonly durationMs: number;
  /** Chunks stored per second over `durationMs`. */
  readonly throughput: number;
  /** Peak resident set size of the process, in bytes. */
  readonly peakRssBytes: number;
  readonly errors: readonly ErrorEntry[];
}

/** One source file's chunks, as the scan groups them. */
interface FileGroup {
  readonly collection: Collection;
  readonly path: string;
  /** The source's committed hash; undefined for chunks of a file never committed. */
  readonly sourceHash: string | undefined;
  readonly chunks: readonly StoredChunk[];
  /** The target holds the file as this run would write it: nothing to do. */
  readonly done: boolean;
}

/** A file waiting for its chunks to be stored, and the hash it commits with. */
interface OpenFile extends PendingFile {
  readonly hash: string;
}

/**
 * The hash the target records for a file: the source's own when the embedder is the same (what
 * a clean `sluice embed` into the target would record), else the source's bound to the new
 * embedder. Stores keep no content hash, so the latter cannot be the one a clean embed records:
 * a later `sluice embed` of the folder into the target re-embeds each file once.
 */
export function targetFileHash(sourceHash: string, sameEmbedder: boolean, embedderId: string) {
  return sameEmbedder ? sourceHash : fileVersionHash(sourceHash, `reembed:${embedderId}`);
}

/** One run's state: the two stores, the embedder, counters and the files still on their way. */
class ReembedSession {
  files = 0;
  unchanged = 0;
  committed = 0;
  removed = 0;
  chunks = 0;
  embedded = 0;
  filesTotal = 0;
  fatal: Error | undefined;
  readonly startedAt = performance.now();
  private readonly open = new PendingFiles<OpenFile>();
  private readonly extra: ErrorEntry[] = [];
  private readonly engineErrors: ErrorEntry[] = [];
  private readonly stopper = new AbortController();
  readonly runSignal: AbortSignal;

  constructor(
    readonly config: EmbedConfig,
    readonly source: VectorStore,
    readonly target: VectorStore,
    readonly embedder: Embedder,
    readonly sameEmbedder: boolean,
    signal: AbortSignal | undefined,
  ) {
    this.runSignal = signal ? AbortSignal.any([signal, this.stopper.signal]) : this.stopper.signal;
  }

  /** Ends the run for a failure every later batch would meet too (an unreachable endpoint). */
  stopRun(error: Error): void {
    this.fatal ??= error;
    this.stopper.abort(error);
  }

  hashFor(sourceHash: string): string {
    return targetFileHash(sourceHash, this.sameEmbedder, this.embedder.id);
  }

  /**
   * The files of every source collection, a page at a time, each with its chunks; files the
   * target already holds as they would be written come out empty (nothing to do). Before a
   * collection, the target's files the source does not hold are removed; after it, committed
   * source files without chunks (empty files) are committed.
   */
  async *groups(pageFiles: number | undefined): AsyncGenerator<FileGroup> {
    const collections = await this.source.collections();
    this.filesTotal = collections.reduce((n, c) => n + c.files, 0);
    for (const { collection } of collections) {
      const sourceHashes = await this.source.fileHashes(collection);
      const sourcePaths = new Set(await this.source.listPaths(collection));
      const targetHashes = await this.target.fileHashes(collection);
      for (const path of await this.target.listPaths(collection)) {
        if (sourcePaths.has(path)) continue;
        await this.target.deleteFile(collection, path);
        this.removed += 1;
      }
      this.files += sourcePaths.size;
      const done = (path: string) => {
        const hash = sourceHashes.get(path);
        return hash !== undefined && targetHashes.get(path) === this.hashFor(hash);
      };
      let path: string | undefined;
      let chunks: StoredChunk[] = [];
      const seen = new Set<string>();
      const flush = (): FileGroup | undefined => {
        if (path === undefined) return undefined;
        seen.add(path);
        const group = {
          collection,
          path,
          sourceHash: sourceHashes.get(path),
          chunks,
          done: done(path),
        };
        chunks = [];
        return group;
      };
      for await (const chunk of this.source.scanChunks(
        collection,
        pageFiles === undefined ? {} : { pageFiles },
      )) {
        if (chunk.path !== path) {
          const group = flush();
          if (group) yield group;
          path = chunk.path;
        }
        // A file already done needs none of its chunks: they are not kept.
        if (!done(chunk.path)) chunks.push(chunk);
      }
      const last = flush();
      if (last) yield last;
      for (const [file, hash] of sourceHashes) {
        if (!seen.has(file)) {
          yield { collection, path: file, sourceHash: hash, chunks: [], done: done(file) };
        }
      }
    }
  }

  /** A file's chunks are about to flow: it commits once all of them are stored. */
  async register(group: FileGroup): Promise<ChunkItem[]> {
    const { collection, path, sourceHash, chunks } = group;
    if (group.done) {
      this.unchanged += 1;
      return [];
    }
    const targetHash = sourceHash === undefined ? undefined : this.hashFor(sourceHash);
    if (chunks.length === 0) {
      // A committed file without chunks (an empty file) commits as it is.
      if (targetHash !== undefined) await this.commit(collection, path, targetHash, []);
      return [];
    }
    this.chunks += chunks.length;
    const ids = chunks.map((c) => c.id);
    if (targetHash !== undefined) {
      this.open.add({ collection, path, hash: targetHash, ids });
    }
    return chunks.map((draft) => ({ draft, tokens: countCl100kTokens(draft.text) }));
  }

  /** embed: one request per batch; a failure names every chunk of the batch. */
  embed(batch: readonly ChunkItem[], signal: AbortSignal): Promise<ChunkRecord[]> {
    return embedBatch(batch, this, signal);
  }

  /** store: upserts a batch, then commits every file whose chunks are now all stored. */
  store(records: readonly ChunkRecord[]): Promise<number> {
    return storeBatch(records, { store: this.target, stored: (r) => this.stored(r) });
  }

  /** Records stored chunks and commits every file that is now complete. */
  private async stored(records: readonly ChunkRecord[]): Promise<void> {
    this.embedded += records.length;
    for (const file of this.open.stored(records)) {
      await this.commit(file.collection, file.path, file.hash, file.ids);
    }
  }

  private async commit(collection: Collection, path: string, hash: string, ids: readonly string[]) {
    try {
      await this.target.commitFile(collection, path, hash, ids);
      this.committed += 1;
    } catch (error) {
      this.extra.push(commitFailure(path, error));
    }
  }

  recordEngineError(error: unknown, stageKey: string | undefined): void {
    this.engineErrors.push(...entriesOf(error, stageKey));
  }

  snapshot(metadata: RunMetadata): ProgressSnapshot {
    return {
      mode: "streaming",
      elapsedMs: performance.now() - this.startedAt,
      files: { total: this.filesTotal, done: this.committed + this.unchanged },
      embedded: this.embedded,
      errors: metadata.errors.length,
      stages: stagesProgress(metadata.stages),
    };
  }

  summary(): ReembedSummary {
    const durationMs = performance.now() - this.startedAt;
    const errors = sortEntries([...this.engineErrors, ...this.extra]);
    return {
      collections: 0,
      files: this.files,
      unchanged: this.unchanged,
      committed: this.committed,
      removed: this.removed,
      chunks: this.chunks,
      embedded: this.embedded,
      failed: new Set(errors.map((e) => e.path)).size,
      failedChunks: errors.filter((e) => e.chunkId !== undefined).length,
      sameEmbedder: this.sameEmbedder,
      durationMs,
      throughput: durationMs > 0 ? (this.embedded * 1000) / durationMs : 0,
      peakRssBytes: Math.max(process.resourceUsage().maxRSS * 1024, process.memoryUsage.rss()),
      errors,
    };
  }
}

/**
 * The pipeline: file groups in, stored chunk counts out. The embed stage carries the embed
 * workflow's per-batch retry policy and concurrency; batches are bounded by the same count and
 * token budget (`batchOptions`).
 */
export function reembedPipeline(session: ReembedSession) {
  const { config } = session;
  return StreamingPipeline.start<FileGroup, ReembedSession>(() => session, {
    errorStrategy: "SPLIT_ERRORS",
  })
    .flatMap("chunks", (group) => session.register(group))
    .batch("batch", batchOptions(config))
    .map("embed", (batch, ctx) => session.embed(batch, ctx.signal), {
      concurrency: config.embedder.concurrency,
      ordered: false,
      buffer: config.embedder.concurrency,
      retry: {
        maxAttempts: config.embedder.retryAttempts,
        backoffMs: config.embedder.retryBackoffMs,
        maxBackoffMs: 10_000,
      },
    })
    .map("store", (records) => session.store(records));
}

/**
 * Moves every chunk of the store at `from` into the store `to` names (its `store` and `embedder`
 * sections; `batch` and `embedder.concurrency` shape the requests), re-embedding each chunk's
 * text with the target's embedder. Collections, paths, ids, lines, text and metadata carry over;
 * chunk ids do not depend on the embedder, so the target ends as a clean `sluice embed` into it
 * would leave it (file hashes included when the embedder is the source's; see
 * {@link targetFileHash}). The source is read a page of files at a time, so memory stays bounded
 * whatever its size. Resumable: a file is committed once all its chunks are stored, and a
 * re-run skips the files the target already holds as this run would write them.
 */
export async function reembedStore(
  from: StoreLocation,
  to: EmbedConfigInput | EmbedConfig,
  options: ReembedOptions = {},
): Promise<ReembedSummary> {
  const config = parseEmbedConfig(to, options);
  if (from.kind === config.store.kind && from.location === config.store.location) {
    throw new VectorStoreError(
      "invalid-argument",
      `the source and the target are the same store (${from.location}): give another --to`,
    );
  }
  const source = await openVectorStore(from, { mode: "read" });
  let target: VectorStore | undefined;
  const embedder = options.embedder ?? createEmbedder(config.embedder);
  try {
    target = await openVectorStore(config.store, {
      mode: "write",
      identity: {
        embedderId: embedder.id,
        dimensions: embedder.dimensions,
        ...(options.embedder === undefined ? { embedder: embedderSettings(config.embedder) } : {}),
      },
    });
    const sameEmbedder =
      source.identity.embedderId === embedder.id &&
      source.identity.dimensions === embedder.dimensions;
    const session = new ReembedSession(
      config,
      source,
      target,
      embedder,
      sameEmbedder,
      options.signal,
    );
    const collections = (await source.collections()).length;
    const run = reembedPipeline(session).executeFrom(session.groups(options.pageFiles), {
      signal: session.runSignal,
    });
    options.onStart?.(() => session.snapshot(run.metadata()));
    await drainRun(run, session, (error, key) => session.recordEngineError(error, key));
    options.signal?.throwIfAborted();
    return { ...session.summary(), collections };
  } finally {
    try {
      await target?.close();
      await source.close();
    } finally {
      if (options.embedder === undefined) await embedder.close?.();
    }
  }
}
