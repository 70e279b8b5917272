// `sluice embed DIR --queue redis://…`: a run whose files are embedded by `sluice worker`s. It
// discovers and prunes like a single-process run, enqueues the new and changed files (bytes in
// the message), and counts the workers' results into the same summary a single-process run
// returns. Workers write the store; the coordinator holds it open as a shared writer for the
// prune and for the problems it finds itself.
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import { queueError, type Redis, redactRedisUrl, redisClient } from "@sluice/redis";
import type { EmbedConfig, EmbedConfigInput } from "../config.ts";
import type { DiscoveredFile } from "../steps/discover.ts";
import { readFileBytes } from "../steps/read.ts";
import { fileVersionHash } from "../stores/sync-plan.ts";
import type { ProgressSnapshot } from "../workflows/progress.ts";
import { StageFailure } from "../workflows/report.ts";
import {
  EmbedSession,
  type EmbedSummary,
  type EmbedWorkflowOptions,
} from "../workflows/session.ts";
import { discover } from "../workflows/steps.ts";
import {
  decodeFileResult,
  encodeFileMessage,
  type FileResult,
  queueStreams,
  WORKER_GROUP,
} from "./messages.ts";

/** Options of {@link embedDocumentsQueued}. */
export interface QueueRunOptions extends Omit<EmbedWorkflowOptions, "pool"> {
  /** The queue's Redis: `redis://host:port[/db]` (or `rediss://`). */
  readonly queue: string;
  /** The queue's name, the prefix of its streams (default `sluice`). */
  readonly queueName?: string;
  /** Called once every file is enqueued, with how many were. */
  readonly onEnqueued?: (files: number) => void;
}

/** How long a results stream outlives a run that was abandoned (Ctrl-C) before it is deleted. */
const RESULTS_TTL_S = 7 * 24 * 3600;
/** Messages per XADD round trip, and the most bytes of content in one. */
const ENQUEUE_BATCH = 64;
const ENQUEUE_BATCH_BYTES = 8 * 1024 * 1024;

/** What `readFileBytes` skips are reported as: the codes and kinds `prepareFile` gives them. */
const READ_PROBLEMS = {
  "too-large": { code: "FILE_TOO_LARGE", kind: "skipped" },
  unreadable: { code: "UNREADABLE", kind: "failed" },
} as const;

/**
 * Embeds a folder through a queue: discovers its files and removes from the store those that
 * are gone (as a single-process run does), enqueues every new or changed file on the queue's
 * files stream for `sluice worker`s (over the config's `maxFileBytes`: reported skipped, not
 * enqueued), then waits until each has a final result: stored, unchanged, skipped, or failed
 * on its last delivery. The summary counts what a single-process run would (mode `queue`).
 * The store must be Postgres (shared by the workers). Aborting `signal` stops the wait (and
 * throws its reason); the files already enqueued stay queued.
 */
export async function embedDocumentsQueued(
  input: EmbedConfigInput | EmbedConfig,
  options: QueueRunOptions,
): Promise<EmbedSummary> {
  const streams = queueStreams(options.queueName);
  const session = await EmbedSession.open(input, { ...options, sharedWriter: true });
  const redis = redisClient(options.queue);
  const where = redactRedisUrl(options.queue);
  const runId = randomUUID();
  const resultsKey = streams.results(runId);
  const run = new QueueRun(session, redis, where, streams.files, resultsKey);
  try {
    options.onStart?.(() => run.snapshot());
    await run.command("starting the results stream", () =>
      // A first entry creates the stream with an expiry: results posted after an abandoned
      // run do not stay in Redis for ever.
      redis.multi().xadd(resultsKey, "*", "start", runId).expire(resultsKey, RESULTS_TTL_S).exec(),
    );
    const files = await discover(session);
    await run.enqueue(files, runId, options.signal);
    options.onEnqueued?.(run.expected.size);
    await run.wait(options.signal);
    options.signal?.throwIfAborted();
    // Done: the run's entries and results are no longer needed.
    await run.cleanUp();
    return session.summary("queue");
  } finally {
    await redis.quit().catch(() => redis.disconnect());
    await session.close();
  }
}

/** One queue run's bookkeeping: what was enqueued, and the results that came back. */
class QueueRun {
  /** Enqueued paths, and whether their final result has come. */
  readonly expected = new Map<string, boolean>();
  private readonly entryIds: string[] = [];
  private settled = 0;
  private errors = 0;
  private pending = 0;
  private workers = 0;
  private lastResultId = "0";

  constructor(
    private readonly session: EmbedSession,
    private readonly redis: Redis,
    private readonly where: string,
    private readonly filesStream: string,
    private readonly resultsKey: string,
  ) {}

  async command<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw queueError(error, this.where, what);
    }
  }

  /**
   * Reads each discovered file and enqueues it unless the store holds this version; problems
   * found here (discovery's, oversized or unreadable files) are reported as a single-process
   * run reports them, and their stored copies go.
   */
  async enqueue(
    files: readonly DiscoveredFile[],
    runId: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const { session } = this;
    const { config } = session;
    let batch: Record<string, string>[] = [];
    let bytes = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const pipeline = this.redis.pipeline();
      for (const fields of batch)
        pipeline.xadd(this.filesStream, "*", ...Object.entries(fields).flat());
      const replies =
        (await this.command(`XADD to ${this.filesStream}`, () => pipeline.exec())) ?? [];
      for (const [error, id] of replies) {
        if (error) throw queueError(error, this.where, `XADD to ${this.filesStream}`);
        this.entryIds.push(id as string);
      }
      batch = [];
      bytes = 0;
    };
    for (const file of files) {
      signal?.throwIfAborted();
      const path = file.relativePath;
      if (file.problem !== undefined) {
        const { kind, code, message } = file.problem;
        await this.problem(path, "discover", code, message, kind);
        continue;
      }
      const read = await readFileBytes(file, { maxFileBytes: config.maxFileBytes });
      if (!read.ok) {
        const { code, kind } = READ_PROBLEMS[read.reason as keyof typeof READ_PROBLEMS] ?? {
          code: "UNREADABLE",
          kind: "failed",
        };
        await this.problem(path, "read", code, read.message, kind);
        continue;
      }
      const versionHash = fileVersionHash(read.contentHash, session.fingerprint);
      if (session.storedHashes.get(path) === versionHash) {
        session.unchanged += 1;
        session.filesDone += 1;
        continue;
      }
      this.expected.set(path, false);
      batch.push(
        encodeFileMessage({
          runId,
          results: this.resultsKey,
          path,
          settings: session.prepareSettings,
          versionHash,
          content: read.bytes,
        }),
      );
      bytes += read.bytes.length;
      if (batch.length >= ENQUEUE_BATCH || bytes >= ENQUEUE_BATCH_BYTES) await flush();
    }
    await flush();
  }

  /** A file that cannot be embedded: reported, and its stored copy removed (as `prepare` does). */
  private async problem(
    path: string,
    stage: string,
    code: string,
    message: string,
    kind: "skipped" | "failed",
  ): Promise<void> {
    await this.session.removeIfStored(path);
    this.session.filesDone += 1;
    this.errors += 1;
    this.session.recordEngineError(new StageFailure(stage, code, message, [{ path }], kind), stage);
  }

  /**
   * Reads the results stream until every enqueued file has a final result, or `signal` aborts.
   * A file can be reported twice (a worker died between reporting and acknowledging): the
   * first report counts.
   */
  async wait(signal: AbortSignal | undefined): Promise<void> {
    let nextGroupCheck = 0;
    while (this.settled < this.expected.size && !signal?.aborted) {
      if (performance.now() >= nextGroupCheck) {
        await this.readGroup();
        nextGroupCheck = performance.now() + 1_000;
      }
      const reply = (await this.command(`XREAD on ${this.resultsKey}`, () =>
        this.redis.xread("COUNT", 500, "BLOCK", 500, "STREAMS", this.resultsKey, this.lastResultId),
      )) as [string, [string, string[]][]][] | null;
      for (const [id, raw] of reply?.[0]?.[1] ?? []) {
        this.lastResultId = id;
        const fields: Record<string, string> = {};
        for (let i = 0; i + 1 < raw.length; i += 2) fields[raw[i] as string] = raw[i + 1] as string;
        const decoded = decodeFileResult(fields);
        if (decoded === undefined || this.expected.get(decoded.path) !== false) continue;
        this.expected.set(decoded.path, true);
        this.settled += 1;
        await this.apply(decoded.path, decoded.result);
      }
    }
  }

  /** Counts a file's final result as a single-process run counts that file. */
  private async apply(path: string, result: FileResult): Promise<void> {
    const { session } = this;
    switch (result.status) {
      case "stored":
        session.firstStoredAt ??= performance.now();
        session.chunks += result.chunks;
        session.embedded += result.chunks;
        session.committed += 1;
        session.filesDone += 1;
        return;
      case "unchanged":
        session.unchanged += 1;
        session.filesDone += 1;
        return;
      case "problem":
        await this.problem(path, result.stage, result.code, result.message, result.kind);
        return;
      case "failed":
        session.chunks += result.chunks;
        session.embedded += result.embedded;
        session.filesDone += 1;
        this.errors += 1;
        session.recordEntries(result.errors);
        return;
    }
  }

  /** The group's pending entries and consumers, for the progress view. */
  private async readGroup(): Promise<void> {
    try {
      const groups = (await this.redis.xinfo("GROUPS", this.filesStream)) as unknown[][];
      for (const group of groups) {
        const info = new Map<unknown, unknown>();
        for (let i = 0; i + 1 < group.length; i += 2) info.set(group[i], group[i + 1]);
        if (info.get("name") !== WORKER_GROUP) continue;
        this.pending = Number(info.get("pending") ?? 0);
        this.workers = Number(info.get("consumers") ?? 0);
      }
    } catch {
      // No group yet (no worker has started): nothing to show.
    }
  }

  /** Deletes the run's entries (all acknowledged by now) and its results stream. */
  async cleanUp(): Promise<void> {
    for (let i = 0; i < this.entryIds.length; i += 1_000) {
      const ids = this.entryIds.slice(i, i + 1_000);
      await this.command(`XDEL on ${this.filesStream}`, () =>
        this.redis.xdel(this.filesStream, ...ids),
      );
    }
    await this.command(`DEL ${this.resultsKey}`, () => this.redis.del(this.resultsKey));
  }

  snapshot(): ProgressSnapshot {
    const { session } = this;
    const enqueued = this.expected.size;
    return {
      mode: "queue",
      elapsedMs: performance.now() - session.startedAt,
      files: { total: session.filesTotal, done: session.filesDone },
      embedded: session.embedded,
      errors: this.errors,
      stages: [
        {
          key: "workers",
          in: enqueued,
          out: this.settled,
          failed: 0,
          retried: 0,
          inFlight: this.pending,
          concurrency: this.workers,
        },
      ],
    };
  }
}
