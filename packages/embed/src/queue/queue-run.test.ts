// `sluice embed --queue` + `sluice worker`, as users run them: the real CLI in child processes,
// a real redis-server, Postgres over the wire protocol (PGlite behind pglite-socket). The
// baseline is a single-process `sluice embed` of the same folder into a fresh store.
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { counts, summaryOf, useQueueHarness } from "../testing/queue-harness.ts";
import { runSluice } from "../testing/sluice-process.ts";
import { dumpPgliteDatabase } from "../testing/store-dump.ts";
import type { EmbedSummary } from "../workflows/session.ts";

const q = useQueueHarness("sluice-queue-");

const EMBEDDER = ["--embedder", "hash", "--dimensions", "32"];
const env = { ...process.env, OPENAI_API_KEY: "unused" };

/** Empties the queue store between tests (one PGlite serves them all). */
async function freshStore(): Promise<void> {
  await q.pg.db.exec("DROP TABLE IF EXISTS sluice_chunks, sluice_files, sluice_meta CASCADE");
}

const worker = (queueName: string, extra: string[] = [], onSpawn?: (c: ChildProcess) => void) =>
  q.worker(queueName, [...EMBEDDER, ...extra], onSpawn);
const coordinator = (dir: string, queueName: string, extra: string[] = []) =>
  q.coordinator(dir, queueName, [...EMBEDDER, ...extra]);
const baseline = (dir: string, extra: string[] = []) => q.baseline(dir, [...EMBEDDER, ...extra]);

/** A run's errors without timing-dependent attempt counts. */
const errorsOf = (s: EmbedSummary) => s.errors.map(({ attempts: _a, ...e }) => e);

/**
 * Waits until `n` workers are polling for the run's first file (each worker's client last
 * sent XLEN), so that none of them starts so late, on a loaded machine, that the others have
 * taken every file by then.
 */
async function untilWorkersWait(n: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const clients = String(await q.admin.client("LIST")).split("\n");
    if (clients.filter((line) => / cmd=xlen( |$)/.test(line)).length >= n) return;
    if (Date.now() > deadline) throw new Error(`${n} workers did not start polling within 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs a coordinator and `n` workers started together; returns the coordinator's result. */
async function queueRun(dir: string, queueName: string, n: number, workerFlags: string[] = []) {
  const workers = Array.from({ length: n }, () => worker(queueName, workerFlags));
  await untilWorkersWait(n);
  const result = await coordinator(dir, queueName);
  const done = await Promise.all(workers);
  for (const w of done) expect(w.code, w.stderr).toBe(0);
  return { result, workers: done };
}

describe("sluice embed --queue with sluice workers", () => {
  it("stores exactly what a single-process run stores, and reports the same summary", async () => {
    await freshStore();
    const dir = join(q.work, "corpus-120");
    await generateCorpus(dir, { files: 120, seed: 7 });
    const { result, workers } = await queueRun(dir, "q1", 2);
    expect(result.code, result.stderr).toBe(0);
    const queued = summaryOf(result);
    const single = await baseline(dir);
    expect(single.result.code).toBe(0);

    expect(queued.mode).toBe("queue");
    expect(counts(queued)).toEqual(counts(single.summary));
    expect(queued.committed).toBe(120);
    expect(queued.errors).toEqual([]);
    const dump = await dumpPgliteDatabase(q.pg.db);
    expect(dump.chunks.length).toBe(single.summary.chunks);
    // Chunks (ids, texts, lines, metadata, vectors) and committed file hashes, all equal.
    expect(dump).toEqual(single.dump);
    // Both workers took part, and the queue is left clean: the run's entries and results gone.
    const perWorker = workers.map((w) => Number(/: (\d+) files/.exec(w.stderr)?.[1] ?? 0));
    expect(perWorker.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(120);
    expect(Math.min(...perWorker)).toBeGreaterThan(0);
    expect(await q.admin.xlen("q1:files")).toBe(0);
    expect(await q.admin.keys("q1:results:*")).toEqual([]);
  }, 90_000);

  it("refuses a store that is not Postgres, before opening anything", async () => {
    const dir = join(q.work, "corpus-sqlite");
    await generateCorpus(dir, { files: 1, seed: 1 });
    const store = join(q.work, "local.db");
    const [embed, w] = await Promise.all([
      runSluice({ cwd: q.work, env }, "embed", dir, "--queue", q.redis.url, "--store", store),
      runSluice({ cwd: q.work, env }, "worker", "--queue", q.redis.url, "--store", store),
    ]);
    for (const [result, command] of [
      [embed, "sluice embed --queue"],
      [w, "sluice worker"],
    ] as const) {
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${command} needs a postgres:// store`);
      expect(result.stderr).toContain("is a sqlite store");
    }
    expect(existsSync(store)).toBe(false);
  }, 30_000);

  it("a folder with nothing to embed exits 2 and creates no table, as a single-process run does", async () => {
    await freshStore();
    const dir = join(q.work, "corpus-empty");
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "notes.txt"), "not markdown\n");
    const result = await coordinator(dir, "q-empty");
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/no files to embed/);
    const tables = await q.pg.db.query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE tablename LIKE 'sluice%'",
    );
    expect(tables.rows).toEqual([]);
  }, 30_000);

  it("a re-run enqueues only the changed file and prunes the deleted one", async () => {
    await freshStore();
    const dir = join(q.work, "corpus-rerun");
    await generateCorpus(dir, { files: 30, seed: 3 });
    const first = await queueRun(dir, "q3", 1);
    expect(first.result.code, first.result.stderr).toBe(0);

    const files = (await dumpPgliteDatabase(q.pg.db)).files;
    const paths = Object.keys(Object.values(files)[0] ?? {});
    const [changed, deleted] = [paths[4] as string, paths[9] as string];
    await writeFile(join(dir, changed), "# Changed\n\nA new paragraph about compost and mulch.\n");
    await unlink(join(dir, deleted));

    // The coordinator alone first: what it enqueued is what is on the stream.
    const seen: string[] = [];
    const watcher = (async () => {
      const deadline = Date.now() + 20_000;
      while (seen.length === 0 && Date.now() < deadline) {
        const entries = (await q.admin.xrange("q3:files", "-", "+")) as [string, string[]][];
        for (const [, fields] of entries) seen.push(fields[fields.indexOf("path") + 1] as string);
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    const run = coordinator(dir, "q3");
    await watcher;
    const w = await worker("q3");
    const result = await run;
    expect(result.code, result.stderr).toBe(0);
    expect(w.code, w.stderr).toBe(0);
    expect(seen).toEqual([changed]);
    const summary = summaryOf(result);
    expect(counts(summary)).toMatchObject({
      files: 29,
      unchanged: 28,
      committed: 1,
      removed: 1,
      failed: 0,
    });
    const after = await dumpPgliteDatabase(q.pg.db);
    const afterPaths = Object.keys(Object.values(after.files)[0] ?? {});
    expect(afterPaths).not.toContain(deleted);
    expect(afterPaths).toContain(changed);
    expect(after.chunks.some((c) => c.path === deleted)).toBe(false);
    const changedChunks = after.chunks.filter((c) => c.path === changed);
    expect(changedChunks).toHaveLength(1);
    expect(changedChunks[0]?.text).toContain("A new paragraph about compost and mulch.");
    // The same as a single-process run of the folder as it now is.
    expect(after).toEqual((await baseline(dir)).dump);
  }, 90_000);

  it("reports binary and oversized files skipped, as a single-process run does", async () => {
    await freshStore();
    const dir = join(q.work, "corpus-problems");
    await generateCorpus(dir, { files: 5, seed: 5 });
    await writeFile(join(dir, "binary.md"), Buffer.from([0x23, 0x20, 0x00, 0x01, 0x02]));
    await writeFile(join(dir, "huge.md"), `# Huge\n\n${"word ".repeat(3_000)}\n`);
    const cap = ["--config", join(q.work, "cap.json")];
    await writeFile(join(q.work, "cap.json"), JSON.stringify({ maxFileBytes: 10_000 }));
    const w = worker("q4", cap);
    const queued = await coordinator(dir, "q4", cap);
    expect((await w).code).toBe(0);
    const single = await baseline(dir, cap);
    expect(queued.code).toBe(1);
    expect(single.result.code).toBe(1);
    const summary = summaryOf(queued);
    expect(counts(summary)).toEqual(counts(single.summary));
    expect(errorsOf(summary)).toEqual(errorsOf(single.summary));
    expect(summary.errors.map((e) => [e.path, e.kind, e.code])).toEqual([
      ["binary.md", "skipped", "BINARY_FILE"],
      ["huge.md", "skipped", "FILE_TOO_LARGE"],
    ]);
    expect(await dumpPgliteDatabase(q.pg.db)).toEqual(single.dump);
  }, 90_000);
});
