import { realpath, stat } from "node:fs/promises";
import { performance } from "node:perf_hooks";
import {
  configFingerprint,
  type EmbedConfig,
  type EmbedConfigInput,
  embedderSettings,
  type ParseConfigOptions,
  parseEmbedConfig,
} from "../config.ts";
import { createEmbedder } from "../embedders/create.ts";
import type { Embedder } from "../embedders/embedder.ts";
import { DiscoverError } from "../steps/discover.ts";
import { openVectorStore } from "../stores/open.ts";
import type { ChunkRecord, Collection, VectorStore } from "../stores/vector-store.ts";
import { type PendingFile, PendingFiles } from "./pending-files.ts";
import type { PrepareSettings } from "./prepare-file.ts";
import type { PreparePool } from "./prepare-pool.ts";
import type { ProgressProbe } from "./progress.ts";
import { commitFailure, type ErrorEntry, entriesOf, sortEntries } from "./report.ts";
import { NoFilesError, type StartedDiscovery, startDiscovery } from "./started-discovery.ts";

/** Options of `embedDocuments` and `embedDocumentsStreaming`. */
export interface EmbedWorkflowOptions extends ParseConfigOptions {
  /** Use this embedder instead of the one the config names (its id must match the store's). */
  readonly embedder?: Embedder;
  /** Stops the run: work in flight is aborted, what was stored stays stored. */
  readonly signal?: AbortSignal;
  /** Called once the run starts, with a probe a progress view can poll. */
  readonly onStart?: (probe: ProgressProbe) => void;
  /**
   * Open the store as a shared writer (a queue run's coordinator: see `StoreAccess.shared`);
   * default exclusive.
   */
  readonly sharedWriter?: boolean;
  /**
   * Prepare files in this pool, which stays the caller's (the run does not close it); default:
   * a pool made from the config's `threads`, deadline and heap limit, started with the run and
   * closed at its end.
   */
  readonly pool?: PreparePool;
}

/** What a run did; both workflows return it. Times in milliseconds. */
export interface EmbedSummary {
  /** The builder that ran, or `queue` for a run whose files went to `sluice worker`s. */
  readonly mode: "streaming" | "batch" | "queue";
  /** The collection the run wrote to: the root's real path, or the configured name. */
  readonly collection: Collection;
  /** Files discovered under the root that match the pattern. */
  readonly files: number;
  /** Files whose stored version is current: nothing to do. */
  readonly unchanged: number;
  /** Chunks produced from the new and changed files. */
  readonly chunks: number;
  /** Chunks embedded and stored by this run. */
  readonly embedded: number;
  /** Files left out because their content cannot be embedded (binary, invalid UTF-8, too large). */
  readonly skipped: number;
  /** Files that failed (I/O, parsing, embedding or storing): not committed, retried next run. */
  readonly failed: number;
  /** Chunks among those failed files that could not be embedded or stored. */
  readonly failedChunks: number;
  /** Files whose chunks were removed: deleted from the folder, or no longer readable. */
  readonly removed: number;
  /** Files whose new version was fully stored and committed. */
  readonly committed: number;
  /** The whole run, from the call to the end, opening the store included. */
  readonly durationMs: number;
  /** Of which: validating the config, opening the embedder and store, reading its file list. */
  readonly setupMs: number;
  /** Chunks stored per second of the whole run. */
  readonly throughput: number;
  /** From the start of the run to the first chunk stored; null when nothing was stored. */
  readonly timeToFirstStoredChunkMs: number | null;
  /** Peak resident set size of the process, in bytes. */
  readonly peakRssBytes: number;
  /** Every skipped or failed file or chunk, sorted by path. */
  readonly errors: readonly ErrorEntry[];
  /**
   * What went wrong without costing any file or chunk, only time (an SQLite writer thread that
   * could not start), in the order it happened.
   */
  readonly warnings: readonly string[];
}

/** The machine-readable error report: the summary's errors with the counts they explain. */
export function errorReport(summary: EmbedSummary): {
  readonly skipped: number;
  readonly failed: number;
  readonly failedChunks: number;
  readonly errors: readonly ErrorEntry[];
} {
  return {
    skipped: summary.skipped,
    failed: summary.failed,
    failedChunks: summary.failedChunks,
    errors: summary.errors,
  };
}

/**
 * The collection a run writes to: the config's `collection`, or else the root folder's real path
 * (absolute, POSIX separators), so that every way of naming one folder names one collection.
 * Throws a {@link DiscoverError} when the root is missing or not a folder: before any store is
 * opened, so that a mistyped folder creates nothing.
 */
export async function collectionOf(
  config: Pick<EmbedConfig, "root" | "collection">,
): Promise<Collection> {
  let real: string;
  try {
    real = await realpath(config.root);
  } catch {
    throw new DiscoverError("root-not-found", config.root);
  }
  if (!(await stat(real)).isDirectory()) throw new DiscoverError("root-not-directory", config.root);
  return config.collection ?? real.replace(/\\/g, "/");
}

/** A file of this run waiting for its chunks to be stored. */
interface OpenFile extends PendingFile {
  readonly versionHash: string;
}

/**
 * One run's shared state, the context every stage sees: config, embedder, store, what the store
 * held at the start, counters, and the files whose chunks are still on their way. A file is
 * committed (its hash recorded, its stale chunks dropped) only once every one of its chunks is
 * stored, so a run killed at any point leaves uncommitted files that the next run embeds again.
 */
export class EmbedSession {
  readonly fingerprint: string;
  /** What every file of the run is prepared with (see `prepareFile`). */
  readonly prepareSettings: PrepareSettings;
  /** When the set-up (config, embedder, store) was done. */
  readyAt = performance.now();
  firstStoredAt: number | undefined;
  /**
   * The folder as listed before the store was opened (see `startDiscovery`), until the discover
   * step takes it (a later discover lists the folder again).
   */
  private listed: StartedDiscovery | undefined;
  /** File hashes and paths in the store when the run started. */
  storedHashes = new Map<string, string>();
  storedPaths = new Set<string>();
  filesTotal = 0;
  filesDone = 0;
  unchanged = 0;
  chunks = 0;
  embedded = 0;
  removed = 0;
  committed = 0;
  /** Failures recorded outside the engine's error strategies (commits). */
  private readonly extra: ErrorEntry[] = [];
  private readonly engineErrors: ErrorEntry[] = [];
  private readonly open = new PendingFiles<OpenFile>();
  /** Set by {@link stopRun}: the failure that ended the run, which the workflow throws. */
  fatal: Error | undefined;
  private readonly stopper = new AbortController();
  /** What the pipeline runs with: aborts on the caller's signal or on {@link stopRun}. */
  readonly runSignal: AbortSignal;

  private constructor(
    readonly config: EmbedConfig,
    /** The collection this run reads and writes; nothing outside it is touched. */
    readonly collection: Collection,
    readonly embedder: Embedder,
    readonly store: VectorStore,
    private readonly ownsEmbedder: boolean,
    readonly signal: AbortSignal | undefined,
    /** When the workflow was called: durations count from here, store opening included. */
    readonly startedAt: number,
    /** The store's warnings, added to as it goes (see `StoreAccess.onWarning`). */
    private readonly warnings: readonly string[],
  ) {
    this.fingerprint = configFingerprint(config);
    this.prepareSettings = {
      collection,
      fingerprint: this.fingerprint,
      maxFileBytes: config.maxFileBytes,
      frontmatter: config.frontmatter,
      removeSections: config.clean.removeSections,
      split: config.split,
    };
    this.runSignal = signal ? AbortSignal.any([signal, this.stopper.signal]) : this.stopper.signal;
  }

  /**
   * Ends the run because of a failure every later item would meet too (the embedding endpoint
   * is unreachable): work in flight is aborted and the workflow throws `error` instead of
   * reporting it once per chunk. What was stored stays stored.
   */
  stopRun(error: Error): void {
    this.fatal ??= error;
    this.stopper.abort(error);
  }

  /**
   * Validates the config, lists the folder (finding no file throws `NoFilesError` before any
   * store is opened, so such a run creates nothing), opens the embedder and the store, and reads
   * what the store holds.
   */
  static async open(
    input: EmbedConfigInput | EmbedConfig,
    options: EmbedWorkflowOptions,
    /** When the run began, if before this call (durations count from it). */
    startedAt = performance.now(),
  ): Promise<EmbedSession> {
    const config = parseEmbedConfig(input, options);
    const collection = await collectionOf(config);
    const listed = await startDiscovery(config, options.signal);
    const embedder = options.embedder ?? createEmbedder(config.embedder);
    let store: VectorStore;
    // The store may warn at any time while it is open; the summary reads them at the end.
    const warnings: string[] = [];
    try {
      store = await openVectorStore(config.store, {
        mode: "write",
        onWarning: (message) => warnings.push(message),
        ...(options.sharedWriter ? { shared: true } : {}),
        identity: {
          embedderId: embedder.id,
          dimensions: embedder.dimensions,
          // A caller's own embedder may not be one a config can rebuild: record only ours.
          ...(options.embedder === undefined
            ? { embedder: embedderSettings(config.embedder) }
            : {}),
        },
      });
    } catch (error) {
      await listed.rest.return();
      if (options.embedder === undefined) await embedder.close?.();
      throw error;
    }
    const session = new EmbedSession(
      config,
      collection,
      embedder,
      store,
      options.embedder === undefined,
      options.signal,
      startedAt,
      warnings,
    );
    session.listed = listed;
    try {
      session.storedHashes = await store.fileHashes(collection);
      session.storedPaths = new Set(await store.listPaths(collection));
      session.readyAt = performance.now();
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  }

  /** The started discovery, once: the discover step continues it. */
  takeListed(): StartedDiscovery | undefined {
    const listed = this.listed;
    this.listed = undefined;
    return listed;
  }

  async close(): Promise<void> {
    try {
      // A listing no step took (the run failed first) ends here.
      await this.takeListed()?.rest.return();
      await this.store.close();
    } finally {
      if (this.ownsEmbedder) await this.embedder.close?.();
    }
  }

  /** A file's chunks are about to flow: it commits once all of them are stored. */
  async register(path: string, versionHash: string, ids: readonly string[]): Promise<void> {
    this.chunks += ids.length;
    if (ids.length === 0) {
      await this.commit(path, versionHash, ids);
      return;
    }
    this.open.add({ collection: this.collection, path, versionHash, ids });
  }

  /** Records stored chunks and commits every file that is now complete. */
  async stored(records: readonly ChunkRecord[]): Promise<void> {
    if (records.length > 0 && this.firstStoredAt === undefined) {
      this.firstStoredAt = performance.now();
    }
    this.embedded += records.length;
    // All at once, not one after another: a store whose writes run elsewhere (SQLite's writer
    // thread, a database server) answers each commit a round trip later, and stores apply their
    // calls in the order made. Each commit records its own failure.
    await Promise.all(
      Array.from(this.open.stored(records), (file) =>
        this.commit(file.path, file.versionHash, file.ids),
      ),
    );
  }

  private async commit(path: string, versionHash: string, ids: readonly string[]): Promise<void> {
    try {
      await this.store.commitFile(this.collection, path, versionHash, ids);
      this.committed += 1;
    } catch (error) {
      this.extra.push(commitFailure(path, error));
    } finally {
      this.filesDone += 1;
    }
  }

  /** Removes a file's chunks and hash, if the store has any. */
  async removeIfStored(path: string): Promise<void> {
    if (!this.storedPaths.has(path)) return;
    await this.store.deleteFile(this.collection, path);
    this.storedPaths.delete(path);
    this.storedHashes.delete(path);
    this.removed += 1;
  }

  /**
   * Removes every stored file of this run's collection that discovery did not find (deleted, or
   * no longer matching), except under `unlistedFolders` (folders that could not be listed: their
   * files are unknown, not gone). Refuses an empty `found`: a run that finds nothing removes
   * nothing.
   */
  async removeAllBut(
    found: ReadonlySet<string>,
    unlistedFolders: readonly string[] = [],
  ): Promise<void> {
    if (found.size === 0) throw this.noFiles();
    const prefixes = unlistedFolders.map((folder) => `${folder}/`);
    for (const path of [...this.storedPaths]) {
      if (found.has(path) || prefixes.some((prefix) => path.startsWith(prefix))) continue;
      await this.removeIfStored(path);
    }
  }

  /** The error for a run whose discovery found nothing. */
  noFiles(): NoFilesError {
    return new NoFilesError(this.config.root, this.config.pattern, this.config.ignore);
  }

  /** Adds report entries made elsewhere (a queue worker's, for a file it could not store). */
  recordEntries(entries: readonly ErrorEntry[]): void {
    this.engineErrors.push(...entries);
  }

  /** Adds an item error the engine recorded (SPLIT_ERRORS or SKIP_FAILED). */
  recordEngineError(error: unknown, stageKey: string | undefined): void {
    this.engineErrors.push(...entriesOf(error, stageKey));
  }

  summary(mode: EmbedSummary["mode"]): EmbedSummary {
    const durationMs = performance.now() - this.startedAt;
    const errors = sortEntries([...this.engineErrors, ...this.extra]);
    const pathsOf = (kind: string) =>
      new Set(errors.filter((e) => e.kind === kind).map((e) => e.path));
    return {
      mode,
      collection: this.collection,
      files: this.filesTotal,
      unchanged: this.unchanged,
      chunks: this.chunks,
      embedded: this.embedded,
      skipped: pathsOf("skipped").size,
      failed: pathsOf("failed").size,
      failedChunks: errors.filter((e) => e.chunkId !== undefined).length,
      removed: this.removed,
      committed: this.committed,
      durationMs,
      setupMs: this.readyAt - this.startedAt,
      throughput: durationMs > 0 ? (this.embedded * 1000) / durationMs : 0,
      timeToFirstStoredChunkMs:
        this.firstStoredAt === undefined ? null : this.firstStoredAt - this.startedAt,
      peakRssBytes: Math.max(process.resourceUsage().maxRSS * 1024, process.memoryUsage.rss()),
      errors,
      warnings: [...this.warnings],
    };
  }
}
