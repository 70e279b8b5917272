// What happens to a queue run when things go wrong: a worker SIGKILLed mid-run, an embedding
// endpoint that fails every request, and a plain `sluice embed` on a store a queue run is
// writing. Real parts throughout: the `sluice` CLI, redis-server, Postgres over the wire
// protocol (PGlite) and, for the lock, a real Postgres server when this machine has one.
import type { ChildProcess } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { acquirePostgresWriterLock } from "../stores/postgres.ts";
import {
  type EmbeddingServerProcess,
  startEmbeddingServerProcess,
} from "../testing/embedding-server-process.ts";
import { counts, summaryOf, useQueueHarness } from "../testing/queue-harness.ts";
import {
  findRealPostgres,
  type RealPostgres,
  startRealPostgres,
} from "../testing/real-postgres.ts";
import { type CliResult, runSluice } from "../testing/sluice-process.ts";
import { dumpPgliteDatabase } from "../testing/store-dump.ts";
import type { EmbedSummary } from "../workflows/session.ts";

const q = useQueueHarness("sluice-queue-faults-");

const env = { ...process.env, OPENAI_API_KEY: "unused" };
const openai = (url: string) => [
  "--embedder",
  "openai",
  "--endpoint",
  url,
  "--model",
  "test-model",
  "--dimensions",
  "32",
];

/** Pending entries per consumer of the workers' group. */
async function pendingBy(stream: string): Promise<Map<string, number>> {
  const summary = (await q.admin.xpending(stream, "sluice-workers").catch(() => [0])) as [
    number,
    unknown,
    unknown,
    [string, string][] | null,
  ];
  return new Map((summary[3] ?? []).map(([name, n]) => [name, Number(n)]));
}

describe("a queue run's failures", () => {
  let embedding: EmbeddingServerProcess;
  beforeAll(async () => {
    // Every request takes 100 ms: the run lasts long enough to kill a worker in the middle.
    embedding = await startEmbeddingServerProcess({ latencyMs: 100, dimensions: 32 });
  }, 60_000);
  afterAll(async () => {
    await embedding?.close();
  });

  it("a worker SIGKILLed mid-run loses nothing: the store equals a single-process run's, and so does a search", async () => {
    const dir = join(q.work, "corpus-kill");
    await generateCorpus(dir, { files: 120, seed: 11 });
    // Two chunks a request at 100 ms: about 9 s of work for 4 workers, 36 s for one.
    const flags = [...openai(embedding.url), "--batch-size", "2", "--embed-concurrency", "1"];
    const workerFlags = [...flags, "--claim-idle", "3000"];
    let victim: ChildProcess | undefined;
    const victimRun = q.worker("kill", [...workerFlags, "--consumer", "victim"], (c) => {
      victim = c;
    });
    const run = q.coordinator(dir, "kill", flags);
    let others: ReturnType<typeof q.worker>[] = [];

    // The victim works alone until it holds files and has reported results (its store is
    // open: PGlite's one shared session does not take a client killed in the middle of
    // opening well, which a Postgres server would). Only then do the other workers start,
    // so on a machine of any speed the victim has work in hand when it is killed; it is
    // killed once every other worker reads too (their stores open).
    let heldAtKill = 0;
    let state = "";
    const deadline = Date.now() + 60_000;
    for (;;) {
      const results = await q.admin.keys("kill:results:*");
      const reported = results[0] ? await q.admin.xlen(results[0]) : 0;
      heldAtKill = (await pendingBy("kill:files")).get("victim") ?? 0;
      const consumers = (
        (await q.admin
          .xinfo("CONSUMERS", "kill:files", "sluice-workers")
          .catch(() => [])) as unknown[]
      ).length;
      state = `reported ${reported}, victim holds ${heldAtKill}, ${consumers} consumers, others started: ${others.length > 0}`;
      if (others.length === 0 && reported > 0 && heldAtKill > 0)
        others = Array.from({ length: 3 }, (_, i) =>
          q.worker("kill", [...workerFlags, "--consumer", `w${i}`]),
        );
      if (others.length > 0 && heldAtKill > 0 && consumers === 4) break;
      if (Date.now() > deadline) throw new Error(`the run never got going: ${state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    victim?.kill("SIGKILL");
    const killed = await victimRun;
    expect(killed.code).toBeNull();
    expect(heldAtKill).toBeGreaterThan(0);

    const result = await run;
    expect(result.code, `${result.stderr}${result.stdout.slice(0, 3000)}`).toBe(0);
    for (const w of await Promise.all(others)) expect(w.code, w.stderr).toBe(0);
    const queued = summaryOf(result);
    expect(queued.committed).toBe(120);

    // Batch sizes and concurrency change neither chunk ids nor vectors: the baseline runs fast.
    const single = await q.baseline(dir, openai(embedding.url));
    expect(counts(queued)).toEqual(counts(single.summary));
    expect(await dumpPgliteDatabase(q.pg.db)).toEqual(single.dump);
    for (const query of ["backpressure in a stream operator"]) {
      const search = (store: string[]) =>
        runSluice({ cwd: q.work, env }, "search", query, "--json", "-k", "5", ...store);
      const [a, b] = await Promise.all([
        search(["--store", q.pg.url]),
        search(["--store", single.store, "--store-kind", "pglite"]),
      ]);
      expect(a.code, a.stderr).toBe(0);
      const hits = (r: CliResult) =>
        (JSON.parse(r.stdout) as { results: { path: string; text: string }[] }).results.map(
          (h) => `${h.path}|${h.text}`,
        );
      expect(hits(a)).toEqual(hits(b));
      expect(hits(a)).toHaveLength(5);
    }
  }, 120_000);
});

describe("an embedding endpoint that fails every request", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "model not found", type: "invalid_request" } }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
  });

  it("ends with the files reported failed after maxDeliveries, dead-lettered, exit 1 like a single-process run", async () => {
    await q.pg.db.exec("DROP TABLE IF EXISTS sluice_chunks, sluice_files, sluice_meta CASCADE");
    const dir = join(q.work, "corpus-failing");
    await generateCorpus(dir, { files: 4, seed: 2 });
    const flags = [...openai(url), "--batch-size", "1000"];
    const w = q.worker("fail", [...flags, "--max-deliveries", "2", "--claim-idle", "1000"]);
    const result = await q.coordinator(dir, "fail", flags);
    const done = await w;
    expect(done.code, done.stderr).toBe(0);
    // Delivered, failed and left pending, then delivered again and reported failed.
    expect(done.stderr).toMatch(/[1-9]\d* failed; [1-9]\d* deliveries left for a retry/);
    const single = await q.baseline(dir, flags);

    expect(result.code).toBe(1);
    expect(single.result.code).toBe(1);
    const queued = summaryOf(result);
    expect(counts(queued)).toEqual(counts(single.summary));
    expect(queued.failed).toBe(4);
    const strip = (s: EmbedSummary) => s.errors.map(({ attempts: _a, ...e }) => e);
    expect(strip(queued)).toEqual(strip(single.summary));
    // Each failed file went to the dead-letter stream with its last error.
    const dead = (await q.admin.xrange("fail:files:dead", "-", "+")) as [string, string[]][];
    expect(dead).toHaveLength(4);
    for (const [, fields] of dead) {
      expect(fields[fields.indexOf("sluice:deliveries") + 1]).toBe("2");
      expect(fields[fields.indexOf("sluice:error") + 1]).toMatch(/model not found|400/);
    }
  }, 60_000);
});

const realPostgres = findRealPostgres();

describe.skipIf(realPostgres === undefined)("the writer lock, on a real Postgres server", () => {
  let server: RealPostgres;
  beforeAll(async () => {
    server = await startRealPostgres(realPostgres as NonNullable<typeof realPostgres>);
  }, 60_000);
  afterAll(() => server?.stop());

  it("refuses a plain sluice embed while a queue run writes, and a worker while a plain run does", async () => {
    const dir = join(q.work, "corpus-lock");
    await generateCorpus(dir, { files: 2, seed: 1 });
    const queueRun = await acquirePostgresWriterLock(server.url, "sluice_", { shared: true });
    try {
      const plain = await runSluice(
        { cwd: q.work, env },
        "embed",
        dir,
        "--store",
        server.url,
        "--embedder",
        "hash",
      );
      expect(plain.code).toBe(2);
      expect(plain.stderr).toContain("is being written by a queue run");
      expect(plain.stderr).not.toContain("secret");
    } finally {
      await queueRun.release();
    }
    const single = await acquirePostgresWriterLock(server.url, "sluice_");
    try {
      const w = await runSluice(
        { cwd: q.work, env },
        "worker",
        "--queue",
        q.redis.url,
        "--store",
        server.url,
        "--embedder",
        "hash",
      );
      expect(w.code).toBe(2);
      expect(w.stderr).toContain('another "sluice embed" is writing to it');
    } finally {
      await single.release();
    }
  }, 60_000);
});
