import { expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { chunkId } from "../steps/chunk-id.ts";
import { planSync } from "../stores/sync-plan.ts";
import type { ChunkRecord, StoreIdentity, VectorStore } from "../stores/vector-store.ts";

/** Opens a store by name; the same name must reach the same stored data. */
export type OpenStore = (name: string, identity: StoreIdentity) => Promise<VectorStore>;

const DIMENSIONS = 16;
const IDENTITY: StoreIdentity = { embedderId: "hash-v1:16", dimensions: DIMENSIONS };

/** A chunk record with a real hash-embedding vector of its text. */
export function record(path: string, ordinal: number, text: string): ChunkRecord {
  return {
    id: chunkId({ path, ordinal, text }),
    path,
    ordinal,
    text,
    startLine: ordinal * 10 + 1,
    endLine: ordinal * 10 + 5,
    metadata: { tags: ["t"], title: path },
    vector: hashEmbedding(text, DIMENSIONS),
  };
}

/**
 * The behaviour every {@link VectorStore} must have, as Vitest tests; call it inside a
 * `describe` of the store's test file. Each test opens stores under its own names.
 */
export function vectorStoreContract(open: OpenStore): void {
  let counter = 0;
  const fresh = async () => {
    counter += 1;
    const name = `c${counter}`;
    return { name, store: await open(name, IDENTITY) };
  };

  it("finds the closest chunk first, with its text, lines, metadata and score", async () => {
    const { store } = await fresh();
    try {
      await store.upsert([
        record("a.md", 0, "postgres vector search with pgvector"),
        record("a.md", 1, "baking bread with sourdough starter"),
        record("b.md", 0, "gardening tomatoes in summer"),
      ]);
      const hits = await store.search(
        hashEmbedding("postgres vector search with pgvector", DIMENSIONS),
        2,
      );
      expect(hits).toHaveLength(2);
      expect(hits[0]).toMatchObject({
        path: "a.md",
        ordinal: 0,
        text: "postgres vector search with pgvector",
        startLine: 1,
        endLine: 5,
        metadata: { tags: ["t"], title: "a.md" },
      });
      expect(hits[0]?.score).toBeCloseTo(1, 4);
      expect(hits[0]?.score ?? 0).toBeGreaterThan(hits[1]?.score ?? 1);
      expect(await store.search(hashEmbedding("anything", DIMENSIONS), 50)).toHaveLength(3);
      expect(await store.search(new Array(DIMENSIONS).fill(0), 3)).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("upserts idempotently by id, last write winning", async () => {
    const { store } = await fresh();
    try {
      const records = [record("a.md", 0, "one"), record("a.md", 1, "two")];
      await store.upsert(records);
      await store.upsert(records);
      const changed = { ...records[0], text: "one, edited" } as ChunkRecord;
      await store.upsert([changed, changed]);
      expect((await store.stats()).chunks).toBe(2);
      const hits = await store.search(records[0]?.vector ?? [], 1);
      expect(hits[0]?.text).toBe("one, edited");
    } finally {
      await store.close();
    }
  });

  it("commits a file hash and drops the chunks of its previous version", async () => {
    const { store } = await fresh();
    try {
      const v1 = [record("doc.md", 0, "old intro"), record("doc.md", 1, "old body")];
      await store.upsert(v1);
      await store.commitFile(
        "doc.md",
        "hash-1",
        v1.map((r) => r.id),
      );
      expect(await store.fileHashes()).toEqual(new Map([["doc.md", "hash-1"]]));

      const v2 = [record("doc.md", 0, "new intro")];
      await store.upsert(v2);
      await store.commitFile(
        "doc.md",
        "hash-2",
        v2.map((r) => r.id),
      );
      expect(await store.fileHashes()).toEqual(new Map([["doc.md", "hash-2"]]));
      const all = await store.search(v2[0]?.vector ?? [], 10);
      expect(all.map((h) => h.text)).toEqual(["new intro"]);
      expect(await store.stats()).toEqual({
        chunks: 1,
        files: 1,
        dimensions: DIMENSIONS,
        embedderId: IDENTITY.embedderId,
      });
    } finally {
      await store.close();
    }
  });

  it("refuses to commit chunks that were never written", async () => {
    const { store } = await fresh();
    try {
      await store.upsert([record("a.md", 0, "x")]);
      await expect(
        store.commitFile("a.md", "h", ["nope", record("a.md", 0, "x").id]),
      ).rejects.toMatchObject({
        name: "VectorStoreError",
        code: "missing-chunks",
      });
      expect(await store.fileHashes()).toEqual(new Map());
    } finally {
      await store.close();
    }
  });

  it("deletes a file's chunks and hash, and lists uncommitted paths too", async () => {
    const { store } = await fresh();
    try {
      const a = [record("a.md", 0, "alpha")];
      await store.upsert([...a, record("z/b.md", 0, "beta")]);
      await store.commitFile(
        "a.md",
        "ha",
        a.map((r) => r.id),
      );
      expect(await store.listPaths()).toEqual(["a.md", "z/b.md"]);
      await store.deleteByPath("a.md");
      expect(await store.listPaths()).toEqual(["z/b.md"]);
      expect(await store.fileHashes()).toEqual(new Map());
      expect((await store.stats()).chunks).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("embeds nothing on an unchanged re-run and follows changes and deletions", async () => {
    const { name, store } = await fresh();
    const files = new Map([
      ["a.md", ["a one", "a two"]],
      ["b.md", ["b one"]],
      ["c.md", ["c one"]],
    ]);
    const run = async (target: VectorStore, current: Map<string, string[]>) => {
      const hashes = new Map([...current].map(([path, texts]) => [path, texts.join("|")]));
      const plan = planSync(hashes, await target.fileHashes(), await target.listPaths());
      for (const path of [...plan.added, ...plan.changed]) {
        const records = (current.get(path) ?? []).map((text, i) => record(path, i, text));
        await target.upsert(records);
        await target.commitFile(
          path,
          hashes.get(path) ?? "",
          records.map((r) => r.id),
        );
      }
      for (const path of plan.removed) await target.deleteByPath(path);
      return plan;
    };
    try {
      const first = await run(store, files);
      expect(first.added).toEqual(["a.md", "b.md", "c.md"]);
    } finally {
      await store.close();
    }
    // A new process: the store is opened again from its location.
    const again = await open(name, IDENTITY);
    try {
      const second = await run(again, files);
      expect(second).toEqual({
        added: [],
        changed: [],
        unchanged: ["a.md", "b.md", "c.md"],
        removed: [],
      });
      const edited = new Map(files);
      edited.set("a.md", ["a one", "a two, edited", "a three"]);
      edited.delete("c.md");
      const third = await run(again, edited);
      expect(third).toMatchObject({ changed: ["a.md"], removed: ["c.md"] });
      const texts = (await again.search(hashEmbedding("a", DIMENSIONS), 20))
        .map((h) => h.text)
        .sort();
      expect(texts).toEqual(["a one", "a three", "a two, edited", "b one"]);
    } finally {
      await again.close();
    }
  });

  it("refuses to open a store built by another embedder or dimension", async () => {
    const { name, store } = await fresh();
    await store.close();
    await expect(open(name, { embedderId: "other", dimensions: DIMENSIONS })).rejects.toMatchObject(
      {
        code: "identity-mismatch",
      },
    );
    await expect(
      open(name, { embedderId: IDENTITY.embedderId, dimensions: 8 }),
    ).rejects.toMatchObject({
      code: "identity-mismatch",
    });
  });

  it("rejects bad records and queries, naming the problem", async () => {
    const { store } = await fresh();
    try {
      const bad = { ...record("a.md", 0, "x"), vector: [1, 2, 3] };
      await expect(store.upsert([bad])).rejects.toThrow(/3 dimensions, the store has 16/);
      const nan = { ...record("a.md", 0, "x"), vector: new Array(DIMENSIONS).fill(Number.NaN) };
      await expect(store.upsert([nan])).rejects.toMatchObject({ code: "invalid-record" });
      await expect(store.search(new Array(DIMENSIONS).fill(1), 0)).rejects.toMatchObject({
        code: "invalid-argument",
      });
      await expect(store.search([1], 1)).rejects.toMatchObject({ code: "invalid-argument" });
    } finally {
      await store.close();
    }
    await expect(store.stats()).rejects.toMatchObject({ code: "closed" });
  });
}
