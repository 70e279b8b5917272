/**
 * Scale-out of the embed workflow over a Redis queue (issue 20): the same corpus embedded by a
 * `sluice embed --queue` coordinator and 1, 2 and 4 `sluice worker` processes, in one run:
 *
 * ```sh
 * npm run bench:embed-scale-out -w bench -- [--files 1000] [--latency 100] [--workers 1,2,4]
 *   [--out DIR] [--note TEXT]
 * ```
 *
 * I/O-bound on purpose: the embedding endpoint is a loopback OpenAI-compatible server (a child
 * process of its own) answering every request after `--latency` ms, and each worker sends at
 * most 2 requests of 8 chunks at once, so one worker waits on the endpoint most of the time and
 * N workers are N times as many requests in flight. The store is Postgres over the wire
 * protocol (PGlite behind pglite-socket, in this process), the queue a real `redis-server`.
 *
 * For each worker count: a fresh store and queue; the workers are started first and given 8 s to
 * start and wait for the first file (their start-up is not the run's), then the coordinator is
 * timed from spawn to exit (its own start-up, discovery, enqueueing and the wait for every
 * result). Each run must commit every file. Target: 4 workers at least 2.5x faster than 1.
 * Writes `results/embed-scale-out.json` and `.md` (or under `--out`) and prints the markdown.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { generateCorpus } from "../packages/embed/src/corpus/generate.ts";
import { startEmbeddingServerProcess } from "../packages/embed/src/testing/embedding-server-process.ts";
import { startQueueHarness } from "../packages/embed/src/testing/queue-harness.ts";
import type { CliResult } from "../packages/embed/src/testing/sluice-process.ts";
import type { EmbedSummary } from "../packages/embed/src/workflows/session.ts";
import { machineInfo } from "./machine.ts";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "1000" },
    latency: { type: "string", default: "100" },
    workers: { type: "string", default: "1,2,4" },
    out: { type: "string" },
    note: { type: "string" },
  },
});
const files = Number(values.files);
const latencyMs = Number(values.latency);
const counts = (values.workers as string).split(",").map(Number);
const outDir = resolve(values.out ?? fileURLToPath(new URL("./results", import.meta.url)));
const TARGET = 2.5;
/** Time the workers get to start (tsx, store, Redis) before the coordinator is started. */
const HEAD_START_MS = 8_000;

/** One measured worker count. */
interface Row {
  readonly workers: number;
  readonly wallMs: number;
  readonly committed: number;
  readonly chunks: number;
  readonly requests: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

async function main(): Promise<void> {
  const [h, embedding] = await Promise.all([
    startQueueHarness("sluice-scale-out-"),
    startEmbeddingServerProcess({ latencyMs, dimensions: 64 }),
  ]);
  const corpus = join(h.work, "corpus");
  const embedder = [
    "--embedder",
    "openai",
    "--endpoint",
    embedding.url,
    "--model",
    "bench-model",
    "--dimensions",
    "64",
  ];
  const rows: Row[] = [];
  try {
    await generateCorpus(corpus, { files, seed: 7 });
    for (const n of counts) {
      await h.pg.db.exec("DROP TABLE IF EXISTS sluice_chunks, sluice_files, sluice_meta CASCADE");
      const queue = `bench-${n}`;
      const before = (await embedding.load()).requests;
      const workers: Promise<CliResult>[] = [];
      let exited: CliResult | undefined;
      for (let i = 0; i < n; i++) {
        // The harness's workers: one prepare thread, exiting once the queue is drained.
        workers.push(
          h.worker(queue, [
            "--batch-size",
            "8",
            "--embed-concurrency",
            "2",
            "--quiet",
            ...embedder,
          ]),
        );
      }
      for (const w of workers) {
        void w.then((r) => {
          exited ??= r;
        });
      }
      // Every worker is up (store open, waiting for the first file) before the clock starts.
      const upBy = Date.now() + HEAD_START_MS;
      while (Date.now() < upBy) {
        if (exited !== undefined) {
          throw new Error(`a worker exited before the run (${exited.code}): ${exited.stderr}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const started = performance.now();
      const result = await h.coordinator(corpus, queue, embedder);
      const wallMs = performance.now() - started;
      for (const w of await Promise.all(workers)) {
        if (w.code !== 0) throw new Error(`a worker failed (${w.code}): ${w.stderr}`);
      }
      if (result.code !== 0) throw new Error(`the coordinator failed: ${result.stderr}`);
      const summary = JSON.parse(result.stdout) as EmbedSummary;
      if (summary.committed !== files) {
        throw new Error(`${n} workers committed ${summary.committed} of ${files} files`);
      }
      const requests = (await embedding.load()).requests - before;
      rows.push({
        workers: n,
        wallMs,
        committed: summary.committed,
        chunks: summary.chunks,
        requests,
      });
      log(`${n} worker(s): ${(wallMs / 1000).toFixed(2)} s, ${requests} requests`);
    }
  } finally {
    await embedding.close();
    await h.close();
  }
  const base = rows.find((r) => r.workers === 1)?.wallMs;
  const machine = machineInfo();
  const lines = [
    "## Embed scale-out over Redis (`sluice embed --queue` + `sluice worker`)",
    "",
    `${files} generated files; a loopback embedding endpoint answering each request after ${latencyMs} ms; ` +
      "each worker: 8 chunks per request, 2 requests at once, 1 prepare thread; Postgres over the wire " +
      "protocol (PGlite); wall time of the coordinator from spawn to exit, the workers already started.",
    "",
    "| workers | wall time | speed-up over 1 | files committed | chunks | requests |",
    "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map(
      (r) =>
        `| ${r.workers} | ${(r.wallMs / 1000).toFixed(2)} s | ${base ? `${(base / r.wallMs).toFixed(2)}x` : "-"} | ${r.committed} | ${r.chunks} | ${r.requests} |`,
    ),
    "",
  ];
  const four = rows.find((r) => r.workers === 4);
  if (base !== undefined && four !== undefined) {
    const speedUp = base / four.wallMs;
    lines.push(
      `Target: 4 workers at least ${TARGET}x faster than 1: ${speedUp.toFixed(2)}x, ${speedUp >= TARGET ? "met" : "not met"}.`,
      "",
    );
  }
  lines.push(
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load ${machine.loadAverage.join(" / ")}.`,
  );
  if (values.note) lines.push("", values.note);
  const markdown = `${lines.join("\n")}\n`;
  await mkdir(outDir, { recursive: true });
  await writeFile(join(outDir, "embed-scale-out.md"), markdown);
  await writeFile(
    join(outDir, "embed-scale-out.json"),
    `${JSON.stringify({ files, latencyMs, rows, machine, note: values.note ?? null }, null, 2)}\n`,
  );
  process.stdout.write(markdown);
}

await main();
