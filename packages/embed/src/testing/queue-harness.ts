/**
 * What the queue-mode tests share: a real redis-server, Postgres over the wire protocol
 * (PGlite behind pglite-socket), a work folder, and the `sluice` CLI run as users run it: a
 * coordinator (`embed --queue`), workers (`worker --queue`) and a single-process baseline.
 */
import type { ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Redis, redisClient } from "@sluice/redis";
import { afterAll, beforeAll } from "vitest";
import { type RedisServer, startRedisServer } from "../../../redis/src/testing/redis-server.ts";
import type { EmbedSummary } from "../workflows/session.ts";
import { type PostgresEndpoint, startPostgresEndpoint } from "./postgres-endpoint.ts";
import { type CliResult, runSluice } from "./sluice-process.ts";
import { dumpPgliteStore } from "./store-dump.ts";

/** The servers, a client on Redis, and the three ways of running the CLI. */
export interface QueueHarness {
  readonly redis: RedisServer;
  readonly admin: Redis;
  readonly pg: PostgresEndpoint;
  readonly work: string;
  /** A worker that exits when the queue is drained; `args` carry the embedder flags. */
  worker(
    queueName: string,
    args: string[],
    onSpawn?: (child: ChildProcess) => void,
  ): Promise<CliResult>;
  /** `sluice embed <dir> --queue … --json`. */
  coordinator(dir: string, queueName: string, args: string[]): Promise<CliResult>;
  /** A single-process `sluice embed` of the folder into a fresh PGlite folder store. */
  baseline(
    dir: string,
    args: string[],
  ): Promise<{ store: string; result: CliResult; summary: EmbedSummary; dump: unknown }>;
  /** Stops the servers and removes the work folder. */
  close(): Promise<void>;
}

const env = { ...process.env, OPENAI_API_KEY: "unused" };

/** Starts the servers; `close()` in the test file's `afterAll`. */
export async function startQueueHarness(prefix: string): Promise<QueueHarness> {
  const [redis, pg] = await Promise.all([startRedisServer(), startPostgresEndpoint()]);
  const admin = redisClient(redis.url);
  const work = await mkdtemp(join(tmpdir(), prefix));
  let baselines = 0;
  return {
    redis,
    admin,
    pg,
    work,
    worker: (queueName, args, onSpawn) =>
      runSluice(
        { cwd: work, env, ...(onSpawn ? { onSpawn } : {}) },
        "worker",
        "--queue",
        redis.url,
        "--queue-name",
        queueName,
        "--store",
        pg.url,
        "--exit-when-idle",
        "--threads",
        "1",
        ...args,
      ),
    coordinator: (dir, queueName, args) =>
      runSluice(
        { cwd: work, env },
        "embed",
        dir,
        "--queue",
        redis.url,
        "--queue-name",
        queueName,
        "--store",
        pg.url,
        "--json",
        ...args,
      ),
    async baseline(dir, args) {
      const store = join(work, `baseline-${++baselines}`);
      const result = await runSluice(
        { cwd: work, env },
        "embed",
        dir,
        "--store",
        store,
        "--store-kind",
        "pglite",
        "--json",
        ...args,
      );
      return { store, result, summary: summaryOf(result), dump: await dumpPgliteStore(store) };
    },
    async close() {
      await admin.quit();
      await Promise.all([redis.stop(), pg.stop()]);
      await rm(work, { recursive: true, force: true });
    },
  };
}

/** A run's `--json` summary, or an error that shows what the run printed instead. */
export function summaryOf(result: CliResult): EmbedSummary {
  try {
    return JSON.parse(result.stdout) as EmbedSummary;
  } catch {
    throw new Error(`no JSON summary (exit ${result.code}): ${result.stderr}`);
  }
}

/** The counts two runs must agree on (not timings). */
export function counts(s: EmbedSummary) {
  const { files, unchanged, chunks, embedded, skipped, failed, failedChunks, removed, committed } =
    s;
  return { files, unchanged, chunks, embedded, skipped, failed, failedChunks, removed, committed };
}

/**
 * The harness of the calling test file: started before its first test, closed after its last.
 * What it returns can be captured at the top of the file and used inside the tests.
 */
export function useQueueHarness(prefix: string): QueueHarness {
  let started: QueueHarness | undefined;
  beforeAll(async () => {
    started = await startQueueHarness(prefix);
  }, 60_000);
  afterAll(async () => {
    await started?.close();
  });
  const harness = (): QueueHarness => {
    if (started === undefined) throw new Error("the queue harness is used before it started");
    return started;
  };
  return {
    get redis() {
      return harness().redis;
    },
    get admin() {
      return harness().admin;
    },
    get pg() {
      return harness().pg;
    },
    get work() {
      return harness().work;
    },
    worker: (...args) => harness().worker(...args),
    coordinator: (...args) => harness().coordinator(...args),
    baseline: (...args) => harness().baseline(...args),
    close: () => harness().close(),
  };
}
