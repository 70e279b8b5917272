import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { corpusDocument, generateCorpus } from "../corpus/generate.ts";
import { runSluice } from "../testing/sluice-process.ts";

let cwd: string;

/** Runs the real `sluice` command (the package's bin) in the test folder. */
const sluice = (...args: string[]) => runSluice({ cwd }, ...args);

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-cli-"));
  await generateCorpus(join(cwd, "notes"), { files: 12, seed: 21 });
  await mkdir(join(cwd, "broken"), { recursive: true });
  await writeFile(
    join(cwd, "broken", "good.md"),
    "# Good\n\nA perfectly fine note about otters.\n",
  );
  await writeFile(join(cwd, "broken", "binary.md"), Buffer.from([0x00, 0x01, 0x02]));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("sluice embed / search / stats", () => {
  it("embeds with --json, re-runs incrementally, searches and counts", async () => {
    const embed = await sluice("embed", "notes", "--store", "out/notes.jsonl", "--json");
    expect(embed.stderr).toBe("");
    expect(embed.code).toBe(0);
    const summary = JSON.parse(embed.stdout);
    expect(summary).toMatchObject({ mode: "streaming", files: 12, skipped: 0, failed: 0 });
    expect(summary.embedded).toBe(summary.chunks);
    for (const key of ["durationMs", "throughput", "timeToFirstStoredChunkMs", "peakRssBytes"]) {
      expect(typeof summary[key], key).toBe("number");
    }

    const again = await sluice(
      "embed",
      "notes",
      "--store",
      "out/notes.jsonl",
      "--json",
      "--mode",
      "batch",
    );
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ mode: "batch", embedded: 0, unchanged: 12 });

    const doc = corpusDocument(7, 21);
    const line = doc.content.split("\n").find((l) => l.includes(doc.marker)) ?? "";
    // A whole paragraph as the query: vector similarity finds that very chunk.
    const search = await sluice(
      "search",
      line,
      "--store",
      "out/notes.jsonl",
      "--json",
      "--k",
      "3",
      "--mode",
      "vector",
    );
    expect(search.code).toBe(0);
    const { results } = JSON.parse(search.stdout);
    const hybrid = await sluice("search", line, "--store", "out/notes.jsonl", "--json", "--k", "3");
    expect(JSON.parse(hybrid.stdout).results[0]).toMatchObject({ path: doc.relativePath });
    expect(results).toHaveLength(3);
    expect(results[0]).toMatchObject({ path: doc.relativePath });
    expect(results[0].text).toContain(doc.marker);
    expect(results[0].lines.start).toBeLessThanOrEqual(results[0].lines.end);
    expect(results[0].score).toBeGreaterThan(results[2].score);

    const stats = await sluice("stats", "--store", "out/notes.jsonl", "--json");
    expect(stats.code).toBe(0);
    expect(JSON.parse(stats.stdout)).toMatchObject({
      kind: "jsonl",
      files: 12,
      chunks: summary.embedded,
      embedderId: "hash-v1:384",
    });
  }, 120_000);

  it("exits 1 when a file fails, reports it, and keeps what succeeded", async () => {
    const report = join(cwd, "out", "errors.json");
    const run = await sluice(
      "embed",
      "broken",
      "--store",
      "out/broken.jsonl",
      "--json",
      "--error-report",
      report,
    );
    expect(run.code).toBe(1);
    const summary = JSON.parse(run.stdout);
    expect(summary).toMatchObject({ files: 2, skipped: 1, committed: 1 });
    expect(summary.errors).toEqual([
      {
        kind: "skipped",
        path: "binary.md",
        stage: "read",
        code: "BINARY_FILE",
        message: "binary.md has a NUL byte at offset 0",
      },
    ]);
    expect(JSON.parse(await readFile(report, "utf8")).errors).toEqual(summary.errors);
    const stats = await sluice("stats", "--store", "out/broken.jsonl", "--json");
    expect(JSON.parse(stats.stdout)).toMatchObject({ files: 1 });
  }, 60_000);

  it("prints a human summary and plain progress lines when not on a terminal", async () => {
    const run = await sluice("embed", "notes", "--store", "out/human.jsonl", "--mode", "batch");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/files +12 found/);
    expect(run.stdout).toMatch(/throughput .* chunks\/s/);
    expect(run.stdout).toMatch(/first stored chunk after \d+ ms/);
    expect(run.stdout).toMatch(/peak memory \d+ MiB/);
    expect(run.stderr).toMatch(/^\[sluice\] batch: /m);
    const quiet = await sluice("embed", "notes", "--store", "out/human.jsonl", "--quiet");
    expect(quiet).toMatchObject({ code: 0, stdout: "", stderr: "" });
  }, 60_000);

  it("exits 2 naming the bad value for bad flags and config; --help exits 0", async () => {
    const cases: [string[], RegExp][] = [
      [["embed", "notes", "--batch-size", "lots"], /--batch-size.*"lots"/],
      [["embed", "notes", "--mode", "turbo"], /turbo/],
      [
        ["embed", "notes", "--max-chunk-size", "100", "--chunk-overlap", "200"],
        /chunkOverlap = 200/,
      ],
      [["embed", "no-such-folder", "--store", "out/x.jsonl"], /no-such-folder/],
      [["embed", "notes", "--endpoint", "ftp://x"], /embedder\.baseUrl = "ftp:\/\/x"/],
      [["search", "q", "--store", "out/missing.jsonl"], /out\/missing\.jsonl/],
      [["frobnicate"], /frobnicate/],
    ];
    const runs = await Promise.all(cases.map(([args]) => sluice(...args)));
    cases.forEach(([args, message], i) => {
      expect(runs[i]?.code, args.join(" ")).toBe(2);
      expect(runs[i]?.stderr, args.join(" ")).toMatch(message);
    });
    const commands = ["embed", "search", "stats"];
    const helps = await Promise.all(commands.map((command) => sluice(command, "--help")));
    commands.forEach((command, i) => {
      expect(helps[i]?.code).toBe(0);
      expect(helps[i]?.stdout).toContain(`Usage: sluice ${command}`);
    });
  }, 120_000);
});
