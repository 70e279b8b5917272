import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbedConfigInput } from "../config.ts";
import { generateCorpus } from "../corpus/generate.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { createFaultyEmbedder } from "../testing/test-embedders.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";

// Markdown that sent remark/micromark (the parser before markdown-it) into super-linear time,
// huge memory or deep recursion: the first alone held the process for minutes. They are parsed
// now, in bounded time, and stored like any file.
const PARSED: Record<string, string> = {
  "hostile/emphasis.md": "*a_".repeat(33_000),
  "hostile/blank-lines.md": "\n".repeat(1_000_000),
  "hostile/deep-quote.md": "> ".repeat(50_000),
};
// markdown-it's slowest input found: seconds for a few MB, past the test's deadline.
const TOO_SLOW = { "hostile/table.md": `|a|b|\n|-|-|\n${"|x|y|\n".repeat(800_000)}` };
const HOSTILE: Record<string, string> = { ...PARSED, ...TOO_SLOW };
const NORMAL = 8;
let root: string;

function config(store: string): EmbedConfigInput {
  return {
    root: "docs",
    embedder: { dimensions: 32 },
    store: { location: store },
    maxFileBytes: 8 * 1024 * 1024,
    parseTimeoutMs: 4_000,
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-hostile-md-"));
  await generateCorpus(join(root, "docs"), { files: NORMAL, seed: 5 });
  await mkdir(join(root, "docs", "hostile"), { recursive: true });
  for (const [path, text] of Object.entries(HOSTILE))
    await writeFile(join(root, "docs", path), text);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("pathological markdown", () => {
  it("is parsed in bounded time or skipped with a code by both workflows, and every normal file is stored", async () => {
    const dumps = [];
    for (const [name, run] of [
      ["streaming", embedDocumentsStreaming],
      ["batch", embedDocuments],
    ] as const) {
      const started = performance.now();
      const summary = await run(config(`out/${name}.jsonl`), {
        cwd: root,
        embedder: createFaultyEmbedder(),
      });
      // It hung for minutes before; a generous bound that only proves it stays bounded.
      expect(performance.now() - started, name).toBeLessThan(60_000);
      expect(
        summary.errors.map((e) => [e.path, e.kind, e.stage]),
        name,
      ).toEqual([["hostile/table.md", "skipped", "clean"]]);
      // Past the deadline, or past the worker's heap on the way there.
      expect(["PARSE_TIMEOUT", "PARSE_TOO_LARGE"], name).toContain(summary.errors[0]?.code);
      expect(summary.committed, name).toBe(NORMAL + Object.keys(PARSED).length);
      const dump = await dumpJsonlStore(join(root, `out/${name}.jsonl`));
      const stored = new Set(dump.chunks.map((c) => c.path));
      expect(stored.has("hostile/table.md"), name).toBe(false);
      expect(stored.has("hostile/emphasis.md"), name).toBe(true);
      expect(stored.size, name).toBe(NORMAL + 1);
      dumps.push(dump);
    }
    expect(dumps[0]).toEqual(dumps[1]);
  }, 180_000);

  it("never holds the other files back: the streaming run stores while the first file times out", async () => {
    // "!" sorts before the corpus's folders: discovery hands this file on first.
    const first = join(root, "first");
    await generateCorpus(join(first, "docs"), { files: NORMAL, seed: 6 });
    await writeFile(join(first, "docs", "!table.md"), TOO_SLOW["hostile/table.md"]);
    const summary = await embedDocumentsStreaming(
      { ...config("out/first.jsonl"), parseTimeoutMs: 8_000, threads: 2 },
      { cwd: first, embedder: createFaultyEmbedder() },
    );
    expect(summary.errors.map((e) => e.path)).toEqual(["!table.md"]);
    expect(["PARSE_TIMEOUT", "PARSE_TOO_LARGE"]).toContain(summary.errors[0]?.code);
    expect(summary.committed).toBe(NORMAL);
    // The normal files are parsed by the other worker and stored long before the 8 s deadline;
    // in discovery order, they all waited behind it.
    expect(summary.timeToFirstStoredChunkMs).not.toBeNull();
    expect(summary.timeToFirstStoredChunkMs as number).toBeLessThan(4_000);
  }, 120_000);
});
