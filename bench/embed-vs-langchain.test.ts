import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  checkStored,
  countLangchainRecords,
  DIMENSIONS,
  type EmbedVsLangchainReport,
  embedVsLangchain,
  type HashRun,
  renderEmbedVsLangchain,
  THREADS_FLAG,
  TOOLS,
  type Tool,
  type ToolRun,
  threadsFlagProblem,
  verdictsOf,
} from "./embed-vs-langchain.ts";
import { machineInfo } from "./machine.ts";
import { renderMarkdown } from "./report.ts";

const toolRun = (tool: Tool, over: Partial<ToolRun> = {}): ToolRun => ({
  tool,
  round: 0,
  command: tool,
  wallMs: 10_000,
  peakRssBytes: 400 * 1024 * 1024,
  files: 100,
  chunks: 600,
  chunksPerSecond: 60,
  selfDurationMs: 9_000,
  selfPeakRssBytes: tool === "langchain" ? null : 400 * 1024 * 1024,
  timeToFirstStoredChunkMs: tool === "langchain" ? null : 500,
  phases: tool === "langchain" ? { loadMs: 100, splitMs: 50, embedMs: 8_000, writeMs: 500 } : null,
  storeChunks: 600,
  storeBytes: 1_000_000,
  server: { requests: 10, maxConcurrent: 2, meanConcurrent: 1.5, cpuMs: 100 },
  ...over,
});

const hashRun = (threads: number, throughput: number): HashRun => ({
  threads,
  round: 0,
  command: `hash ${threads}`,
  wallMs: 1000,
  peakRssBytes: 100e6,
  files: 100,
  chunks: 600,
  throughput,
  wallChunksPerSecond: throughput,
  storeChunks: 600,
});

const base = (
  runs: ToolRun[],
  hashRuns: HashRun[],
  skipped: string | null = null,
): Omit<EmbedVsLangchainReport, "verdicts"> => ({
  date: "2026-01-02T03:04:05Z",
  machine: machineInfo(),
  seed: 7,
  files: 100,
  rounds: 1,
  dimensions: DIMENSIONS,
  latencyMs: 20,
  rssMeasure: "GNU time",
  runs,
  hash: { files: 100, flag: "--threads", skipped, runs: hashRuns },
});

describe("embed vs LangChain.js (bench/embed-vs-langchain.ts)", () => {
  it("embeds a tiny corpus with both tools, checks every store and judges every target", async () => {
    const corpusDir = await mkdtemp(join(os.tmpdir(), "sluice-embed-vs-langchain-test-"));
    try {
      const report = await embedVsLangchain({
        files: 20,
        hashFiles: 20,
        rounds: 1,
        corpusDir,
        log: () => {},
      });
      expect(report.runs.map((r) => r.tool)).toEqual([...TOOLS]);
      for (const run of report.runs) {
        expect(run.files).toBe(20);
        expect(run.chunks).toBeGreaterThan(20);
        expect(run.storeChunks).toBe(run.chunks);
        expect(run.storeBytes).toBeGreaterThan(0);
        expect(run.wallMs).toBeGreaterThan(0);
        expect(Number.isFinite(run.chunksPerSecond)).toBe(true);
        // A Node process with its modules loaded is well past 20 MB.
        expect(run.peakRssBytes).toBeGreaterThan(20 * 1024 * 1024);
        expect(run.server.requests).toBeGreaterThan(0);
      }
      const [langchain, jsonl, sqlite] = report.runs as [ToolRun, ToolRun, ToolRun];
      expect(langchain.phases?.embedMs).toBeGreaterThan(0);
      for (const sluice of [jsonl, sqlite]) {
        expect(sluice.timeToFirstStoredChunkMs).toBeGreaterThan(0);
        // The outside measure and sluice's own agree within a few MB.
        const self = sluice.selfPeakRssBytes ?? 0;
        expect(Math.abs(sluice.peakRssBytes - self)).toBeLessThan(0.1 * self);
      }
      // The CLI has THREADS_FLAG: the hash rows ran.
      expect(report.hash.skipped).toBeNull();
      expect(report.hash.runs.map((r) => r.threads)).toEqual([0, 1, 2]);
      for (const run of report.hash.runs) {
        expect(run.storeChunks).toBe(run.chunks);
        expect(run.throughput).toBeGreaterThan(0);
      }
      expect(report.verdicts).toHaveLength(8);
      expect(report.verdicts.every((v) => typeof v.met === "boolean")).toBe(true);
      const markdown = renderEmbedVsLangchain(report);
      expect(markdown).toMatch(/^## Embed throughput: sluice vs LangChain\.js/);
      expect(markdown).toContain("| LangChain.js (MemoryVectorStore, written to a JSON file) |");
      expect(markdown).toContain(`| ${THREADS_FLAG} 2 |`);
    } finally {
      await rm(corpusDir, { recursive: true, force: true });
    }
  }, 90_000);

  it("skips the hash rows, with the reason, when the CLI does not list the threads flag", async () => {
    expect(await threadsFlagProblem(THREADS_FLAG, os.tmpdir())).toBeNull();
    expect(await threadsFlagProblem("--no-such-threads", os.tmpdir())).toBe(
      "`sluice embed` has no `--no-such-threads` flag (yet)",
    );
    // A prefix of a listed flag is not the flag.
    expect(await threadsFlagProblem(THREADS_FLAG.slice(0, -1), os.tmpdir())).not.toBeNull();
    const partial = base([toolRun("langchain")], [], "`sluice embed` has no `--x` flag (yet)");
    const report = { ...partial, verdicts: verdictsOf(partial) };
    expect(report.verdicts.filter((v) => v.met === null)).toHaveLength(2);
    expect(renderEmbedVsLangchain(report)).toContain(
      "Skipped: `sluice embed` has no `--x` flag (yet).",
    );
  }, 30_000);

  it("fails a run whose store is empty, short or missing files", async () => {
    expect(() =>
      checkStored("t", { files: 3 }, { files: 3, chunks: 5, storeChunks: 5 }),
    ).not.toThrow();
    expect(() => checkStored("t", { files: 3 }, { files: 3, chunks: 0, storeChunks: 0 })).toThrow(
      /made no chunk/,
    );
    expect(() => checkStored("t", { files: 3 }, { files: 3, chunks: 5, storeChunks: 4 })).toThrow(
      /stored 4 chunks/,
    );
    expect(() => checkStored("t", { files: 3 }, { files: 2, chunks: 5, storeChunks: 5 })).toThrow(
      /saw 2 of 3 files/,
    );
    const dir = await mkdtemp(join(os.tmpdir(), "sluice-embed-vs-langchain-test-"));
    try {
      const file = join(dir, "store.json");
      const record = (vector: unknown) => JSON.stringify({ text: "t", metadata: {}, vector });
      await writeFile(file, `[\n${record([1, 2])},\n${record([3, 4])}\n]\n`);
      expect(await countLangchainRecords(file, 2)).toBe(2);
      await expect(countLangchainRecords(file, 3)).rejects.toThrow(/finite 3-d vector/);
      await writeFile(file, `[\n${record([1, null])}\n]\n`);
      await expect(countLangchainRecords(file, 2)).rejects.toThrow(/finite 2-d vector/);
      await writeFile(file, `[\n${record([1, 2])}\n`);
      await expect(countLangchainRecords(file, 2)).rejects.toThrow(/not closed/);
      await writeFile(file, "[\n]\n");
      expect(await countLangchainRecords(file, 2)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("judges each target on the medians", () => {
    const lc = (wallMs: number, mb: number) =>
      toolRun("langchain", { wallMs, peakRssBytes: mb * 1024 * 1024 });
    const sl = (tool: Tool, wallMs: number, mb: number, first: number) =>
      toolRun(tool, { wallMs, peakRssBytes: mb * 1024 * 1024, timeToFirstStoredChunkMs: first });
    const met = verdictsOf(
      base(
        [
          lc(10_000, 800),
          lc(12_000, 800),
          lc(30_000, 900),
          sl("sluice-jsonl", 9_000, 150, 400),
          sl("sluice-sqlite", 12_000, 200, 999),
        ],
        [hashRun(0, 1_500), hashRun(1, 2_600), hashRun(2, 2_700)],
      ),
    );
    expect(met.map((v) => v.met)).toEqual([true, true, true, true, true, true, true, true]);
    expect(met[0]?.measured).toBe("0.75× (9.00 s vs 12.00 s)");
    const missed = verdictsOf(
      base(
        [
          lc(10_000, 800),
          sl("sluice-jsonl", 10_001, 201, 1_000),
          sl("sluice-sqlite", 10_000, 200, 400),
        ],
        [hashRun(0, 1_200), hashRun(1, 1_999), hashRun(2, 3_000)],
      ),
    );
    expect(missed.map((v) => v.met)).toEqual([false, false, false, true, true, true, false, false]);
    const skipped = verdictsOf(base([lc(1, 1)], [], "no flag"));
    expect(skipped.slice(-2).map((v) => [v.met, v.measured])).toEqual([
      [null, "skipped: no flag"],
      [null, "skipped: no flag"],
    ]);
  });

  it("renders into BENCHMARKS.md after the store-costs section", () => {
    const partial = base(
      [toolRun("langchain"), toolRun("sluice-jsonl"), toolRun("sluice-sqlite")],
      [hashRun(0, 1_000), hashRun(1, 1_800), hashRun(2, 1_900)],
    );
    const section = renderEmbedVsLangchain({ ...partial, verdicts: verdictsOf(partial) });
    const main = {
      schema: 1 as const,
      date: "2026-01-01",
      mode: "full" as const,
      rounds: 1,
      durationS: 1,
      machine: machineInfo(),
      cases: [],
      targets: [],
    };
    const text = renderMarkdown(
      main,
      "latest.json",
      undefined,
      ["## Store costs", ""],
      section.split("\n"),
    );
    expect(text.indexOf("## Store costs")).toBeLessThan(text.indexOf("## Embed throughput"));
    expect(text).toContain(
      "| hash embedder, 100 files: 2 threads (--threads 1) ≥ 1.7× 1 thread (--threads 0) | 1.80× (1,800 vs 1,000 chunks/s) | met |",
    );
    expect(renderMarkdown(main, "latest.json")).not.toContain("## Embed throughput");
    expect(section).not.toContain("sources at");
    const noted = { ...partial, note: "sluice sources at abc123.", verdicts: verdictsOf(partial) };
    expect(renderEmbedVsLangchain(noted)).toContain("\n\nsluice sources at abc123.\n\n| tool |");
  });
});
