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

// Markdown that sends remark/micromark into super-linear time, huge memory or deep recursion.
// Before parsing moved to worker threads with a deadline, the first of these alone held the
// process for minutes and nothing else was stored meanwhile.
const HOSTILE: Record<string, string> = {
  "hostile/emphasis.md": "*a_".repeat(33_000),
  "hostile/blank-lines.md": "\n".repeat(1_000_000),
  "hostile/deep-quote.md": "> ".repeat(50_000),
};
const NORMAL = 8;
let root: string;

function config(store: string): EmbedConfigInput {
  return {
    root: "docs",
    embedder: { dimensions: 32 },
    store: { location: store },
    parseTimeoutMs: 2_000,
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
  it("is skipped with a code by both workflows, within a bound, and every normal file is stored", async () => {
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
      const hostile = summary.errors.map((e) => [e.path, e.kind, e.stage]);
      expect(hostile, name).toEqual(
        Object.keys(HOSTILE)
          .sort()
          .map((p) => [p, "skipped", "clean"]),
      );
      const codes = Object.fromEntries(summary.errors.map((e) => [e.path, e.code]));
      expect(codes["hostile/emphasis.md"], name).toBe("PARSE_TIMEOUT");
      expect(["PARSE_TIMEOUT", "PARSE_TOO_LARGE"], name).toContain(codes["hostile/blank-lines.md"]);
      expect(["PARSE_TIMEOUT", "PARSE_TOO_DEEP"], name).toContain(codes["hostile/deep-quote.md"]);
      expect(summary.committed, name).toBe(NORMAL);
      const dump = await dumpJsonlStore(join(root, `out/${name}.jsonl`));
      // Every normal file has chunks in the store; no hostile one has.
      const stored = new Set(dump.chunks.map((c) => c.path));
      expect(stored.size, name).toBe(NORMAL);
      for (const path of Object.keys(HOSTILE)) expect(stored.has(path), path).toBe(false);
      dumps.push(dump);
    }
    expect(dumps[0]).toEqual(dumps[1]);
  }, 180_000);

  it("never holds the other files back: the streaming run stores while the first file times out", async () => {
    // "!" sorts before the corpus's folders: discovery hands this file on first.
    const first = join(root, "first");
    await generateCorpus(join(first, "docs"), { files: NORMAL, seed: 6 });
    await writeFile(join(first, "docs", "!emphasis.md"), "*a_".repeat(33_000));
    const summary = await embedDocumentsStreaming(
      { ...config("out/first.jsonl"), parseTimeoutMs: 8_000 },
      { cwd: first, embedder: createFaultyEmbedder() },
    );
    expect(summary.errors.map((e) => [e.path, e.code])).toEqual([
      ["!emphasis.md", "PARSE_TIMEOUT"],
    ]);
    expect(summary.committed).toBe(NORMAL);
    // The normal files are parsed by the other worker and stored long before the 8 s deadline;
    // in discovery order, they all waited behind it.
    expect(summary.timeToFirstStoredChunkMs).not.toBeNull();
    expect(summary.timeToFirstStoredChunkMs as number).toBeLessThan(4_000);
  }, 120_000);
});
