/**
 * `sluice embed` against a rate-limited API: a loopback OpenAI-compatible server (in this
 * process) that enforces 1,200 requests and 240,000 tokens a minute with token buckets
 * holding 10 s, answering 429 with `Retry-After: 1` past them (issue 19). Three runs of the
 * real `sluice` command over the same generated corpus, each against a fresh server:
 *
 * - `--rpm 1200 --tpm 240000` (paced by the stage's rate limit, adaptive concurrency on);
 * - no limits given (adaptive concurrency alone, the OpenAI embedder's default);
 * - fixed concurrency without the feature (`embedder.adaptiveConcurrency: false`): the
 *   embedder retries 429s on its own, the stage `retryAttempts` times, as before issue 19.
 *
 * Prints, per run: exit code, chunks failed, requests and the share answered 429, and the
 * tokens per minute the server accepted past its initial burst (from 10 s after the first
 * request to the last accepted one) as a share of the limit. Writes
 * `results/embed-rate-limits.json` and `.md` (or under `--out`).
 *
 *   npm run bench:embed-rate-limits -w bench [-- --files 200 --out dir]
 */
import { spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type EmbedSummary, generateCorpus, startEmbeddingServer } from "@sluice/embed";
import { machineInfo } from "./machine.ts";

const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const SLUICE_BIN = fileURLToPath(new URL("../packages/embed/bin/sluice.js", import.meta.url));
const RPM = 1_200;
const TPM = 240_000;
const BURST_MS = 10_000;

interface Case {
  readonly name: string;
  readonly args: readonly string[];
  /** Config file contents, when the case needs one. */
  readonly config?: unknown;
  /** The issue's targets: most 429 share, least share of the token limit past the burst. */
  readonly target?: { readonly max429: number; readonly minRate: number };
}

const CASES: readonly Case[] = [
  {
    name: `--rpm ${RPM} --tpm ${TPM}`,
    args: ["--rpm", String(RPM), "--tpm", String(TPM)],
    target: { max429: 0.02, minRate: 0.8 },
  },
  { name: "adaptive only (no limits given)", args: [], target: { max429: 0.15, minRate: 0.7 } },
  {
    name: "fixed concurrency, without the feature",
    args: ["--config", "fixed.json"],
    config: { embedder: { adaptiveConcurrency: false } },
  },
];

export interface CaseResult {
  readonly name: string;
  readonly exitCode: number | null;
  readonly wallS: number;
  readonly chunks: number | null;
  readonly failedChunks: number | null;
  readonly requests: number;
  readonly limited: number;
  readonly share429: number;
  readonly tokens: number;
  /** Tokens a minute accepted past the initial burst, as a share of the limit (null: too short). */
  readonly rateShare: number | null;
  readonly met: boolean | null;
}

function runCli(
  cwd: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string }> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [SLUICE_BIN, ...args], {
      cwd,
      env: { ...process.env, OPENAI_API_KEY: "placeholder" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.on("error", fail);
    child.on("close", (code) => done({ code, stdout }));
  });
}

async function runCase(dir: string, c: Case, index: number): Promise<CaseResult> {
  const server = await startEmbeddingServer({
    dimensions: 64,
    rateLimits: { rpm: RPM, tpm: TPM, burstMs: BURST_MS, retryAfter: "1" },
  });
  try {
    if (c.config !== undefined) {
      await writeFile(join(dir, "fixed.json"), JSON.stringify(c.config));
    }
    const started = performance.now();
    const { code, stdout } = await runCli(dir, [
      "embed",
      "docs",
      "--store",
      `run-${index}.jsonl`,
      "--embedder",
      "openai",
      "--endpoint",
      server.url,
      "--model",
      "text-embedding-3-small",
      "--dimensions",
      "64",
      "--json",
      "--quiet",
      ...c.args,
    ]);
    const wallS = (performance.now() - started) / 1000;
    let summary: Partial<EmbedSummary> = {};
    try {
      summary = JSON.parse(stdout) as EmbedSummary;
    } catch {
      // A run that printed no summary reports nulls.
    }
    const { limited, accepted } = server.rateStats();
    const requests = accepted.length + limited;
    const tokens = accepted.reduce((sum, a) => sum + a.tokens, 0);
    const first = Math.min(...accepted.map((a) => a.at));
    const last = Math.max(...accepted.map((a) => a.at));
    const from = first + BURST_MS;
    let rateShare: number | null = null;
    if (last - from >= 5_000) {
      const past = accepted.filter((a) => a.at >= from).reduce((sum, a) => sum + a.tokens, 0);
      rateShare = ((past / (last - from)) * 60_000) / TPM;
    }
    const share429 = requests === 0 ? 0 : limited / requests;
    const failedChunks = summary.failedChunks ?? null;
    const met =
      c.target === undefined
        ? null
        : code === 0 &&
          failedChunks === 0 &&
          share429 <= c.target.max429 &&
          rateShare !== null &&
          rateShare >= c.target.minRate;
    return {
      name: c.name,
      exitCode: code,
      wallS,
      chunks: summary.chunks ?? null,
      failedChunks,
      requests,
      limited,
      share429,
      tokens,
      rateShare,
      met,
    };
  } finally {
    await server.close();
  }
}

const pct = (x: number | null) => (x === null ? "—" : `${(x * 100).toFixed(1)}%`);

function render(
  results: readonly CaseResult[],
  files: number,
  when: string,
  machine: string,
): string {
  return [
    "# Embedding under rate limits",
    "",
    `Written by \`npm run bench:embed-rate-limits -w bench\` (bench/embed-rate-limits.ts) on ${when} (${machine}). ` +
      `\`sluice embed\` of ${files} generated markdown files (seed 1) with the OpenAI-compatible embedder ` +
      `(default batches: 64 chunks, 8,000 tokens; 2 requests at once) against a loopback server enforcing ` +
      `${RPM.toLocaleString("en-US")} requests and ${TPM.toLocaleString("en-US")} tokens a minute (cl100k tokens) with token buckets holding 10 s, ` +
      "answering 429 with `Retry-After: 1` past them; a fresh server per run, one run each. " +
      "Tokens/min past the burst: tokens the server accepted from 10 s after the first request to the last accepted one, per minute, as a share of the limit.",
    "",
    "| run | exit | chunks failed | requests | 429 | tokens/min past the burst | wall time (s) | issue 19 target |",
    "|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r, i) =>
        `| ${r.name} | ${r.exitCode} | ${r.failedChunks ?? "—"} of ${r.chunks ?? "—"} | ${r.requests} | ${r.limited} (${pct(r.share429)}) | ${pct(r.rateShare)} | ${r.wallS.toFixed(1)} | ${
          CASES[i]?.target === undefined
            ? "—"
            : `${r.met ? "met" : "**not met**"} (nothing fails, ≤ ${pct(CASES[i]?.target?.max429 ?? 0)} 429, ≥ ${pct(CASES[i]?.target?.minRate ?? 0)})`
        } |`,
    ),
    "",
  ].join("\n");
}

/** One run of the three cases: each result, and the report as markdown. */
export interface RateLimitsReport {
  readonly results: readonly CaseResult[];
  readonly markdown: string;
}

/**
 * Runs the three cases over `files` generated files and writes `embed-rate-limits.json` and
 * `.md` into `out`; `log` gets a line per case as it ends.
 */
export async function runRateLimitsBench(
  files: number,
  out: string,
  log: (line: string) => void = () => {},
): Promise<RateLimitsReport> {
  const m = machineInfo();
  const dir = await mkdtemp(join(os.tmpdir(), "sluice-bench-rate-limits-"));
  try {
    await generateCorpus(join(dir, "docs"), { files });
    const results: CaseResult[] = [];
    for (const [i, c] of CASES.entries()) {
      const r = await runCase(dir, c, i);
      results.push(r);
      log(
        `${r.name}: exit ${r.exitCode}, failed chunks ${r.failedChunks}, requests ${r.requests}, ` +
          `429 ${r.limited} (${pct(r.share429)}), tokens/min past the burst ${pct(r.rateShare)} of the limit, ${r.wallS.toFixed(1)} s\n`,
      );
    }
    await mkdir(out, { recursive: true });
    const when = new Date().toISOString();
    const machine = `${m.cpuModel}, ${m.cores} cores, Node ${m.node}, load average at start ${m.loadAverage.map((x) => x.toFixed(2)).join(" / ")}`;
    await writeFile(
      join(out, "embed-rate-limits.json"),
      `${JSON.stringify({ when, files, rpm: RPM, tpm: TPM, results }, null, 2)}\n`,
    );
    const markdown = render(results, files, when, machine);
    await writeFile(join(out, "embed-rate-limits.md"), markdown);
    return { results, markdown };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { files: { type: "string", default: "200" }, out: { type: "string" } },
  });
  const files = Number(values.files);
  if (!Number.isInteger(files) || files < 1) {
    process.stderr.write(`--files must be a positive integer, got ${values.files}\n`);
    process.exit(2);
  }
  await runRateLimitsBench(files, resolve(values.out ?? join(BENCH_DIR, "results")), (line) =>
    process.stdout.write(line),
  );
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
