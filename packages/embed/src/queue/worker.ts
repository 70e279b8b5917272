// `sluice worker`: takes files from a queue run's Redis stream and embeds them into the shared
// Postgres store with the workflow's own stages (prepareFile in the prepare pool, the batch
// options, embedBatch with the config's retry, storeBatch), so that its chunks are those of a
// single-process run. Each file's result goes to its run's results stream before the entry is
// acknowledged: a worker that dies in between reports it again on redelivery.

import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import {
  type EntrySettlement,
  queueError,
  type Redis,
  redactRedisUrl,
  redisClient,
  redisStreamSource,
  type StreamEntry,
} from "@sluice/redis";
import { createStep, StreamingPipeline } from "sluice";
import {
  type EmbedConfig,
  type EmbedConfigInput,
  embedderSettings,
  type ParseConfigOptions,
  parseEmbedConfig,
} from "../config.ts";
import { createEmbedder } from "../embedders/create.ts";
import type { Embedder } from "../embedders/embedder.ts";
import { openVectorStore } from "../stores/open.ts";
import type { ChunkRecord, VectorStore } from "../stores/vector-store.ts";
import { drainRun } from "../workflows/drain-run.ts";
import { fileKey, type PendingFile, PendingFiles } from "../workflows/pending-files.ts";
import type { ChunkItem } from "../workflows/prepare-file.ts";
import { type PreparePool, prepareConcurrency, preparePoolFor } from "../workflows/prepare-pool.ts";
import { type ErrorEntry, entriesOf, StageFailure } from "../workflows/report.ts";
import {
  batchOptions,
  embedBatch,
  embedLimits,
  embedRetry,
  prepareOutcome,
  storeBatch,
} from "../workflows/steps.ts";
import {
  decodeFileMessage,
  encodeFileResult,
  type FileMessage,
  type FileResult,
  queueStreams,
  WORKER_GROUP,
} from "./messages.ts";

/** Options of {@link runQueueWorker}. */
export interface QueueWorkerOptions extends ParseConfigOptions {
  /** The queue's Redis: `redis://host:port[/db]` (or `rediss://`). */
  readonly queue: string;
  /** The queue's name, the prefix of its streams (default `sluice`). */
  readonly queueName?: string;
  /** This worker's name in the consumer group; default `<host>:<pid>`. */
  readonly consumer?: string;
  /** Claim files another worker left pending this long (a dead worker's); default 60,000 ms. */
  readonly claimIdleMs?: number;
  /** A file that failed on this many deliveries is reported failed and dead-lettered; default 5. */
  readonly maxDeliveries?: number;
  /**
   * End once the queue is drained (nothing new, nothing pending), after waiting for its first
   * file if it starts empty; default: wait for more.
   */
  readonly exitWhenIdle?: boolean;
  /** Longest blocking read while the queue is idle; default 2,000 ms. */
  readonly blockMs?: number;
  /**
   * A graceful stop (SIGTERM): read nothing more, finish and acknowledge the files read, then
   * resolve. What was not read stays queued for the other workers.
   */
  readonly endSignal?: AbortSignal;
  /** A hard stop: work in flight is abandoned and stays pending, to be claimed by others. */
  readonly signal?: AbortSignal;
  /** Use this embedder instead of the config's (its id must match the store's). */
  readonly embedder?: Embedder;
  /** Prepare files in this pool (the caller's to close); default one from the config. */
  readonly pool?: PreparePool;
  /** Called once per file settled here: its path and what was reported. */
  readonly onResult?: (path: string, result: FileResult, final: boolean) => void;
}

/** What a worker did, when it stops. */
export interface QueueWorkerSummary {
  readonly consumer: string;
  /** Files whose result this worker reported (each delivery counts). */
  readonly files: number;
  readonly stored: number;
  readonly unchanged: number;
  /** Files reported not embeddable (binary, too large, ...). */
  readonly skipped: number;
  /** Files reported failed after their last delivery. */
  readonly failed: number;
  /** Deliveries that failed and were left pending for another attempt. */
  readonly retried: number;
  /** Chunks this worker stored. */
  readonly embedded: number;
  readonly durationMs: number;
}

/** One delivery of one file, from its read to its acknowledgement. */
interface FileDelivery {
  readonly message: FileMessage;
  readonly key: string;
  result: FileResult | undefined;
  chunks: number;
  embedded: number;
  readonly errors: ErrorEntry[];
  /** Resolves once the delivery is settled (acknowledged, left pending or dead). */
  readonly settled: Promise<void>;
  readonly settle: () => void;
}

/** A file whose chunks are on their way to the store: it commits when the last one is stored. */
interface OpenFile extends PendingFile {
  readonly versionHash: string;
  readonly delivery: FileDelivery;
}

/**
 * A worker's state, and the context its stages see: what `embedBatch` and `storeBatch` need of
 * an `EmbedSession` (embedder, store, `stopRun`, `stored`), plus the deliveries in flight.
 */
class WorkerSession {
  fatal: Error | undefined;
  private readonly stopper = new AbortController();
  readonly runSignal: AbortSignal;
  private readonly active = new Map<string, FileDelivery>();
  private readonly byEntry = new WeakMap<StreamEntry, FileDelivery>();
  private readonly open = new PendingFiles<OpenFile>();
  /** Per collection, the committed hashes as of a run's first message here. */
  private readonly hashes = new Map<
    string,
    { runId: string; hashes: Promise<Map<string, string>> }
  >();
  private temp = 0;
  readonly counts = { files: 0, stored: 0, unchanged: 0, skipped: 0, failed: 0, retried: 0 };
  embedded = 0;

  constructor(
    readonly config: EmbedConfig,
    readonly embedder: Embedder,
    readonly store: VectorStore,
    private readonly redis: Redis,
    private readonly where: string,
    private readonly tempDir: string,
    readonly signal: AbortSignal | undefined,
    private readonly onResult: QueueWorkerOptions["onResult"],
  ) {
    this.runSignal = signal ? AbortSignal.any([signal, this.stopper.signal]) : this.stopper.signal;
  }

  /** Ends the run for a failure every file would meet (see `EmbedSession.stopRun`). */
  stopRun(error: Error): void {
    this.fatal ??= error;
    this.stopper.abort(error);
  }

  /**
   * prepare: the message's bytes in a private temporary file, through the same `prepareFile`
   * as a single-process run, with the coordinator's settings. A file the store already holds
   * in this version, or cannot embed, yields nothing and is reported when acknowledged.
   */
  async prepare(entry: StreamEntry, pool: PreparePool | undefined, signal: AbortSignal) {
    const message = decodeFileMessage(entry.fields);
    const key = fileKey(message.settings.collection, message.path);
    // One delivery of a file at a time here (a file claimed back while still in flight): the
    // next waits, then finds it committed or does it again.
    for (let busy = this.active.get(key); busy; busy = this.active.get(key)) await busy.settled;
    let settle = () => {};
    const settled = new Promise<void>((resolve) => {
      settle = resolve;
    });
    const delivery: FileDelivery = {
      message,
      key,
      result: undefined,
      chunks: 0,
      embedded: 0,
      errors: [],
      settled,
      settle,
    };
    this.active.set(key, delivery);
    this.byEntry.set(entry, delivery);
    const storedHash = (await this.storedHashes(message)).get(message.path);
    if (storedHash === message.versionHash) {
      delivery.result = { status: "unchanged" };
      return [];
    }
    const absolutePath = join(this.tempDir, `${++this.temp}.md`);
    let outcome: Awaited<ReturnType<typeof prepareOutcome>>;
    try {
      await writeFile(absolutePath, message.content);
      outcome = await prepareOutcome(
        { absolutePath, relativePath: message.path, storedHash, settings: message.settings },
        this,
        pool,
        signal,
      );
    } catch (error) {
      throw StageFailure.wrap("prepare", "PREPARE_FAILED", error, [{ path: message.path }]);
    } finally {
      await rm(absolutePath, { force: true });
    }
    switch (outcome.type) {
      case "unchanged":
        delivery.result = { status: "unchanged" };
        return [];
      case "problem": {
        const { type: _type, ...problem } = outcome;
        delivery.result = { status: "problem", ...problem };
        return [];
      }
      case "chunks": {
        const ids = outcome.items.map((item: ChunkItem) => item.draft.id);
        delivery.chunks = ids.length;
        delivery.result = { status: "stored", chunks: ids.length };
        const file = {
          collection: message.settings.collection,
          path: message.path,
          versionHash: outcome.versionHash,
          ids,
          delivery,
        };
        if (ids.length === 0) await this.commit(file);
        else this.open.add(file);
        return outcome.items;
      }
    }
  }

  /** Records stored chunks and commits every file that is now complete (as `EmbedSession`). */
  async stored(records: readonly ChunkRecord[]): Promise<void> {
    this.embedded += records.length;
    const complete = this.open.stored(records, (file) => {
      file.delivery.embedded += 1;
    });
    for (const file of complete) await this.commit(file);
  }

  private async commit(file: OpenFile): Promise<void> {
    try {
      await this.store.commitFile(file.collection, file.path, file.versionHash, file.ids);
    } catch (error) {
      // Fails the batch: its files are delivered again, and upserts make that harmless.
      throw StageFailure.wrap("commit", "COMMIT_FAILED", error, [{ path: file.path }]);
    }
    const cached = this.hashes.get(file.collection);
    if (cached?.runId === file.delivery.message.runId) {
      (await cached.hashes).set(file.path, file.versionHash);
    }
  }

  private storedHashes(message: FileMessage): Promise<Map<string, string>> {
    const { collection } = message.settings;
    let cached = this.hashes.get(collection);
    if (cached?.runId !== message.runId) {
      cached = { runId: message.runId, hashes: this.store.fileHashes(collection) };
      // A failed read is retried by the next message, not cached.
      cached.hashes.catch(() => this.hashes.delete(collection));
      this.hashes.set(collection, cached);
    }
    return cached.hashes;
  }

  /** A failure the engine recorded (SPLIT_ERRORS): kept for the files it names. */
  recordError(error: unknown, stageKey: string | undefined): void {
    for (const entry of entriesOf(error, stageKey)) {
      for (const delivery of this.active.values()) {
        if (delivery.message.path === entry.path) delivery.errors.push(entry);
      }
    }
  }

  /**
   * Before an entry is acknowledged (or left pending, or dead-lettered): reports its result on
   * its run's results stream, unless it failed and will be delivered again.
   */
  async settle(entry: StreamEntry, { outcome, error, final }: EntrySettlement): Promise<void> {
    const delivery = this.byEntry.get(entry);
    try {
      let message = delivery?.message;
      if (message === undefined) {
        // Never prepared here: dead on arrival (too many deliveries), or not a file message.
        try {
          message = decodeFileMessage(entry.fields);
        } catch {
          return;
        }
      }
      if (outcome === "failed" && !final) {
        this.counts.retried += 1;
        return;
      }
      const result =
        outcome === "failed"
          ? await this.failure(message, delivery, error)
          : (delivery?.result ?? { status: "stored", chunks: delivery?.chunks ?? 0 });
      try {
        await this.redis.xadd(
          message.results,
          "*",
          ...Object.entries(encodeFileResult(message.path, result)).flat(),
        );
      } catch (cause) {
        throw queueError(cause, this.where, `XADD to ${message.results}`);
      }
      this.count(result);
      this.onResult?.(message.path, result, true);
    } finally {
      if (delivery !== undefined) {
        if (this.active.get(delivery.key) === delivery) this.active.delete(delivery.key);
        const { path, settings } = delivery.message;
        if (this.open.get(settings.collection, path)?.delivery === delivery) {
          this.open.delete(settings.collection, path);
        }
        delivery.settle();
      }
    }
  }

  /** The final `failed` result: every chunk error this delivery met, as a single run lists them. */
  private async failure(
    message: FileMessage,
    delivery: FileDelivery | undefined,
    error: unknown,
  ): Promise<FileResult> {
    // The engine hands the last failure to the ack as it records it in run.errors: let the
    // loop reading run.errors take it first.
    await new Promise((resolve) => setImmediate(resolve));
    const mine = (entries: readonly ErrorEntry[]) => entries.filter((e) => e.path === message.path);
    const seen = new Set<string>();
    const errors: ErrorEntry[] = [];
    for (const entry of [...mine(delivery?.errors ?? []), ...mine(entriesOf(error, undefined))]) {
      const id = `${entry.chunkId ?? ""}\u0000${entry.stage}\u0000${entry.code}`;
      if (!seen.has(id)) {
        seen.add(id);
        errors.push(entry);
      }
    }
    if (errors.length === 0) {
      errors.push({
        kind: "failed",
        path: message.path,
        stage: "queue",
        code: "DEAD_LETTERED",
        message: error instanceof Error ? error.message : String(error),
      });
    }
    return {
      status: "failed",
      chunks: delivery?.chunks ?? 0,
      embedded: delivery?.embedded ?? 0,
      errors,
    };
  }

  private count(result: FileResult): void {
    this.counts.files += 1;
    if (result.status === "stored") this.counts.stored += 1;
    else if (result.status === "unchanged") this.counts.unchanged += 1;
    else if (result.status === "problem" && result.kind === "skipped") this.counts.skipped += 1;
    else this.counts.failed += 1;
  }
}

/**
 * Runs a queue worker until its queue is drained (`exitWhenIdle`), its `endSignal` (finish what
 * was read) or its `signal` (abandon it): files from the queue's stream, in the consumer group
 * `sluice-workers`, are prepared, batched across files, embedded and stored into the config's
 * store, opened as a shared writer (Postgres only). At-least-once: a file may be done twice
 * (a worker that died after storing it), never lost; upserts by chunk id keep the store exact.
 */
export async function runQueueWorker(
  input: EmbedConfigInput | EmbedConfig,
  options: QueueWorkerOptions,
): Promise<QueueWorkerSummary> {
  const startedAt = performance.now();
  const config = parseEmbedConfig(input, options);
  const streams = queueStreams(options.queueName);
  const consumer = options.consumer ?? `${hostname()}:${process.pid}`;
  const embedder = options.embedder ?? createEmbedder(config.embedder);
  const closers: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of closers.reverse()) await close().catch(() => undefined);
  };
  if (options.embedder === undefined) closers.push(async () => embedder.close?.());
  let session: WorkerSession;
  let redis: Redis;
  let pool: PreparePool | undefined;
  try {
    const store = await openVectorStore(config.store, {
      mode: "write",
      shared: true,
      identity: {
        embedderId: embedder.id,
        dimensions: embedder.dimensions,
        ...(options.embedder === undefined ? { embedder: embedderSettings(config.embedder) } : {}),
      },
    });
    closers.push(() => store.close());
    const client = redisClient(options.queue);
    redis = client;
    closers.push(() => client.quit().catch(() => client.disconnect()));
    const tempDir = await mkdtemp(join(tmpdir(), "sluice-worker-"));
    closers.push(() => rm(tempDir, { recursive: true, force: true }));
    session = new WorkerSession(
      config,
      embedder,
      store,
      redis,
      redactRedisUrl(options.queue),
      tempDir,
      options.signal,
      options.onResult,
    );
    pool = options.pool ?? preparePoolFor(config, session.runSignal);
    if (options.pool === undefined && pool !== undefined) {
      const own = pool;
      closers.push(() => own.close());
    }
    pool?.warmUp();
  } catch (error) {
    await closeAll();
    throw error;
  }
  try {
    // Drained means after a run's files came: a worker started before the coordinator waits
    // for the first of them rather than finding the queue empty and leaving at once.
    if (options.exitWhenIdle && !(await firstFile(redis, streams.files, options))) {
      return {
        consumer,
        ...session.counts,
        embedded: 0,
        durationMs: performance.now() - startedAt,
      };
    }
    const source = redisStreamSource({
      // The worker's own client: acknowledgements keep working until the run has settled them.
      connection: redis,
      stream: streams.files,
      group: WORKER_GROUP,
      consumer,
      ...(options.claimIdleMs === undefined ? {} : { claimIdleMs: options.claimIdleMs }),
      ...(options.maxDeliveries === undefined ? {} : { maxDeliveries: options.maxDeliveries }),
      ...(options.blockMs === undefined ? {} : { blockMs: options.blockMs }),
      exitWhenIdle: options.exitWhenIdle ?? false,
      ...(options.endSignal ? { endSignal: options.endSignal } : {}),
      beforeAck: (entry, settled) => session.settle(entry, settled),
    });
    const prepared = pool;
    const run = StreamingPipeline.start<StreamEntry, WorkerSession>(() => session, {
      errorStrategy: "SPLIT_ERRORS",
    })
      .flatMap("prepare", (entry, ctx) => session.prepare(entry, prepared, ctx.signal), {
        concurrency: prepareConcurrency(config, prepared),
        ordered: false,
      })
      .batch("batch", batchOptions(config))
      .map(
        "embed",
        createStep<ChunkItem[], ChunkRecord[], {}, WorkerSession>(
          "embed",
          ({ input, context, signal }) => embedBatch(input, context, signal),
          { retry: embedRetry(config) },
        ),
        {
          // Rate limits and adaptive concurrency as in a single-process run.
          ...embedLimits(config),
          ordered: false,
          buffer: config.embedder.concurrency,
        },
      )
      .map(
        "store",
        createStep<ChunkRecord[], number, {}, WorkerSession>("store", ({ input, context }) =>
          storeBatch(input, context),
        ),
      )
      .executeFrom(source, { signal: session.runSignal });
    await drainRun(run, session, (error, key) => session.recordError(error, key));
    return {
      consumer,
      ...session.counts,
      embedded: session.embedded,
      durationMs: performance.now() - startedAt,
    };
  } finally {
    await closeAll();
  }
}

/** Waits until the files stream holds an entry; false when stopped first. */
async function firstFile(
  redis: Redis,
  stream: string,
  options: Pick<QueueWorkerOptions, "endSignal" | "signal" | "queue">,
): Promise<boolean> {
  for (;;) {
    if (options.endSignal?.aborted || options.signal?.aborted) return false;
    let length: number;
    try {
      length = await redis.xlen(stream);
    } catch (error) {
      throw queueError(error, redactRedisUrl(options.queue), `XLEN on ${stream}`);
    }
    if (length > 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
