/**
 * The embed workflow at the issue's corpus size, outside `npm run bench` (a run of each mode
 * takes minutes, and batch needs more heap than V8's default limit):
 *
 * ```sh
 * npm run bench:embed-at-scale -w bench -- [--files 100000] [--corpus DIR] [--out DIR]
 * ```
 *
 * `--rerender` re-judges and re-renders the report already in `--out` without running anything
 * (after a change to the report's format).
 *
 * Each mode runs ALONE, one after the other, as a user runs it: the `sluice embed` command in a
 * child process of its own, hash embedder, JSONL store, `--json`. The figures come from each
 * run's summary (duration, throughput, time to first stored chunk, and peak RSS from the
 * kernel's high-water mark, `process.resourceUsage().maxRSS`). Both stores must hold the same
 * records: the multiset of their lines (ids, text, vectors, metadata) is compared by a hash of
 * the sorted per-line SHA-256 digests, which needs 32 bytes per record rather than the store.
 *
 * Writes `results/embed-<size>.md` and `.json` (or under `--out`) and prints the table.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { EmbedSummary } from "@sluice/embed";
import { CORPUS_SEED, ensureCorpus } from "./lib/embed-corpus.ts";
import { type MachineInfo, machineInfo } from "./machine.ts";
import { tail } from "./spawn.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SLUICE_BIN = fileURLToPath(new URL("../packages/embed/bin/sluice.js", import.meta.url));
/** Batch holds the whole corpus (≈ 5 GB at 100,000 files), past V8's default heap limit. */
const HEAP_LIMIT_MB = 16_000;

/** The issue's targets, streaming against batch on the same corpus. */
export const TARGETS = {
  rssRatioAtMost: 0.1,
  firstStoredMsBelow: 1_000,
  throughputRatioAtLeast: 1,
} as const;

type Mode = "streaming" | "batch";

/** The summary figures kept from each run (`sluice embed --json` prints the whole summary). */
const FIGURES = [
  "files",
  "chunks",
  "embedded",
  "skipped",
  "failed",
  "durationMs",
  "throughput",
  "timeToFirstStoredChunkMs",
  "peakRssBytes",
] as const;

/** What one mode's run reported. */
export interface ModeRun extends Pick<EmbedSummary, (typeof FIGURES)[number]> {
  readonly mode: Mode;
  readonly command: string;
  readonly wallMs: number;
  /** Records in the store and the hash of their sorted per-line digests. */
  readonly records: number;
  readonly contentDigest: string;
}

/** The report of one run of this script. */
export interface ScaleReport {
  readonly date: string;
  readonly machine: MachineInfo;
  readonly files: number;
  readonly seed: number;
  readonly runs: readonly ModeRun[];
  readonly sameOutput: boolean;
  readonly rssRatio: number;
  readonly throughputRatio: number;
  readonly verdicts: readonly {
    readonly target: string;
    readonly measured: string;
    readonly met: boolean;
  }[];
}

/** Runs `node <args>` to the end; rejects on a non-zero exit with the stderr's tail. */
function runNode(args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    const env = { ...process.env };
    delete env.NODE_OPTIONS;
    const child = spawn(process.execPath, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code, signal) => {
      if (code === 0) resolvePromise(stdout);
      else {
        reject(new Error(`node ${args.join(" ")} exited with ${code ?? signal}:\n${tail(stderr)}`));
      }
    });
  });
}

/** Count and order-free digest of a JSONL store's lines (memory: 32 bytes per line). */
async function storeDigest(path: string): Promise<{ records: number; digest: string }> {
  const digests: Buffer[] = [];
  const input = createReadStream(path, { encoding: "utf8" });
  for await (const line of createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })) {
    if (line !== "") digests.push(createHash("sha256").update(line).digest());
  }
  digests.sort(Buffer.compare);
  const all = createHash("sha256");
  for (const d of digests) all.update(d);
  return { records: digests.length, digest: all.digest("hex") };
}

async function runMode(mode: Mode, corpus: string, work: string): Promise<ModeRun> {
  const store = join(work, `${mode}.jsonl`);
  // The same V8 flags for both modes; only batch needs the higher limit.
  const heap = `--max-old-space-size=${HEAP_LIMIT_MB}`;
  const embedArgs = (dir: string, file: string) =>
    ["embed", dir, "--mode", mode, "--store", file, "--json", "--quiet"] as const;
  const started = performance.now();
  const stdout = await runNode([heap, SLUICE_BIN, ...embedArgs(corpus, store)], work);
  const wallMs = performance.now() - started;
  const summary = JSON.parse(stdout) as EmbedSummary;
  const { records, digest } = await storeDigest(store);
  await rm(store, { force: true });
  const figures = Object.fromEntries(FIGURES.map((key) => [key, summary[key]]));
  return {
    ...(figures as Pick<EmbedSummary, (typeof FIGURES)[number]>),
    mode,
    command: `node ${heap} sluice.js ${embedArgs("<corpus>", `${mode}.jsonl`).join(" ")}`,
    wallMs,
    records,
    contentDigest: digest,
  };
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (bytes: number) => int(bytes / (1024 * 1024));

/** Builds the report (ratios and verdicts) from the two runs. */
export function scaleReport(
  files: number,
  streaming: ModeRun,
  batch: ModeRun,
  machine: MachineInfo,
  date: string,
): ScaleReport {
  const complete = (r: ModeRun) =>
    r.failed === 0 && r.skipped === 0 && r.embedded === r.chunks && r.files === files;
  const sameOutput =
    complete(streaming) &&
    complete(batch) &&
    streaming.records === batch.records &&
    streaming.contentDigest === batch.contentDigest;
  const rssRatio = streaming.peakRssBytes / batch.peakRssBytes;
  const throughputRatio = streaming.throughput / batch.throughput;
  const first = streaming.timeToFirstStoredChunkMs;
  return {
    date,
    machine,
    files,
    seed: CORPUS_SEED,
    runs: [streaming, batch],
    sameOutput,
    rssRatio,
    throughputRatio,
    verdicts: [
      {
        target: "same output, nothing failed or skipped",
        measured: `${int(streaming.records)} and ${int(batch.records)} records, digests ${streaming.contentDigest === batch.contentDigest ? "equal" : "differ"}`,
        met: sameOutput,
      },
      {
        target: `streaming peak RSS ≤ ${TARGETS.rssRatioAtMost}× batch`,
        measured: `${rssRatio.toFixed(3)}× (${mb(streaming.peakRssBytes)} MB ÷ ${mb(batch.peakRssBytes)} MB)`,
        met: rssRatio <= TARGETS.rssRatioAtMost,
      },
      {
        target: `streaming time to first stored chunk < ${TARGETS.firstStoredMsBelow} ms`,
        measured: first === null ? "none" : `${int(first)} ms`,
        met: first !== null && first < TARGETS.firstStoredMsBelow,
      },
      {
        target: `streaming throughput ≥ ${TARGETS.throughputRatioAtLeast}× batch`,
        measured: `${throughputRatio.toFixed(3)}× (${int(streaming.throughput)} ÷ ${int(batch.throughput)} chunks/s)`,
        met: throughputRatio >= TARGETS.throughputRatioAtLeast,
      },
    ],
  };
}

/** The report as markdown. */
export function renderScaleReport(r: ScaleReport): string {
  const [s, b] = r.runs as [ModeRun, ModeRun];
  const row = (label: string, sv: string, bv: string, ratio = "") =>
    `| ${label} | ${sv} | ${bv} | ${ratio} |`;
  const m = r.machine;
  return [
    `# embed-documents at ${int(r.files)} files`,
    "",
    "Measured by `npm run bench:embed-at-scale -w bench` (bench/embed-at-scale.ts): each mode",
    "runs alone, one after the other, as the `sluice embed` command in a child process of its",
    `own; hash embedder (384 dimensions), JSONL store, corpus seed ${r.seed}. Figures from each run's`,
    "`--json` summary; peak RSS is the kernel's high-water mark of the process.",
    "",
    `Run ${r.date} on ${m.cpuModel} (${m.cores} cores, ${mb(m.memoryBytes)} MB), Node ${m.node},`,
    `load average at start ${m.loadAverage.join(" / ")}.`,
    "",
    "| | streaming | batch | streaming ÷ batch |",
    "| --- | --- | --- | --- |",
    row(
      "files / chunks",
      `${int(s.files)} / ${int(s.chunks)}`,
      `${int(b.files)} / ${int(b.chunks)}`,
    ),
    row(
      "duration (s)",
      (s.durationMs / 1000).toFixed(1),
      (b.durationMs / 1000).toFixed(1),
      `${(s.durationMs / b.durationMs).toFixed(3)}×`,
    ),
    row(
      "throughput (chunks/s)",
      int(s.throughput),
      int(b.throughput),
      `${r.throughputRatio.toFixed(3)}×`,
    ),
    row(
      "time to first stored chunk (ms)",
      s.timeToFirstStoredChunkMs === null ? "none" : int(s.timeToFirstStoredChunkMs),
      b.timeToFirstStoredChunkMs === null ? "none" : int(b.timeToFirstStoredChunkMs),
    ),
    row("peak RSS (MB)", mb(s.peakRssBytes), mb(b.peakRssBytes), `${r.rssRatio.toFixed(3)}×`),
    row("records in the store", int(s.records), int(b.records)),
    row(
      "store content digest",
      `\`${s.contentDigest.slice(0, 16)}\``,
      `\`${b.contentDigest.slice(0, 16)}\``,
    ),
    "",
    "## Targets",
    "",
    "| target | measured | status |",
    "| --- | --- | --- |",
    ...r.verdicts.map((v) => `| ${v.target} | ${v.measured} | ${v.met ? "met" : "**not met**"} |`),
    "",
    "One run of each mode. Streaming's live heap still grows slowly with the corpus: the JSONL",
    "store keeps an index entry per chunk id (≈ 140 bytes) and the run a hash per file.",
    "",
    "## Commands",
    "",
    "```sh",
    ...r.runs.map((run) => run.command),
    "```",
    "",
  ].join("\n");
}

const sizeLabel = (files: number) => (files % 1000 === 0 ? `${files / 1000}k` : String(files));

/** Where the report for this many files lives under `out`, without the extension. */
const reportBase = (out: string, files: number) => join(out, `embed-${sizeLabel(files)}`);

async function writeScaleReport(base: string, report: ScaleReport): Promise<void> {
  await writeFile(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  await writeFile(`${base}.md`, renderScaleReport(report));
}

/** Runs both modes over the corpus and writes the report; returns it. */
export async function embedAtScale(options: {
  readonly files: number;
  readonly corpus?: string;
  readonly out: string;
  readonly log?: (line: string) => void;
}): Promise<ScaleReport> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const work = await mkdtemp(join(os.tmpdir(), "sluice-embed-at-scale-"));
  const corpus = options.corpus ?? join(work, "corpus");
  try {
    await ensureCorpus(corpus, options.files, log);
    const date = new Date().toISOString();
    const machine = machineInfo();
    log("streaming: running alone …");
    const streaming = await runMode("streaming", corpus, work);
    log(`streaming: ${Math.round(streaming.wallMs)} ms`);
    log("batch: running alone …");
    const batch = await runMode("batch", corpus, work);
    log(`batch: ${Math.round(batch.wallMs)} ms`);
    const report = scaleReport(options.files, streaming, batch, machine, date);
    await mkdir(options.out, { recursive: true });
    const base = reportBase(options.out, options.files);
    await writeScaleReport(base, report);
    log(`wrote ${base}.md and .json`);
    return report;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      files: { type: "string", default: "100000" },
      corpus: { type: "string" },
      out: { type: "string", default: join(BENCH_DIR, "results") },
      rerender: { type: "boolean", default: false },
    },
  });
  const files = Number(values.files);
  if (!Number.isInteger(files) || files < 1) {
    process.stderr.write(`--files must be a positive integer, got ${values.files}\n`);
    process.exit(2);
  }
  if (values.rerender) {
    // Re-judges and re-renders the runs recorded in an earlier report, without running them.
    const base = reportBase(resolve(values.out), files);
    const old = JSON.parse(await readFile(`${base}.json`, "utf8")) as ScaleReport;
    const [streaming, batch] = old.runs as [ModeRun, ModeRun];
    const report = scaleReport(old.files, streaming, batch, old.machine, old.date);
    await writeScaleReport(base, report);
    process.stdout.write(renderScaleReport(report));
    process.exit(0);
  }
  const report = await embedAtScale({
    files,
    ...(values.corpus === undefined ? {} : { corpus: resolve(values.corpus) }),
    out: resolve(values.out),
  });
  process.stdout.write(renderScaleReport(report));
  process.exitCode = report.verdicts.every((v) => v.met) ? 0 : 1;
}
