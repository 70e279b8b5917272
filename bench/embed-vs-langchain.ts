/**
 * Embedding a folder of markdown with the `sluice embed` command and with the ingest a
 * LangChain.js user writes (issue 23), outside `npm run bench` (a full run takes many minutes):
 *
 * ```sh
 * npm run bench:embed-vs-langchain -w bench -- [--files 5000] [--hash-files 20000] [--rounds 3]
 *   [--corpus-dir DIR] [--out DIR] [--quick] [--threads-flag=--threads] [--note TEXT]
 * ```
 *
 * The same work for both tools, each run in a fresh process of its own, as a user runs it:
 * - the corpus: `--files` generated markdown files (seed 7), kept under `--corpus-dir` for reuse;
 * - the endpoint: a loopback OpenAI-compatible server in a child process of its own that answers
 *   each request after 20 ms, with 1536-d vectors (text-embedding-3-small's length); a fresh
 *   server for every run;
 * - LangChain.js: `langchain-ingest.ts` (DirectoryLoader, MarkdownTextSplitter 1,000 / 100,
 *   OpenAIEmbeddings with its default batching, MemoryVectorStore, then the store written to a
 *   JSON file);
 * - sluice: `sluice embed --embedder openai` in streaming mode (the default), once into a JSONL
 *   store and once into the default SQLite store.
 * Then the hash embedder (no network) over `--hash-files` files with `--threads` 0, 1 and 2 (one,
 * two and three threads of execution).
 *
 * Every run is measured from outside the child: wall time from spawn to exit (start-up and
 * module loading included, as a CLI user waits for them) and peak RSS as GNU time's "Maximum
 * resident set size" (the kernel's high-water mark of the child, from `wait4`). Each store is
 * checked afterwards: a run that stored nothing, or less than it claims, fails the benchmark.
 * `--rounds` rounds alternate the tools' order; the tables show the median and every round.
 *
 * Writes `results/embed-vs-langchain.json` and `.md` (or under `--out`; `--quick` writes only
 * with an explicit `--out`) and prints the markdown; BENCHMARKS.md shows the saved report as a
 * section of its own (bench/report.ts). `--rerender` re-judges the saved report; `--note` adds a
 * line to the report (which sluice sources ran, for instance), also with `--rerender`.
 */
import { spawn } from "node:child_process";
import { createReadStream, existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { EmbedSummary } from "@sluice/embed";
import type { LangchainIngestResult } from "./langchain-ingest.ts";
import { CORPUS_SEED, ensureCorpus } from "./lib/embed-corpus.ts";
import { type MachineInfo, machineInfo } from "./machine.ts";
import { tail } from "./spawn.ts";

/**
 * The CLI flag that sets sluice's CPU threads (worker threads that read, parse and split
 * files); before it, `--parse-threads` (`--threads-flag=--parse-threads`). The hash rows are
 * skipped, with the reason in the report, when `sluice embed --help` does not list it.
 */
export const THREADS_FLAG = "--threads";

/**
 * The hash rows' settings of the flag: 0 runs everything on the main thread (one thread); 1 adds
 * one worker (two threads: this 2-core machine's default); 2 adds two workers (three threads).
 */
const HASH_THREADS = [0, 1, 2] as const;

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SELF = fileURLToPath(import.meta.url);
const SLUICE_BIN = fileURLToPath(new URL("../packages/embed/bin/sluice.js", import.meta.url));
const LANGCHAIN_CHILD = fileURLToPath(new URL("./langchain-ingest.ts", import.meta.url));
/** GNU time: measures the child's peak RSS from outside it. */
const TIME_BIN = "/usr/bin/time";
/** Both tools ask for this model; the server answers vectors of `DIMENSIONS`. */
const MODEL = "text-embedding-3-small";
/** text-embedding-3-small's vector length. */
export const DIMENSIONS = 1536;
/** The loopback server's answer time per request, standing in for the network and the model. */
export const LATENCY_MS = 20;
/** Both children get this key; the loopback server checks none. */
const API_KEY = "sk-bench-loopback";
/** The result line of `langchain-ingest.ts` (kept in step with its `RESULT_PREFIX`). */
const LANGCHAIN_PREFIX = "LANGCHAIN_INGEST ";

/** The targets, judged on the medians of one run. */
export const TARGETS = {
  /** sluice's wall time ÷ LangChain's, at most. */
  wallRatioAtMost: 1,
  /** sluice's peak RSS ÷ LangChain's, at most. */
  rssRatioAtMost: 0.25,
  hashChunksPerSecondAtLeast: 2_000,
  /** Chunks/s with 2 threads ÷ with 1 thread, at least. */
  threadScalingAtLeast: 1.7,
  firstStoredMsBelow: 1_000,
} as const;

/** The three runs of the comparison. */
export const TOOLS = ["langchain", "sluice-jsonl", "sluice-sqlite"] as const;
/** One tool of the comparison. */
export type Tool = (typeof TOOLS)[number];

const TOOL_LABELS: Record<Tool, string> = {
  langchain: "LangChain.js (MemoryVectorStore, written to a JSON file)",
  "sluice-jsonl": "sluice, streaming, JSONL store",
  "sluice-sqlite": "sluice, streaming, SQLite store (default)",
};

/** What the loopback server saw during one run. */
export interface ServerLoad {
  readonly requests: number;
  readonly maxConcurrent: number;
  readonly meanConcurrent: number;
  readonly cpuMs: number;
}

/** A run of one process, measured from outside it and checked against its store. */
export interface MeasuredRun {
  readonly round: number;
  readonly command: string;
  /** Spawn to exit, measured by this script. */
  readonly wallMs: number;
  /** The child's peak RSS, measured from outside (see `rssMeasure`). */
  readonly peakRssBytes: number;
  readonly files: number;
  readonly chunks: number;
  /** Chunks found in the store written, counted after the run. */
  readonly storeChunks: number;
}

/** One tool's run. */
export interface ToolRun extends MeasuredRun {
  readonly tool: Tool;
  /** Chunks ÷ wall time: the same basis for both tools. */
  readonly chunksPerSecond: number;
  /** The tool's own figure for its work, module loading excluded (sluice: the summary's). */
  readonly selfDurationMs: number;
  /** sluice only: the summary's peak RSS (`process.resourceUsage().maxRSS`), as a cross-check. */
  readonly selfPeakRssBytes: number | null;
  /** sluice only: from the start of the run to the first chunk stored. */
  readonly timeToFirstStoredChunkMs: number | null;
  /** LangChain only: its phases. */
  readonly phases: Pick<LangchainIngestResult, "loadMs" | "splitMs" | "embedMs" | "writeMs"> | null;
  readonly storeBytes: number;
  readonly server: ServerLoad;
}

/** One hash-embedder run of sluice. */
export interface HashRun extends MeasuredRun {
  readonly threads: number;
  /** The summary's chunks/s (the run itself, process start-up excluded). */
  readonly throughput: number;
  /** Chunks ÷ wall time. */
  readonly wallChunksPerSecond: number;
}

/** A target's verdict; `met` is null when it could not be judged (its rows were skipped). */
export interface Verdict {
  readonly target: string;
  readonly measured: string;
  readonly met: boolean | null;
}

/** The report of one run of this script. */
export interface EmbedVsLangchainReport {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly seed: number;
  readonly files: number;
  readonly rounds: number;
  readonly dimensions: number;
  readonly latencyMs: number;
  /** How peak RSS was taken from outside the children. */
  readonly rssMeasure: string;
  /** What the command lines do not say, e.g. which sluice sources ran (`--note`). */
  readonly note?: string;
  /** Every run, in the order run. */
  readonly runs: readonly ToolRun[];
  readonly hash: {
    readonly files: number;
    readonly flag: string;
    /** Why the hash rows did not run, or null. */
    readonly skipped: string | null;
    readonly runs: readonly HashRun[];
  };
  readonly verdicts: readonly Verdict[];
}

// ---- running and measuring children ----------------------------------------------------------

/** What a measured child did. */
interface Measured {
  readonly stdout: string;
  readonly stderr: string;
  readonly code: number | null;
  readonly wallMs: number;
  readonly peakRssBytes: number;
}

/** The children's environment: no inherited V8 flags, no LangSmith tracing, a dummy key. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (key === "NODE_OPTIONS" || /^(LANGCHAIN|LANGSMITH)_/.test(key)) continue;
    env[key] = value;
  }
  env.OPENAI_API_KEY = API_KEY;
  return env;
}

/** How peak RSS is measured on this machine. */
function rssMeasure(): string {
  if (existsSync(TIME_BIN)) {
    return "GNU time's \"Maximum resident set size\" (`/usr/bin/time -f %M`): the kernel's high-water mark of the child's resident memory, worker threads included, from `wait4`";
  }
  return "the child's VmHWM (the kernel's high-water mark) read from /proc every 20 ms; growth in the last 20 ms before exit is missed";
}

/**
 * Runs `node <args>` in a fresh process to its end; never rejects on a non-zero exit (the
 * caller decides). Peak RSS comes from GNU time when present, else from polling /proc.
 */
function runMeasured(args: readonly string[], cwd: string): Promise<Measured> {
  return new Promise((resolvePromise, reject) => {
    const useTime = existsSync(TIME_BIN);
    const rssFile = join(os.tmpdir(), `sluice-bench-rss-${process.pid}-${Math.random()}.txt`);
    const [command, argv] = useTime
      ? [TIME_BIN, ["-f", "%M", "-o", rssFile, process.execPath, ...args]]
      : [process.execPath, [...args]];
    const started = performance.now();
    const child = spawn(command, argv, { cwd, env: childEnv(), stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    let polledKb = 0;
    const poll = useTime
      ? undefined
      : setInterval(() => {
          readFile(`/proc/${child.pid}/status`, "utf8").then(
            (status) => {
              const kb = Number(/^VmHWM:\s+(\d+)/m.exec(status)?.[1] ?? 0);
              polledKb = Math.max(polledKb, kb);
            },
            () => {}, // The child has just exited.
          );
        }, 20);
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", (error) => {
      clearInterval(poll);
      reject(error);
    });
    child.once("close", (code) => {
      const wallMs = performance.now() - started;
      clearInterval(poll);
      const finish = async () => {
        let kb = polledKb;
        if (useTime) {
          // After a signal, GNU time writes "Command terminated by signal" before the figure.
          const text = await readFile(rssFile, "utf8").catch(() => "");
          await rm(rssFile, { force: true });
          kb = Number(text.trim().split("\n").at(-1) ?? Number.NaN);
        }
        return { stdout, stderr, code, wallMs, peakRssBytes: kb * 1024 };
      };
      finish().then(resolvePromise, reject);
    });
  });
}

/** Runs `node <args>` unmeasured (help, stats); rejects on a non-zero exit. */
async function runNode(args: readonly string[], cwd: string): Promise<string> {
  const result = await new Promise<{ stdout: string; stderr: string; code: number | null }>(
    (resolvePromise, reject) => {
      const child = spawn(process.execPath, args, {
        cwd,
        env: childEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
      child.once("error", reject);
      child.once("close", (code) => resolvePromise({ stdout, stderr, code }));
    },
  );
  if (result.code !== 0) {
    throw new Error(`node ${args.join(" ")} exited with ${result.code}:\n${tail(result.stderr)}`);
  }
  return result.stdout;
}

/** Size of a file, or of every file under a folder. */
async function sizeOf(path: string): Promise<number> {
  const info = await stat(path);
  if (!info.isDirectory()) return info.size;
  let total = 0;
  for (const entry of await readdir(path, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) total += (await stat(join(entry.parentPath, entry.name))).size;
  }
  return total;
}

// ---- checking what each tool stored -----------------------------------------------------------

/**
 * Counts the records of a file written by `langchain-ingest.ts` (a JSON array, one record per
 * line), checking that each has text and a finite vector of `dimensions`; throws otherwise.
 */
export async function countLangchainRecords(path: string, dimensions: number): Promise<number> {
  let records = 0;
  let closed = false;
  const input = createReadStream(path, { encoding: "utf8" });
  for await (const raw of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    const line = raw.endsWith(",") ? raw.slice(0, -1) : raw;
    if (line === "[" || line === "") continue;
    if (line === "]") {
      closed = true;
      continue;
    }
    const record = JSON.parse(line) as { text?: unknown; vector?: unknown };
    const { text, vector } = record;
    if (typeof text !== "string" || text === "") {
      throw new Error(`${path}: record ${records} has no text`);
    }
    if (
      !Array.isArray(vector) ||
      vector.length !== dimensions ||
      !vector.every((x) => Number.isFinite(x))
    ) {
      throw new Error(`${path}: record ${records} has no finite ${dimensions}-d vector`);
    }
    records += 1;
  }
  if (!closed) throw new Error(`${path}: the JSON array is not closed`);
  return records;
}

/**
 * Throws unless a run embedded every one of `files` files into at least one chunk and its
 * store holds exactly the chunks it claims: a tool that silently did nothing fails here.
 */
export function checkStored(
  tool: string,
  expected: { readonly files: number },
  got: { readonly files: number; readonly chunks: number; readonly storeChunks: number },
): void {
  const problems: string[] = [];
  if (got.files !== expected.files) problems.push(`saw ${got.files} of ${expected.files} files`);
  if (!(got.chunks > 0)) problems.push("made no chunk");
  if (got.storeChunks !== got.chunks) {
    problems.push(`stored ${got.storeChunks} chunks, not the ${got.chunks} it made`);
  }
  if (problems.length > 0) throw new Error(`${tool}: ${problems.join("; ")}`);
}

/** The chunk count of a sluice store, from `sluice stats --json`. */
async function sluiceStoreChunks(location: string, work: string): Promise<number> {
  const stdout = await runNode([SLUICE_BIN, "stats", "--store", location, "--json"], work);
  return (JSON.parse(stdout) as { chunks: number }).chunks;
}

// ---- the runs ---------------------------------------------------------------------------------

const serverLoad = (load: ServerLoad): ServerLoad => ({
  requests: load.requests,
  maxConcurrent: load.maxConcurrent,
  meanConcurrent: load.meanConcurrent,
  cpuMs: load.cpuMs,
});

/** `langchain-ingest.ts`'s arguments. */
const langchainArgs = (corpus: string, endpoint: string, out: string) => [
  "--dir",
  corpus,
  "--endpoint",
  endpoint,
  "--model",
  MODEL,
  "--out",
  out,
];

/** `sluice embed`'s arguments for the comparison. */
const sluiceArgs = (corpus: string, endpoint: string, store: string) => [
  "embed",
  corpus,
  "--embedder",
  "openai",
  "--endpoint",
  endpoint,
  "--model",
  MODEL,
  "--dimensions",
  String(DIMENSIONS),
  "--store",
  store,
  "--json",
  "--quiet",
];

/** Runs one tool over `corpus` against a fresh loopback server; checks and removes its store. */
async function runTool(
  tool: Tool,
  round: number,
  corpus: string,
  files: number,
  work: string,
): Promise<ToolRun> {
  const { startEmbeddingServerProcess } = await import(
    "../packages/embed/src/testing/embedding-server-process.ts"
  );
  const dir = await mkdtemp(join(work, `${tool}-`));
  try {
    const file =
      tool === "langchain" ? "store.json" : tool === "sluice-jsonl" ? "store.jsonl" : "store.db";
    const location = join(dir, file);
    const server = await startEmbeddingServerProcess({
      dimensions: DIMENSIONS,
      latencyMs: LATENCY_MS,
    });
    let measured: Measured;
    let load: ServerLoad;
    try {
      measured =
        tool === "langchain"
          ? await runMeasured(
              ["--import", "tsx", LANGCHAIN_CHILD, ...langchainArgs(corpus, server.url, location)],
              BENCH_DIR,
            )
          : await runMeasured([SLUICE_BIN, ...sluiceArgs(corpus, server.url, location)], work);
    } finally {
      load = serverLoad(await server.close());
    }
    const command =
      tool === "langchain"
        ? `node --import tsx langchain-ingest.ts ${langchainArgs("<corpus>", "<endpoint>", file).join(" ")}`
        : `sluice ${sluiceArgs("<corpus>", "<endpoint>", file).join(" ")}`;
    if (measured.code !== 0) {
      throw new Error(`${tool} exited with ${measured.code}:\n${tail(measured.stderr, 20)}`);
    }
    const common = {
      tool,
      round,
      command,
      wallMs: measured.wallMs,
      peakRssBytes: measured.peakRssBytes,
      server: load,
    };
    if (tool === "langchain") {
      const line = measured.stdout.split("\n").find((l) => l.startsWith(LANGCHAIN_PREFIX));
      if (line === undefined) {
        throw new Error(`langchain printed no result:\n${tail(measured.stderr)}`);
      }
      const r = JSON.parse(line.slice(LANGCHAIN_PREFIX.length)) as LangchainIngestResult;
      const storeChunks = await countLangchainRecords(location, DIMENSIONS);
      checkStored(tool, { files }, { files: r.files, chunks: r.chunks, storeChunks });
      return {
        ...common,
        files: r.files,
        chunks: r.chunks,
        chunksPerSecond: r.chunks / (measured.wallMs / 1000),
        selfDurationMs: r.totalMs,
        selfPeakRssBytes: null,
        timeToFirstStoredChunkMs: null,
        phases: { loadMs: r.loadMs, splitMs: r.splitMs, embedMs: r.embedMs, writeMs: r.writeMs },
        storeChunks,
        storeBytes: await sizeOf(location),
      };
    }
    const s = JSON.parse(measured.stdout) as EmbedSummary;
    if (s.failed > 0 || s.skipped > 0) {
      throw new Error(`${tool}: ${s.failed} files failed, ${s.skipped} skipped`);
    }
    const storeChunks = await sluiceStoreChunks(location, work);
    checkStored(tool, { files }, { files: s.files, chunks: s.embedded, storeChunks });
    return {
      ...common,
      files: s.files,
      chunks: s.embedded,
      chunksPerSecond: s.embedded / (measured.wallMs / 1000),
      selfDurationMs: s.durationMs,
      selfPeakRssBytes: s.peakRssBytes,
      timeToFirstStoredChunkMs: s.timeToFirstStoredChunkMs,
      phases: null,
      storeChunks,
      // The folder: SQLite's write-ahead log sits beside the file.
      storeBytes: await sizeOf(dir),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Why `sluice embed` cannot take `flag`, or null when its help lists it. */
export async function threadsFlagProblem(flag: string, work: string): Promise<string | null> {
  const help = await runNode([SLUICE_BIN, "embed", "--help"], work);
  const listed = new RegExp(`(^|\\s)${flag.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}[\\s<]`, "m");
  return listed.test(help) ? null : `\`sluice embed\` has no \`${flag}\` flag (yet)`;
}

/** One hash-embedder run with `threads` CPU threads; null with the reason when the CLI refuses. */
async function runHash(
  threads: number,
  round: number,
  flag: string,
  corpus: string,
  files: number,
  work: string,
): Promise<HashRun | string> {
  const dir = await mkdtemp(join(work, `hash-${threads}-`));
  try {
    const location = join(dir, "store.jsonl");
    const args = (c: string, store: string) => [
      "embed",
      c,
      "--embedder",
      "hash",
      "--store",
      store,
      flag,
      String(threads),
      "--json",
      "--quiet",
    ];
    const measured = await runMeasured([SLUICE_BIN, ...args(corpus, location)], work);
    if (measured.code !== 0) {
      // Exit 2 is a usage error: the flag or its value was refused.
      if (measured.code === 2)
        return `\`sluice embed ${flag} ${threads}\` was refused: ${tail(measured.stderr, 2)}`;
      throw new Error(
        `hash, ${threads} threads, exited with ${measured.code}:\n${tail(measured.stderr, 20)}`,
      );
    }
    const s = JSON.parse(measured.stdout) as EmbedSummary;
    const storeChunks = await sluiceStoreChunks(location, work);
    checkStored(
      `hash, ${threads} threads`,
      { files },
      { files: s.files, chunks: s.embedded, storeChunks },
    );
    return {
      threads,
      round,
      command: `sluice ${args("<corpus>", "store.jsonl").join(" ")}`,
      wallMs: measured.wallMs,
      peakRssBytes: measured.peakRssBytes,
      files: s.files,
      chunks: s.embedded,
      throughput: s.throughput,
      wallChunksPerSecond: s.embedded / (measured.wallMs / 1000),
      storeChunks,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Options of {@link embedVsLangchain}. */
export interface EmbedVsLangchainOptions {
  /** Files of the comparison's corpus. */
  readonly files: number;
  /** Files of the hash-embedder corpus. */
  readonly hashFiles: number;
  readonly rounds: number;
  /** Where the generated corpora are kept (and reused when they match). */
  readonly corpusDir: string;
  /** The CLI flag for CPU threads; default {@link THREADS_FLAG}. */
  readonly threadsFlag?: string;
  readonly log?: (line: string) => void;
}

/** Runs every round of the comparison and the hash rows; returns the judged report. */
export async function embedVsLangchain(
  options: EmbedVsLangchainOptions,
): Promise<EmbedVsLangchainReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const flag = options.threadsFlag ?? THREADS_FLAG;
  const corpusOf = (files: number) => join(options.corpusDir, `files-${files}-seed-${CORPUS_SEED}`);
  const work = await mkdtemp(join(os.tmpdir(), "sluice-embed-vs-langchain-"));
  try {
    const corpus = corpusOf(options.files);
    await ensureCorpus(corpus, options.files, log);
    const date = new Date().toISOString();
    const machine = machineInfo();
    const runs: ToolRun[] = [];
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? TOOLS : [...TOOLS].reverse();
      for (const tool of order) {
        log(`round ${round + 1}/${options.rounds}: ${tool} …`);
        const run = await runTool(tool, round, corpus, options.files, work);
        log(
          `  ${Math.round(run.wallMs)} ms, ${run.chunks} chunks, ${mb(run.peakRssBytes)} MB peak RSS`,
        );
        runs.push(run);
      }
    }
    const hashRuns: HashRun[] = [];
    let skipped = await threadsFlagProblem(flag, work);
    if (skipped === null) {
      const hashCorpus = corpusOf(options.hashFiles);
      await ensureCorpus(hashCorpus, options.hashFiles, log);
      rounds: for (let round = 0; round < options.rounds; round++) {
        for (const threads of round % 2 === 0 ? HASH_THREADS : [...HASH_THREADS].reverse()) {
          log(`round ${round + 1}/${options.rounds}: hash embedder, ${flag} ${threads} …`);
          const run = await runHash(threads, round, flag, hashCorpus, options.hashFiles, work);
          if (typeof run === "string") {
            skipped = run;
            hashRuns.length = 0;
            break rounds;
          }
          log(`  ${Math.round(run.throughput)} chunks/s, ${run.chunks} chunks`);
          hashRuns.push(run);
        }
      }
    }
    if (skipped !== null) log(`hash rows skipped: ${skipped}`);
    const partial = {
      date,
      machine,
      seed: CORPUS_SEED,
      files: options.files,
      rounds: options.rounds,
      dimensions: DIMENSIONS,
      latencyMs: LATENCY_MS,
      rssMeasure: rssMeasure(),
      runs,
      hash: { files: options.hashFiles, flag, skipped, runs: hashRuns },
    };
    return { ...partial, verdicts: verdictsOf(partial) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

// ---- judging and rendering -----------------------------------------------------------------

/** The median of `values` (the mean of the middle two for an even count); NaN when empty. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  if (sorted.length === 0) return Number.NaN;
  return sorted.length % 2 === 1
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

const int = (n: number) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
const mb = (bytes: number) => int(bytes / (1024 * 1024));
const seconds = (ms: number) => (ms / 1000).toFixed(2);

const runsOf = (r: Pick<EmbedVsLangchainReport, "runs">, tool: Tool) =>
  r.runs.filter((run) => run.tool === tool);
const hashOf = (r: Pick<EmbedVsLangchainReport, "hash">, threads: number) =>
  r.hash.runs.filter((run) => run.threads === threads);

/** Judges the targets on the medians of the report's runs. */
export function verdictsOf(r: Omit<EmbedVsLangchainReport, "verdicts">): Verdict[] {
  const verdicts: Verdict[] = [];
  const lc = runsOf(r, "langchain");
  const lcWall = median(lc.map((x) => x.wallMs));
  const lcRss = median(lc.map((x) => x.peakRssBytes));
  for (const tool of ["sluice-jsonl", "sluice-sqlite"] as const) {
    const runs = runsOf(r, tool);
    const store = tool === "sluice-jsonl" ? "JSONL store" : "SQLite store";
    const wall = median(runs.map((x) => x.wallMs));
    const wallRatio = wall / lcWall;
    verdicts.push({
      target: `sluice streaming (${store}) wall time ≤ ${TARGETS.wallRatioAtMost}× LangChain.js's`,
      measured: `${wallRatio.toFixed(2)}× (${seconds(wall)} s vs ${seconds(lcWall)} s)`,
      met: wallRatio <= TARGETS.wallRatioAtMost,
    });
    const rss = median(runs.map((x) => x.peakRssBytes));
    const rssRatio = rss / lcRss;
    verdicts.push({
      target: `sluice streaming (${store}) peak RSS ≤ ${TARGETS.rssRatioAtMost}× LangChain.js's`,
      measured: `${rssRatio.toFixed(2)}× (${mb(rss)} MB vs ${mb(lcRss)} MB)`,
      met: rssRatio <= TARGETS.rssRatioAtMost,
    });
    const first = runs.map((x) => x.timeToFirstStoredChunkMs);
    const firstMedian = first.includes(null) ? Number.NaN : median(first as number[]);
    verdicts.push({
      target: `sluice streaming (${store}) time to first stored chunk < ${int(TARGETS.firstStoredMsBelow)} ms`,
      measured: Number.isNaN(firstMedian) ? "none" : `${int(firstMedian)} ms`,
      met: firstMedian < TARGETS.firstStoredMsBelow,
    });
  }
  const files = r.hash.files.toLocaleString("en-US");
  // One thread of execution (`--threads 0`: no worker) and two (`--threads 1`: one worker).
  const one = median(hashOf(r, 0).map((x) => x.throughput));
  const two = median(hashOf(r, 1).map((x) => x.throughput));
  const skip = r.hash.skipped === null ? null : `skipped: ${r.hash.skipped}`;
  verdicts.push({
    target: `hash embedder, ${files} files, 2 threads (${r.hash.flag} 1: main + 1 worker): ≥ ${int(TARGETS.hashChunksPerSecondAtLeast)} chunks/s`,
    measured: skip ?? `${int(two)} chunks/s (1 thread, ${r.hash.flag} 0: ${int(one)})`,
    met: skip === null ? two >= TARGETS.hashChunksPerSecondAtLeast : null,
  });
  const scaling = two / one;
  verdicts.push({
    target: `hash embedder, ${files} files: 2 threads (${r.hash.flag} 1) ≥ ${TARGETS.threadScalingAtLeast}× 1 thread (${r.hash.flag} 0)`,
    measured: skip ?? `${scaling.toFixed(2)}× (${int(two)} vs ${int(one)} chunks/s)`,
    met: skip === null ? scaling >= TARGETS.threadScalingAtLeast : null,
  });
  return verdicts;
}

/** "median (round 1, round 2, …)", or the one value alone. */
function withRounds(values: readonly number[], fmt: (v: number) => string): string {
  if (values.length === 1) return fmt(values[0] as number);
  return `${fmt(median(values))} (${values.map(fmt).join(", ")})`;
}

const status = (met: boolean | null) => (met === null ? "not judged" : met ? "met" : "**not met**");

/** The report as a markdown section. */
export function renderEmbedVsLangchain(r: EmbedVsLangchainReport): string {
  const m = r.machine;
  const toolRows = TOOLS.map((tool) => {
    const runs = runsOf(r, tool);
    const first = runs.map((x) => x.timeToFirstStoredChunkMs);
    return `| ${TOOL_LABELS[tool]} | ${int(median(runs.map((x) => x.chunks)))} | ${withRounds(
      runs.map((x) => x.wallMs),
      seconds,
    )} | ${withRounds(
      runs.map((x) => x.chunksPerSecond),
      int,
    )} | ${withRounds(
      runs.map((x) => x.peakRssBytes),
      mb,
    )} | ${first.includes(null) ? "—" : withRounds(first as number[], int)} | ${int(
      median(runs.map((x) => x.server.requests)),
    )} (${int(median(runs.map((x) => x.server.maxConcurrent)))}) |`;
  });
  const lc = runsOf(r, "langchain").flatMap((x) => (x.phases === null ? [] : [x.phases]));
  const phase = (key: keyof NonNullable<ToolRun["phases"]>) =>
    seconds(median(lc.map((p) => p[key])));
  const selfRss = r.runs.filter((x) => x.selfPeakRssBytes !== null);
  const hashRows = HASH_THREADS.map((threads) => {
    const runs = hashOf(r, threads);
    return `| ${r.hash.flag} ${threads} | ${int(median(runs.map((x) => x.chunks)))} | ${withRounds(
      runs.map((x) => x.throughput),
      int,
    )} | ${withRounds(
      runs.map((x) => x.wallMs),
      seconds,
    )} | ${withRounds(
      runs.map((x) => x.peakRssBytes),
      mb,
    )} |`;
  });
  const commands = [
    ...new Set([...r.runs.map((x) => x.command), ...r.hash.runs.map((x) => x.command)]),
  ];
  return [
    "## Embed throughput: sluice vs LangChain.js",
    "",
    `Written by \`npm run bench:embed-vs-langchain -w bench\` (bench/embed-vs-langchain.ts) on ${r.date} (${m.cpuModel}, ${m.cores} cores, Node ${m.node}, load average at start ${m.loadAverage.join(" / ")}). The same work for both tools: ${r.files.toLocaleString("en-US")} generated markdown files (seed ${r.seed}), embedded through a loopback OpenAI-compatible server in a process of its own that answers each request after ${r.latencyMs} ms with ${r.dimensions}-d vectors (a fresh server per run). LangChain.js: \`DirectoryLoader\` + \`TextLoader\`, \`MarkdownTextSplitter\` (1,000 / 100), \`OpenAIEmbeddings\` with its default batching (512 texts per request, 2 at once), \`MemoryVectorStore.addDocuments\`, then the store written to a JSON file. sluice: the \`sluice embed\` command, streaming (its default), into a JSONL store and into the default SQLite store. Each run is a fresh process (start-up and module loading included, as a CLI user waits for them; sluice runs from its TypeScript sources through tsx, as in this repository); ${r.rounds} round${r.rounds === 1 ? "" : "s"} alternating the tools' order, no warm-up; medians with every round in parentheses. Wall time is measured from spawn to exit; peak RSS from outside the child: ${r.rssMeasure}. Every store is counted after its run: a run that stored fewer chunks than it made fails the benchmark.`,
    "",
    ...(r.note === undefined ? [] : [r.note, ""]),
    "| tool | chunks | wall time (s) | chunks/s (wall) | peak RSS (MB) | time to first stored chunk (ms) | requests (most at once) |",
    "|---|---|---|---|---|---|---|",
    ...toolRows,
    "",
    `LangChain.js's phases (medians, s): load ${phase("loadMs")}, split ${phase("splitMs")}, embed and store ${phase("embedMs")}, write the JSON file ${phase("writeMs")}; nothing is stored before every chunk is embedded. sluice's own peak RSS figure (\`process.resourceUsage().maxRSS\`, in its summary) for the same runs: ${selfRss.map((x) => mb(x.selfPeakRssBytes as number)).join(", ")} MB.`,
    "",
    `Hash embedder (no network), ${r.hash.files.toLocaleString("en-US")} files, JSONL store, CPU threads set with \`${r.hash.flag}\`; chunks/s is the summary's (the run, process start-up excluded):`,
    "",
    ...(r.hash.skipped === null
      ? [
          "| threads | chunks | chunks/s | wall time (s) | peak RSS (MB) |",
          "|---|---|---|---|---|",
          ...hashRows,
        ]
      : [`Skipped: ${r.hash.skipped}.`]),
    "",
    "| target | measured | status |",
    "|---|---|---|",
    ...r.verdicts.map((v) => `| ${v.target} | ${v.measured} | ${status(v.met)} |`),
    "",
    "Commands:",
    "",
    "```sh",
    ...commands,
    "```",
    "",
  ].join("\n");
}

/** Writes `embed-vs-langchain.json` and `.md` under `out`. */
async function writeEmbedVsLangchain(out: string, report: EmbedVsLangchainReport): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "embed-vs-langchain.json"), `${JSON.stringify(report, null, 2)}\n`);
  const markdown = renderEmbedVsLangchain(report).replace(/^## /, "# ");
  await writeFile(join(out, "embed-vs-langchain.md"), markdown);
}

const positiveInt = (name: string, value: string | undefined): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    process.stderr.write(`${name} must be a positive integer, got ${value}\n`);
    process.exit(2);
  }
  return n;
};

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      files: { type: "string" },
      "hash-files": { type: "string" },
      rounds: { type: "string" },
      quick: { type: "boolean", default: false },
      "corpus-dir": { type: "string" },
      "threads-flag": { type: "string", default: THREADS_FLAG },
      note: { type: "string" },
      out: { type: "string" },
      rerender: { type: "boolean", default: false },
    },
  });
  const quick = values.quick;
  if (values.rerender) {
    // Re-judges and re-renders a saved report (after a change to the targets or the format).
    const out = resolve(values.out ?? join(BENCH_DIR, "results"));
    const saved = JSON.parse(
      await readFile(join(out, "embed-vs-langchain.json"), "utf8"),
    ) as EmbedVsLangchainReport;
    const note = values.note ?? saved.note;
    const report = {
      ...saved,
      ...(note === undefined ? {} : { note }),
      verdicts: verdictsOf(saved),
    };
    await writeEmbedVsLangchain(out, report);
    process.stdout.write(renderEmbedVsLangchain(report));
    return;
  }
  const measured = await embedVsLangchain({
    files: positiveInt("--files", values.files ?? (quick ? "20" : "5000")),
    hashFiles: positiveInt("--hash-files", values["hash-files"] ?? (quick ? "20" : "20000")),
    rounds: positiveInt("--rounds", values.rounds ?? (quick ? "1" : "3")),
    corpusDir: resolve(values["corpus-dir"] ?? join(os.tmpdir(), "sluice-bench-corpora")),
    threadsFlag: values["threads-flag"],
  });
  const report = values.note === undefined ? measured : { ...measured, note: values.note };
  // A quick run's figures would replace the real ones: it writes only where told to.
  if (!quick || values.out !== undefined) {
    await writeEmbedVsLangchain(resolve(values.out ?? join(BENCH_DIR, "results")), report);
  }
  process.stdout.write(renderEmbedVsLangchain(report));
  if (report.verdicts.some((v) => v.met === false)) process.exitCode = 1;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === SELF) await main();
