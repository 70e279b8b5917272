import { mkdtemp, rm, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configFingerprint, type EmbedConfig, parseEmbedConfig } from "./config.ts";
import { corpusDocument, generateCorpus } from "./corpus/generate.ts";
import { createEmbedder } from "./embedders/create.ts";
import type { Embedder } from "./embedders/embedder.ts";
import { batchItems } from "./steps/batch.ts";
import { discoverFiles } from "./steps/discover.ts";
import { prepareChunks } from "./steps/prepare.ts";
import { readTextFile } from "./steps/read.ts";
import { openVectorStore } from "./stores/open.ts";
import { fileVersionHash, planSync } from "./stores/sync-plan.ts";
import type { VectorStore } from "./stores/vector-store.ts";

// The stages composed by hand, as a pipeline will later compose them: proves they fit together
// and that an incremental re-run embeds only what changed.

const COLLECTION = "docs";
let root: string;
let config: EmbedConfig;
let embedder: Embedder;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-workflow-"));
  await generateCorpus(join(root, "docs"), { files: 60, seed: 11 });
  await writeFile(join(root, "docs", "binary.md"), Buffer.from([0x00, 0x01]));
  config = parseEmbedConfig(
    {
      root: "docs",
      clean: { removeSections: ["Changelog"] },
      split: { maxChunkSize: 600, chunkOverlap: 60, minChunkSize: 100 },
      embedder: { dimensions: 256 },
      store: { location: "out/store.jsonl" },
    },
    { cwd: root },
  );
  embedder = createEmbedder(config.embedder);
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function run(store: VectorStore) {
  const fingerprint = configFingerprint(config);
  const files = await discoverFiles({
    root: config.root,
    pattern: config.pattern,
    ignore: config.ignore,
  });
  const read = await Promise.all(
    files.map((f) => readTextFile(f, { maxFileBytes: config.maxFileBytes })),
  );
  const skipped = read.filter((r) => !r.ok);
  const ok = read.flatMap((r) => (r.ok ? [r] : []));
  const versions = new Map(
    ok.map((r) => [r.file.relativePath, fileVersionHash(r.contentHash, fingerprint)]),
  );
  const plan = planSync(
    versions,
    await store.fileHashes(COLLECTION),
    await store.listPaths(COLLECTION),
  );
  const todo = new Set([...plan.added, ...plan.changed]);
  let embedded = 0;
  for (const result of ok.filter((r) => todo.has(r.file.relativePath))) {
    const prepared = prepareChunks(
      { relativePath: result.file.relativePath, text: result.text },
      {
        collection: COLLECTION,
        frontmatter: config.frontmatter,
        removeSections: config.clean.removeSections,
        split: config.split,
      },
    );
    for (const batch of batchItems(prepared.chunks, { size: config.batch.size })) {
      const vectors = await embedder.embed(batch.map((c) => c.text));
      await store.upsert(batch.map((c, i) => ({ ...c, vector: vectors[i] ?? [] })));
      embedded += batch.length;
    }
    await store.commitFile(
      COLLECTION,
      prepared.path,
      versions.get(prepared.path) ?? "",
      prepared.chunks.map((c) => c.id),
    );
  }
  for (const path of plan.removed) await store.deleteFile(COLLECTION, path);
  return { plan, embedded, skipped };
}

describe("embed-documents stages composed", () => {
  it("embeds a corpus, finds a document by its words, and re-runs incrementally", async () => {
    const identity = { embedderId: embedder.id, dimensions: embedder.dimensions };
    const store = await openVectorStore(config.store, { mode: "write", identity });
    try {
      const first = await run(store);
      expect(first.skipped.map((s) => (s.ok ? "" : s.reason))).toEqual(["binary"]);
      expect(first.plan.added).toHaveLength(60);
      expect(first.embedded).toBeGreaterThan(60);

      // The intro paragraph of document 17 (lexical search: its own words) leads to that
      // document, at the real file lines of the paragraph.
      const doc = corpusDocument(17, 11);
      const lines = doc.content.split("\n");
      const markerLine = lines.findIndex((l) => l.includes(doc.marker)) + 1;
      const [query] = await embedder.embed([lines[markerLine - 1] ?? ""]);
      const [hit] = await store.search({ vector: query ?? [], k: 1, mode: "vector" });
      expect(hit?.path).toBe(doc.relativePath);
      expect(hit?.startLine).toBeLessThanOrEqual(markerLine);
      expect(hit?.endLine).toBeGreaterThanOrEqual(markerLine);
      expect(hit?.metadata).toMatchObject({ title: doc.title, tags: [...doc.tags] });
      const all = await store.search({ vector: query ?? [], k: 10_000, mode: "vector" });
      expect(all.some((h) => h.text.includes("Changelog"))).toBe(false);

      const second = await run(store);
      expect(second.embedded).toBe(0);
      expect(second.plan.unchanged).toHaveLength(60);

      const changedPath = corpusDocument(3, 11).relativePath;
      await writeFile(
        join(config.root, changedPath),
        "# Rewritten\n\nCompletely new words about zebras.\n",
      );
      await unlink(join(config.root, corpusDocument(4, 11).relativePath));
      const chunksBefore = (await store.stats()).chunks;
      const third = await run(store);
      expect(third.plan).toMatchObject({
        changed: [changedPath],
        removed: [corpusDocument(4, 11).relativePath],
      });
      expect(third.embedded).toBe(1);
      expect((await store.stats()).files).toBe(59);
      expect((await store.stats()).chunks).toBeLessThan(chunksBefore);
      const [zebra] = await embedder.embed(["zebras"]);
      expect((await store.search({ vector: zebra ?? [], k: 1, mode: "vector" }))[0]).toMatchObject({
        path: changedPath,
        startLine: 1,
        endLine: 3,
      });
    } finally {
      await store.close();
    }
  });
});
