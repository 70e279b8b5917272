import { mkdir, mkdtemp, readFile, realpath, rm, stat, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbedConfigInput } from "../config.ts";
import { corpusDocument, generateCorpus } from "../corpus/generate.ts";
import { dumpJsonlStore, type StoreDump } from "../testing/store-dump.ts";
import { createFaultyEmbedder } from "../testing/test-embedders.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";
import type { ProgressSnapshot } from "./progress.ts";
import { NoFilesError } from "./started-discovery.ts";

/** The committed files of a dump's one collection (these runs all embed one folder). */
function filesOf(dump: StoreDump): Readonly<Record<string, string>> {
  const collections = Object.values(dump.files);
  expect(collections.length).toBeLessThanOrEqual(1);
  return collections[0] ?? {};
}

const SEED = 7;
const FILES = 30;
let root: string;

function config(store: string, extra: EmbedConfigInput = {}): EmbedConfigInput {
  return {
    root: "docs",
    maxFileBytes: 20_000,
    split: { maxChunkSize: 400, chunkOverlap: 40, minChunkSize: 80 },
    // Small batches and a token budget that closes some batches before the count does.
    batch: { size: 8, maxTokens: 500, maxWaitMs: 20 },
    embedder: { dimensions: 64, retryAttempts: 3, retryBackoffMs: 5 },
    store: { location: store },
    concurrency: 3,
    ...extra,
  };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-workflows-"));
  const docs = join(root, "docs");
  await generateCorpus(docs, { files: FILES, seed: SEED });
  await mkdir(join(docs, "bad"), { recursive: true });
  await writeFile(join(docs, "bad", "binary.md"), Buffer.from([0x23, 0x20, 0x00, 0x01]));
  await writeFile(join(docs, "bad", "latin1.md"), Buffer.from("# caf\xe9 cr\xe8me\n", "latin1"));
  await writeFile(join(docs, "bad", "huge.md"), `# Huge\n\n${"word ".repeat(5_000)}\n`);
  await writeFile(join(docs, "empty.md"), "");
  await writeFile(join(docs, "only-frontmatter.md"), "---\ntitle: nothing else\n---\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("embedDocuments and embedDocumentsStreaming", () => {
  it("store identical chunks, vectors, metadata and error reports, through transient embed failures", async () => {
    const streamingEmbedder = createFaultyEmbedder({ transientRate: 0.3 });
    const batchEmbedder = createFaultyEmbedder({ transientRate: 0.3 });
    const snapshots: ProgressSnapshot[] = [];
    const streaming = await embedDocumentsStreaming(config("out/streaming.jsonl"), {
      cwd: root,
      embedder: streamingEmbedder,
      onStart: (probe) => snapshots.push(probe()),
    });
    const batch = await embedDocuments(config("out/batch.jsonl"), {
      cwd: root,
      embedder: batchEmbedder,
    });
    // The faults happened and the retries absorbed them.
    expect(streamingEmbedder.transientFailures).toBeGreaterThan(0);
    expect(batchEmbedder.transientFailures).toBeGreaterThan(0);

    const [s, b] = [
      await dumpJsonlStore(join(root, "out/streaming.jsonl")),
      await dumpJsonlStore(join(root, "out/batch.jsonl")),
    ];
    expect(s.chunks.length).toBeGreaterThan(FILES);
    expect(s).toEqual(b);
    expect(Object.keys(filesOf(s))).toHaveLength(FILES + 2); // the empty files commit too

    const counts = ({
      files,
      unchanged,
      chunks,
      embedded,
      skipped,
      failed,
      removed,
      committed,
    }: typeof streaming) => ({
      files,
      unchanged,
      chunks,
      embedded,
      skipped,
      failed,
      removed,
      committed,
    });
    expect(counts(streaming)).toEqual(counts(batch));
    expect(counts(streaming)).toEqual({
      files: FILES + 5,
      unchanged: 0,
      chunks: s.chunks.length,
      embedded: s.chunks.length,
      skipped: 3,
      failed: 0,
      removed: 0,
      committed: FILES + 2,
    });
    expect(streaming.errors).toEqual(batch.errors);
    expect(streaming.errors.map((e) => [e.path, e.kind, e.stage, e.code])).toEqual([
      ["bad/binary.md", "skipped", "read", "BINARY_FILE"],
      ["bad/huge.md", "skipped", "read", "FILE_TOO_LARGE"],
      ["bad/latin1.md", "skipped", "read", "INVALID_UTF8"],
    ]);
    for (const summary of [streaming, batch]) {
      expect(summary.timeToFirstStoredChunkMs).toBeGreaterThan(0);
      expect(summary.timeToFirstStoredChunkMs).toBeLessThanOrEqual(summary.durationMs);
      expect(summary.throughput).toBeGreaterThan(0);
      expect(summary.peakRssBytes).toBeGreaterThan(10_000_000);
    }
    expect(snapshots).toHaveLength(1);
    expect(snapshots[0]?.stages.map((st) => st.key)).toEqual([
      "prepare",
      "batch",
      "embed",
      "store",
    ]);

    // A chunk's metadata carries the frontmatter, tags and headings.
    const doc = corpusDocument(5, SEED);
    const first = s.chunks.find((c) => c.path === doc.relativePath && c.ordinal === 0);
    expect(first?.metadata).toMatchObject({ title: doc.title, tags: [...doc.tags] });
  });

  it("re-runs incrementally: nothing to do when unchanged; changed, deleted and broken files handled", async () => {
    const store = "out/incremental.jsonl";
    const embedder = () => createFaultyEmbedder();
    const first = await embedDocumentsStreaming(config(store), { cwd: root, embedder: embedder() });
    expect(first.embedded).toBeGreaterThan(0);
    for (const run of [embedDocumentsStreaming, embedDocuments]) {
      const again = await run(config(store), { cwd: root, embedder: embedder() });
      expect(again).toMatchObject({ embedded: 0, chunks: 0, unchanged: FILES + 2, removed: 0 });
    }

    const changed = corpusDocument(3, SEED).relativePath;
    const deleted = corpusDocument(4, SEED).relativePath;
    const broken = corpusDocument(5, SEED).relativePath;
    const docs = join(root, "docs");
    const saved = await Promise.all([changed, deleted, broken].map((p) => readFile(join(docs, p))));
    try {
      await writeFile(join(docs, changed), "# Rewritten\n\nEntirely new words about zebras.\n");
      await unlink(join(docs, deleted));
      await writeFile(join(docs, broken), Buffer.from([0x00, 0x00]));
      const third = await embedDocuments(config(store), { cwd: root, embedder: embedder() });
      expect(third).toMatchObject({ embedded: 1, chunks: 1, committed: 1, removed: 2 });
      expect(third.unchanged).toBe(FILES - 1);
      // The same store as a clean run over the folder as it is now.
      const clean = await embedDocumentsStreaming(config("out/clean-after-changes.jsonl"), {
        cwd: root,
        embedder: embedder(),
      });
      expect(clean.removed).toBe(0);
      expect(await dumpJsonlStore(join(root, store))).toEqual(
        await dumpJsonlStore(join(root, "out/clean-after-changes.jsonl")),
      );
    } finally {
      await Promise.all(
        [changed, deleted, broken].map((p, i) => writeFile(join(docs, p), saved[i] as Buffer)),
      );
    }
  });

  it("reports a batch that fails for good per chunk, keeps the rest, and retries it next run", async () => {
    const docs = join(root, "docs");
    const poisoned = "poisoned.md";
    await writeFile(join(docs, poisoned), "# Poisoned\n\nThis text holds the word NIGHTSHADE.\n");
    try {
      for (const [name, run] of [
        ["streaming", embedDocumentsStreaming],
        ["batch", embedDocuments],
      ] as const) {
        const store = `out/poison-${name}.jsonl`;
        const summary = await run(config(store), {
          cwd: root,
          embedder: createFaultyEmbedder({ poison: "NIGHTSHADE" }),
        });
        const failed = summary.errors.filter((e) => e.kind === "failed");
        expect(failed.length).toBeGreaterThan(0);
        expect(failed.every((e) => e.stage === "embed" && e.code === "POISONED_INPUT")).toBe(true);
        expect(failed.some((e) => e.path === poisoned && e.chunkId !== undefined)).toBe(true);
        expect(summary.failedChunks).toBe(failed.length);
        expect(summary.failed).toBe(new Set(failed.map((e) => e.path)).size);
        // Every other file is committed; failed ones are not, but their good chunks stay stored.
        expect(summary.committed + summary.failed).toBe(FILES + 3);
        const dump = await dumpJsonlStore(join(root, store));
        expect(filesOf(dump)[poisoned]).toBeUndefined();
        expect(summary.embedded).toBe(summary.chunks - summary.failedChunks);

        // Healthy again: only the failed files are embedded, and the store is complete.
        const retry = await run(config(store), { cwd: root, embedder: createFaultyEmbedder() });
        expect(retry.committed).toBe(summary.failed);
        expect(retry.failed).toBe(0);
        expect(filesOf(await dumpJsonlStore(join(root, store)))[poisoned]).toBeDefined();
      }
    } finally {
      await unlink(join(docs, poisoned));
    }
  });
});

describe("collections and empty runs", () => {
  const small = (store: string, rootDir: string, extra: EmbedConfigInput = {}) =>
    config(store, { root: rootDir, ...extra });

  it("a run that finds no file throws NoFilesError and removes nothing (both workflows)", async () => {
    await mkdir(join(root, "two"), { recursive: true });
    await writeFile(join(root, "two", "a.md"), "# A\n\nAlpha text.\n");
    await writeFile(join(root, "two", "b.md"), "# B\n\nBeta text.\n");
    await mkdir(join(root, "nothing"), { recursive: true });
    const store = "out/no-files.jsonl";
    const first = await embedDocumentsStreaming(small(store, "two"), { cwd: root });
    expect(first.committed).toBe(2);
    for (const run of [embedDocumentsStreaming, embedDocuments]) {
      for (const input of [small(store, "two", { pattern: "*.MD" }), small(store, "nothing")]) {
        const error = await run(input, { cwd: root }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(NoFilesError);
        expect(error).toMatchObject({ code: "no-files", pattern: input.pattern ?? "**/*.md" });
      }
    }
    const again = await embedDocuments(small(store, "two"), { cwd: root });
    expect(again).toMatchObject({ unchanged: 2, removed: 0 });
  });

  it("a missing root, or one with nothing to embed, fails before the store is created", async () => {
    const store = join(root, "out", "never", "store.jsonl");
    await mkdir(join(root, "holds-no-markdown"), { recursive: true });
    await writeFile(join(root, "holds-no-markdown", "a.txt"), "text\n");
    for (const run of [embedDocumentsStreaming, embedDocuments]) {
      await expect(run(small(store, "no-such-root"), { cwd: root })).rejects.toMatchObject({
        name: "DiscoverError",
        code: "root-not-found",
      });
      await expect(run(small(store, "holds-no-markdown"), { cwd: root })).rejects.toBeInstanceOf(
        NoFilesError,
      );
    }
    await expect(stat(join(root, "out", "never"))).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("embedding folder B into A's store keeps A; each collection is its root's real path", async () => {
    await mkdir(join(root, "colA"), { recursive: true });
    await mkdir(join(root, "colB"), { recursive: true });
    await writeFile(join(root, "colA", "same.md"), "# Same\n\nThe same text in both folders.\n");
    await writeFile(join(root, "colB", "same.md"), "# Same\n\nThe same text in both folders.\n");
    const store = "out/collections.jsonl";
    const a = await embedDocumentsStreaming(small(store, "colA"), { cwd: root });
    const b = await embedDocuments(small(store, "colB"), { cwd: root });
    expect(a.collection).toBe((await realpath(join(root, "colA"))).replace(/\\/g, "/"));
    expect(b).toMatchObject({ committed: 1, removed: 0 });
    const named = await embedDocuments(small(store, "colB", { collection: "named" }), {
      cwd: root,
    });
    expect(named).toMatchObject({ collection: "named", committed: 1, unchanged: 0 });
    const dump = await dumpJsonlStore(join(root, store));
    // The same file in three collections: three chunks with three ids.
    expect(new Set(dump.chunks.map((c) => c.id)).size).toBe(3);
    expect(dump.chunks.map((c) => c.collection).sort()).toEqual(
      [a.collection, b.collection, "named"].sort(),
    );
  });
});
