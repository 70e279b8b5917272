/**
 * The two workflows of issue 22, measured as a user runs them (each in a fresh `sluice`
 * process):
 *
 * ```sh
 * npm run bench:ask-reembed -w bench -- [--sizes 10000,100000] [--asks 5] [--out DIR]
 * ```
 *
 * - `sluice ask`: time to first token against the loopback chat server (`testing/chat-server.ts`,
 *   answering at once), from spawn to the first answer byte on stdout (start-up, opening the
 *   store, embedding the question, hybrid search and the request included), over `--asks` runs
 *   on a store of 200 generated files; and the same in-process (`askStreaming`, warm), from the
 *   call to the first token.
 * - `sluice reembed`: a JSONL store of N generated chunks (384-d hash vectors, 10 chunks a file)
 *   into a new SQLite store with the hash embedder at 256 dimensions: wall time from spawn to exit,
 *   chunks/s over it, and peak RSS as GNU time's "Maximum resident set size".
 *
 * Writes `results/ask-reembed.json` and `.md` (or under `--out`) and prints the markdown.
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import {
  askStreaming,
  chunkId,
  createHashEmbedder,
  generateCorpus,
  openJsonlStore,
  openSqliteStore,
  type ReembedSummary,
  startChatServer,
} from "@sluice/embed";

const here = fileURLToPath(new URL(".", import.meta.url));
const BIN = resolve(here, "../packages/embed/bin/sluice.js");
const WORDS =
  "river gate stream pull batch token store vector page memory chunk file demand signal stage".split(
    " ",
  );

interface Timed {
  readonly wallMs: number;
  readonly maxRssKb: number;
  readonly stdout: string;
  readonly firstStdoutMs: number | undefined;
  readonly code: number | null;
}

/** Runs `sluice …` under GNU time, timing spawn → first stdout byte and spawn → exit. */
function timedSluice(cwd: string, env: NodeJS.ProcessEnv, ...args: string[]): Promise<Timed> {
  return new Promise((resolvePromise, reject) => {
    const started = performance.now();
    const child = spawn("/usr/bin/time", ["-v", process.execPath, BIN, ...args], {
      cwd,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let first: number | undefined;
    child.stdout.on("data", (d) => {
      first ??= performance.now() - started;
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1];
      if (code !== 0) reject(new Error(`sluice ${args[0]} exited ${code}: ${stderr.slice(-2000)}`));
      resolvePromise({
        wallMs: performance.now() - started,
        maxRssKb: Number(rss ?? Number.NaN),
        stdout,
        firstStdoutMs: first,
        code,
      });
    });
  });
}

/** A JSONL store of `chunks` generated chunks, 10 per file, committed. */
async function makeSource(path: string, chunks: number): Promise<void> {
  const embedder = createHashEmbedder({ dimensions: 384 });
  const identity = {
    embedderId: embedder.id,
    dimensions: 384,
    embedder: { kind: "hash", dimensions: 384 },
  };
  const store = await openJsonlStore({ path, access: { mode: "write", identity } });
  const collection = "/bench/generated";
  try {
    for (let f = 0; f * 10 < chunks; f++) {
      const filePath = `folder-${f % 100}/file-${f}.md`;
      const drafts = Array.from({ length: Math.min(10, chunks - f * 10) }, (_, ordinal) => {
        const text = Array.from(
          { length: 60 },
          (_, w) => WORDS[(f * 13 + ordinal * 7 + w * 5) % WORDS.length],
        ).join(" ");
        return {
          id: chunkId({ collection, path: filePath, ordinal, text }),
          collection,
          path: filePath,
          ordinal,
          text,
          startLine: ordinal * 5 + 1,
          endLine: ordinal * 5 + 5,
          metadata: { headings: [`File ${f}`] },
        };
      });
      const vectors = await embedder.embed(drafts.map((d) => d.text));
      await store.upsert(drafts.map((d, i) => ({ ...d, vector: vectors[i] ?? [] })));
      await store.commitFile(
        collection,
        filePath,
        `v${f}`,
        drafts.map((d) => d.id),
      );
    }
  } finally {
    await store.close();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    asks: { type: "string", default: "5" },
    out: { type: "string", default: join(here, "results") },
  },
});
const sizes = (values.sizes ?? "").split(",").map(Number);
const asks = Number(values.asks);
const work = await mkdtemp(join(os.tmpdir(), "sluice-bench-ask-reembed-"));
const chat = await startChatServer();
try {
  // ask: a store of 200 generated files, made with the command itself.
  await generateCorpus(join(work, "docs"), { files: 200, seed: 7 });
  const env = { ...process.env, OPENAI_API_KEY: "placeholder" };
  await timedSluice(work, env, "embed", "docs", "--store", "ask.db", "--quiet");
  const cli: Timed[] = [];
  for (let i = 0; i < asks; i++) {
    cli.push(
      await timedSluice(
        work,
        env,
        "ask",
        "how does a pull-based pipeline bound its memory?",
        "--store",
        "ask.db",
        "--chat-endpoint",
        chat.url,
      ),
    );
  }
  const store = await openSqliteStore({ path: join(work, "ask.db"), access: { mode: "read" } });
  const embedder = createHashEmbedder({ dimensions: 384 });
  const inProcess: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      let first: number | undefined;
      for await (const event of askStreaming("how does a pull-based pipeline bound its memory?", {
        store,
        embedder,
        chat: { baseUrl: chat.url, model: "any", apiKey: "placeholder" },
      })) {
        if (event.type === "token") first ??= performance.now() - started;
      }
      if (i >= 5 && first !== undefined) inProcess.push(first);
    }
  } finally {
    await store.close();
  }

  // reembed: JSONL (384-d hash) → SQLite (256-d hash), fresh process each.
  const reembeds: { chunks: number; timed: Timed; summary: ReembedSummary }[] = [];
  for (const size of sizes) {
    const source = join(work, `source-${size}.jsonl`);
    await makeSource(source, size);
    const timed = await timedSluice(
      work,
      env,
      "reembed",
      "--from",
      source,
      "--to",
      `target-${size}.db`,
      "--embedder",
      "hash",
      "--dimensions",
      "256",
      "--json",
    );
    const summary = JSON.parse(timed.stdout) as ReembedSummary;
    if (summary.embedded !== size) throw new Error(`reembed stored ${summary.embedded} of ${size}`);
    reembeds.push({ chunks: size, timed, summary });
  }

  const fmt = (n: number, digits = 0) =>
    n.toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const cliFirst = cli.map((c) => c.firstStdoutMs ?? Number.NaN);
  const lines = [
    "# sluice ask and sluice reembed",
    "",
    `Node ${process.version}, ${os.cpus().length} cores (${os.cpus()[0]?.model ?? "?"}), ${new Date().toISOString().slice(0, 10)}. One run each; \`npm run bench:ask-reembed -w bench\`.`,
    "",
    "## ask: time to first token (loopback chat server answering at once)",
    "",
    "| measured | median | runs |",
    "| --- | ---: | --- |",
    `| \`sluice ask\`, spawn → first answer byte (start-up included), 200-file SQLite store | ${fmt(median(cliFirst))} ms | ${cliFirst.map((n) => fmt(n)).join(", ")} ms |`,
    `| \`askStreaming\` in-process, warm, call → first token | ${fmt(median(inProcess), 1)} ms | ${inProcess.length} runs |`,
    "",
    "## reembed: JSONL (384-d hash) → SQLite (256-d hash)",
    "",
    "| chunks | wall (spawn → exit) | chunks/s (wall) | chunks/s (run) | peak RSS |",
    "| ---: | ---: | ---: | ---: | ---: |",
    ...reembeds.map(
      (r) =>
        `| ${fmt(r.chunks)} | ${fmt(r.timed.wallMs / 1000, 1)} s | ${fmt(r.chunks / (r.timed.wallMs / 1000))} | ${fmt(r.summary.throughput)} | ${fmt(r.timed.maxRssKb / 1024)} MB |`,
    ),
    "",
  ];
  const markdown = lines.join("\n");
  await mkdir(values.out as string, { recursive: true });
  await writeFile(join(values.out as string, "ask-reembed.md"), markdown);
  await writeFile(
    join(values.out as string, "ask-reembed.json"),
    `${JSON.stringify(
      {
        askCliFirstTokenMs: cliFirst,
        askInProcessFirstTokenMs: inProcess,
        reembed: reembeds.map((r) => ({
          chunks: r.chunks,
          wallMs: r.timed.wallMs,
          maxRssKb: r.timed.maxRssKb,
          summary: { ...r.summary, errors: r.summary.errors.length },
        })),
      },
      null,
      2,
    )}\n`,
  );
  console.log(markdown);
} finally {
  await chat.close();
  await rm(work, { recursive: true, force: true });
}
