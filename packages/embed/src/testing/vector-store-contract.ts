import { expect, it } from "vitest";
import { corpusDocument } from "../corpus/generate.ts";
import { hashEmbedding } from "../embedders/hash.ts";
import { chunkId } from "../steps/chunk-id.ts";
import { planSync } from "../stores/sync-plan.ts";
import type {
  ChunkRecord,
  Collection,
  StoreAccess,
  StoreIdentity,
  VectorStore,
} from "../stores/vector-store.ts";

/**
 * Opens a store by name with the given access; the same name must reach the same stored data,
 * as a new process opening the same location would.
 */
export type OpenStore = (name: string, access: StoreAccess) => Promise<VectorStore>;

/** What a store kind promises beyond the common behaviour. */
export interface ContractOptions {
  /** The store's vector search is exact: it must equal brute-force cosine similarity. */
  readonly exact: boolean;
  /** A second writer on an open store is refused with code `locked` (false: not checked). */
  readonly lock: boolean;
  /**
   * The stored bytes of a closed store (its file, or a dump of its tables), to prove that a
   * reader changed nothing; without it, the contract compares what the store answers.
   */
  readonly storedBytes?: (name: string) => Promise<Uint8Array | string>;
}

const DIMENSIONS = 16;
const A = "/docs/a";
const B = "/docs/b";
const IDENTITY: StoreIdentity = {
  embedderId: "hash-v1:16",
  dimensions: DIMENSIONS,
  embedder: { kind: "hash", dimensions: DIMENSIONS },
};
const WRITE: StoreAccess = { mode: "write", identity: IDENTITY };
const READ: StoreAccess = { mode: "read" };

/** A chunk record with a real hash-embedding vector of its text. */
export function record(
  path: string,
  ordinal: number,
  text: string,
  collection: Collection = A,
  dimensions = DIMENSIONS,
): ChunkRecord {
  return {
    id: chunkId({ collection, path, ordinal, text }),
    collection,
    path,
    ordinal,
    text,
    startLine: ordinal * 10 + 1,
    endLine: ordinal * 10 + 5,
    metadata: { tags: ["t"], title: path },
    vector: hashEmbedding(text, dimensions),
  };
}

/** Upserts a file's chunks and commits it, as the workflow does. */
async function putFile(store: VectorStore, records: readonly ChunkRecord[], hash: string) {
  const [first] = records;
  if (first === undefined) throw new Error("putFile needs at least one record");
  await store.upsert(records);
  await store.commitFile(
    first.collection,
    first.path,
    hash,
    records.map((r) => r.id),
  );
}

function cosine(a: readonly number[], b: readonly number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb);
}

/**
 * About 300 chunks of generated prose (the paragraphs of generated documents) in 384 dimensions,
 * with one made-up word in exactly one of them.
 */
function proseChunks(rareWord: string): { records: ChunkRecord[]; rare: ChunkRecord } {
  const records: ChunkRecord[] = [];
  for (let doc = 0; records.length < 300; doc++) {
    const blocks = corpusDocument(doc, 7)
      .content.split("\n\n")
      .map((block) => block.trim())
      .filter((block) => block.length > 80 && !block.startsWith("---"));
    const path = `doc-${doc}.md`;
    blocks.forEach((text, ordinal) => {
      records.push(record(path, ordinal, text, A, 384));
    });
  }
  const index = 137;
  const original = records[index] as ChunkRecord;
  const words = original.text.split(" ");
  words.splice(Math.floor(words.length / 2), 0, rareWord);
  const rare = record(original.path, original.ordinal, words.join(" "), A, 384);
  records[index] = rare;
  return { records, rare };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

/**
 * The behaviour every {@link VectorStore} must have, as Vitest tests; call it inside a
 * `describe` of the store's test file. Each test opens stores under its own names.
 */
export function vectorStoreContract(open: OpenStore, options: ContractOptions): void {
  let counter = 0;
  const fresh = async (identity: StoreIdentity = IDENTITY) => {
    counter += 1;
    const name = `c${counter}`;
    return { name, store: await open(name, { mode: "write", identity }) };
  };

  it("finds the closest chunk first, with its collection, text, lines, metadata and signals", async () => {
    const { store } = await fresh();
    try {
      await store.upsert([
        record("a.md", 0, "postgres vector search with pgvector"),
        record("a.md", 1, "baking bread with sourdough starter"),
        record("b.md", 0, "gardening tomatoes in summer"),
      ]);
      const query = "postgres vector search with pgvector";
      const vector = hashEmbedding(query, DIMENSIONS);
      const hits = await store.search({ vector, k: 2, mode: "vector" });
      expect(hits).toHaveLength(2);
      expect(hits[0]).toMatchObject({
        collection: A,
        path: "a.md",
        ordinal: 0,
        text: query,
        startLine: 1,
        endLine: 5,
        metadata: { tags: ["t"], title: "a.md" },
        signals: { vector: { rank: 1 } },
      });
      expect(hits[0]?.signals.lexical).toBeUndefined();
      expect(hits[0]?.score).toBeCloseTo(1, 4);
      expect(hits[0]?.signals.vector?.score).toBeCloseTo(1, 4);
      expect(hits[0]?.score ?? 0).toBeGreaterThan(hits[1]?.score ?? 1);
      expect(await store.search({ vector, k: 50, mode: "vector" })).toHaveLength(3);

      const hybrid = await store.search({ vector, text: query, k: 3 });
      expect(hybrid[0]?.text).toBe(query);
      expect(hybrid[0]?.signals.vector?.rank).toBe(1);
      expect(hybrid[0]?.signals.lexical?.rank).toBe(1);
      const lexical = await store.search({ text: "sourdough bread", k: 5, mode: "lexical" });
      expect(lexical.map((h) => h.text)).toEqual(["baking bread with sourdough starter"]);
      expect(lexical[0]?.signals).toEqual({ lexical: { rank: 1, score: lexical[0]?.score } });
      expect(lexical[0]?.score).toBeGreaterThan(0);
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
      const hits = await store.search({ vector: records[0]?.vector ?? [], k: 1, mode: "vector" });
      expect(hits[0]?.text).toBe("one, edited");
      // The words index follows the replacement: the old text is gone, the new one found.
      const edited = await store.search({ text: "edited", k: 5, mode: "lexical" });
      expect(edited.map((h) => h.text)).toEqual(["one, edited"]);
    } finally {
      await store.close();
    }
  });

  it("commits a file hash and drops the chunks of its previous version", async () => {
    const { store } = await fresh();
    try {
      await putFile(
        store,
        [record("doc.md", 0, "old intro"), record("doc.md", 1, "old body")],
        "h1",
      );
      expect(await store.fileHashes(A)).toEqual(new Map([["doc.md", "h1"]]));
      const v2 = [record("doc.md", 0, "new intro")];
      await putFile(store, v2, "h2");
      expect(await store.fileHashes(A)).toEqual(new Map([["doc.md", "h2"]]));
      const all = await store.search({ vector: v2[0]?.vector ?? [], k: 10, mode: "vector" });
      expect(all.map((h) => h.text)).toEqual(["new intro"]);
      expect(await store.search({ text: "old", k: 10, mode: "lexical" })).toEqual([]);
      expect(await store.stats()).toEqual({
        chunks: 1,
        files: 1,
        collections: 1,
        dimensions: DIMENSIONS,
        embedderId: IDENTITY.embedderId,
      });
    } finally {
      await store.close();
    }
  });

  it("scans every chunk of one collection without vectors, a page of files at a time, also read-only", async () => {
    const { name, store } = await fresh();
    const files = ["b.md", "a.md", "c/d.md", "c/e.md", "z.md"];
    const expected: ChunkRecord[] = [];
    try {
      for (const [f, path] of files.entries()) {
        // Upserted with the ordinals out of order: the scan puts them back in order.
        const records = [2, 0, 1].map((ordinal) =>
          record(path, ordinal, `${path} part ${ordinal} of ${f}`),
        );
        await putFile(store, records, `h${f}`);
        expected.push(...records);
      }
      await store.upsert([record("a.md", 0, "in the other collection", B)]);
      // An uncommitted file's chunks are stored chunks too.
      const loose = record("y.md", 0, "not committed");
      await store.upsert([loose]);
      expected.push(loose);
    } finally {
      await store.close();
    }
    const reader = await open(name, READ);
    try {
      const scan = async (pageFiles?: number) => {
        const out: unknown[] = [];
        for await (const chunk of reader.scanChunks(
          A,
          pageFiles === undefined ? {} : { pageFiles },
        )) {
          out.push(chunk);
        }
        return out;
      };
      const all = await scan();
      const byPath = (a: ChunkRecord, b: ChunkRecord) =>
        (a.path < b.path ? -1 : a.path > b.path ? 1 : 0) || a.ordinal - b.ordinal;
      const wanted = [...expected].sort(byPath).map(({ vector: _, ...rest }) => rest);
      expect(all).toEqual(wanted);
      // Page boundaries never split a file or lose one.
      expect(await scan(1)).toEqual(wanted);
      expect(await scan(4)).toEqual(wanted);
      const other: unknown[] = [];
      for await (const chunk of reader.scanChunks(B)) other.push(chunk);
      expect(other).toHaveLength(1);
      const none: unknown[] = [];
      for await (const chunk of reader.scanChunks("/no/such")) none.push(chunk);
      expect(none).toEqual([]);
      const bad = reader.scanChunks(A, { pageFiles: 0 })[Symbol.asyncIterator]();
      expect(await rejection(bad.next())).toMatchObject({ code: "invalid-argument" });
    } finally {
      await reader.close();
    }
  });

  it("refuses to commit chunks that were never written", async () => {
    const { store } = await fresh();
    try {
      const x = record("a.md", 0, "x");
      await store.upsert([x]);
      const error = await rejection(store.commitFile(A, "a.md", "h", ["nope", x.id]));
      expect(error).toMatchObject({ name: "VectorStoreError", code: "missing-chunks" });
      expect(await store.fileHashes(A)).toEqual(new Map());
      expect((await store.stats()).chunks).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("deletes a file's chunks and hash, and lists uncommitted paths too", async () => {
    const { store } = await fresh();
    try {
      await putFile(store, [record("a.md", 0, "alpha")], "ha");
      await store.upsert([record("z/b.md", 0, "beta")]);
      expect(await store.listPaths(A)).toEqual(["a.md", "z/b.md"]);
      await store.deleteFile(A, "a.md");
      expect(await store.listPaths(A)).toEqual(["z/b.md"]);
      expect(await store.fileHashes(A)).toEqual(new Map());
      expect((await store.stats()).chunks).toBe(1);
      expect(await store.search({ text: "alpha", k: 5, mode: "lexical" })).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("keeps collections apart: writing, committing and deleting in B never touches A", async () => {
    const { store } = await fresh();
    try {
      // The same relative paths in two roots.
      await putFile(
        store,
        [record("x.md", 0, "apple one", A), record("x.md", 1, "apple two", A)],
        "ha",
      );
      await putFile(store, [record("y.md", 0, "apple three", A)], "hy");
      await putFile(
        store,
        [record("x.md", 0, "banana one", B), record("x.md", 1, "banana two", B)],
        "hb",
      );
      // B's x.md shrinks to one chunk: A's x.md keeps both.
      await putFile(store, [record("x.md", 0, "banana one", B)], "hb2");
      expect(await store.fileHashes(A)).toEqual(
        new Map([
          ["x.md", "ha"],
          ["y.md", "hy"],
        ]),
      );
      expect(await store.fileHashes(B)).toEqual(new Map([["x.md", "hb2"]]));
      expect(await store.listPaths(B)).toEqual(["x.md"]);
      expect(await store.collections()).toEqual([
        { collection: A, files: 2, chunks: 3 },
        { collection: B, files: 1, chunks: 1 },
      ]);

      const query = "apple banana one";
      const vector = hashEmbedding(query, DIMENSIONS);
      const everywhere = await store.search({ vector, text: query, k: 10 });
      expect(new Set(everywhere.map((h) => h.collection))).toEqual(new Set([A, B]));
      for (const mode of ["vector", "lexical", "hybrid"] as const) {
        const onlyB = await store.search({ vector, text: query, k: 10, mode, collection: B });
        expect(onlyB.map((h) => `${h.collection}:${h.text}`)).toEqual([`${B}:banana one`]);
        const onlyA = await store.search({ vector, text: query, k: 10, mode, collection: A });
        expect(onlyA.length).toBeGreaterThan(0);
        expect(onlyA.every((h) => h.collection === A)).toBe(true);
      }

      await store.deleteFile(B, "x.md");
      expect(await store.fileHashes(A)).toEqual(
        new Map([
          ["x.md", "ha"],
          ["y.md", "hy"],
        ]),
      );
      await putFile(store, [record("z.md", 0, "cherry", B)], "hz");
      expect(await store.deleteCollection(B)).toBe(1);
      expect(await store.listPaths(B)).toEqual([]);
      expect(await store.collections()).toEqual([{ collection: A, files: 2, chunks: 3 }]);
      expect(await store.stats()).toMatchObject({ chunks: 3, files: 2, collections: 1 });
      expect(await store.deleteCollection("/never/embedded")).toBe(0);
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
      const plan = planSync(hashes, await target.fileHashes(A), await target.listPaths(A));
      for (const path of [...plan.added, ...plan.changed]) {
        const records = (current.get(path) ?? []).map((text, i) => record(path, i, text));
        await putFile(target, records, hashes.get(path) ?? "");
      }
      for (const path of plan.removed) await target.deleteFile(A, path);
      return plan;
    };
    try {
      const first = await run(store, files);
      expect(first.added).toEqual(["a.md", "b.md", "c.md"]);
    } finally {
      await store.close();
    }
    // A new process: the store is opened again from its location.
    const again = await open(name, WRITE);
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
      const hits = await again.search({
        vector: hashEmbedding("a", DIMENSIONS),
        k: 20,
        mode: "vector",
      });
      expect(hits.map((h) => h.text).sort()).toEqual([
        "a one",
        "a three",
        "a two, edited",
        "b one",
      ]);
    } finally {
      await again.close();
    }
  });

  it("records its identity, embedder settings included, and refuses another embedder", async () => {
    const { name, store } = await fresh();
    expect(store.identity).toEqual(IDENTITY);
    expect(store.readOnly).toBe(false);
    await store.close();
    const reader = await open(name, READ);
    try {
      expect(reader.identity).toEqual(IDENTITY);
      expect(reader.dimensions).toBe(DIMENSIONS);
      expect(reader.readOnly).toBe(true);
    } finally {
      await reader.close();
    }
    const other = {
      embedderId: "hash-v1:8",
      dimensions: 8,
      embedder: { kind: "hash", dimensions: 8 },
    };
    const error = await rejection(open(name, { mode: "write", identity: other }));
    expect(error).toMatchObject({ code: "identity-mismatch" });
    expect((error as Error).message).toContain("--embedder hash --dimensions 16");
    expect((error as Error).message).not.toMatch(/delete/i);
    const sameDims = await rejection(
      open(name, { mode: "write", identity: { embedderId: "other", dimensions: DIMENSIONS } }),
    );
    expect(sameDims).toMatchObject({ code: "identity-mismatch" });
    // The refused writers left the store usable.
    const writer = await open(name, WRITE);
    await writer.close();
  });

  it("opened read-only, answers but rejects every write and changes nothing", async () => {
    const { name, store } = await fresh();
    const kept = record("a.md", 0, "kept text");
    try {
      await putFile(store, [kept], "h");
    } finally {
      await store.close();
    }
    // As text: a deep comparison of two large byte arrays takes seconds.
    const snapshot = async () => {
      const bytes = options.storedBytes ? await options.storedBytes(name) : "";
      return typeof bytes === "string" ? bytes : Buffer.from(bytes).toString("base64");
    };
    const before = await snapshot();
    const reader = await open(name, READ);
    try {
      expect(reader.readOnly).toBe(true);
      const attempts = [
        reader.upsert([record("b.md", 0, "new")]),
        reader.commitFile(A, "a.md", "h2", [kept.id]),
        reader.deleteFile(A, "a.md"),
        reader.deleteCollection(A),
      ];
      for (const attempt of attempts) {
        expect(await rejection(attempt)).toMatchObject({ code: "read-only" });
      }
      expect(await reader.fileHashes(A)).toEqual(new Map([["a.md", "h"]]));
      expect(await reader.listPaths(A)).toEqual(["a.md"]);
      expect(await reader.collections()).toEqual([{ collection: A, files: 1, chunks: 1 }]);
      const hits = await reader.search({ vector: kept.vector, text: "kept", k: 5 });
      expect(hits.map((h) => h.id)).toEqual([kept.id]);
    } finally {
      await reader.close();
    }
    expect(await snapshot()).toBe(before);
    const writer = await open(name, WRITE);
    try {
      expect(await writer.fileHashes(A)).toEqual(new Map([["a.md", "h"]]));
      expect((await writer.stats()).chunks).toBe(1);
    } finally {
      await writer.close();
    }
  });

  it("opened read-only where no store exists, fails with not-found and creates nothing", async () => {
    counter += 1;
    const name = `c${counter}`;
    for (let i = 0; i < 2; i++) {
      const error = await rejection(open(name, READ));
      expect(error).toMatchObject({ code: "not-found" });
      expect((error as Error).message).toContain("sluice embed");
    }
  });

  if (options.lock) {
    it("lets one writer in at a time, while readers keep reading", async () => {
      const { name, store } = await fresh();
      try {
        await putFile(store, [record("a.md", 0, "first writer")], "h");
        const error = await rejection(open(name, WRITE));
        expect(error).toMatchObject({ code: "locked" });
        expect((error as Error).message).toMatch(/locked by pid \d+/);
        const reader = await open(name, READ);
        try {
          expect(reader.readOnly).toBe(true);
          await reader.stats();
        } finally {
          await reader.close();
        }
        // The refused writer took nothing away from the first one.
        await putFile(store, [record("b.md", 0, "still writing")], "h");
      } finally {
        await store.close();
      }
      const next = await open(name, WRITE);
      try {
        expect((await next.stats()).files).toBe(2);
      } finally {
        await next.close();
      }
    });
  }

  it("closes idempotently and rejects use after close", async () => {
    const { store } = await fresh();
    await store.close();
    await store.close();
    expect(await rejection(store.stats())).toMatchObject({ code: "closed" });
    expect(await rejection(store.upsert([record("a.md", 0, "x")]))).toMatchObject({
      code: "closed",
    });
    expect(await rejection(store.search({ text: "x", k: 1, mode: "lexical" }))).toMatchObject({
      code: "closed",
    });
  });

  it("answers a zero query vector from words in hybrid mode, and with nothing in vector mode", async () => {
    const { store } = await fresh();
    try {
      await store.upsert([
        record("a.md", 0, "lighthouse keeper"),
        record("b.md", 0, "ocean waves"),
      ]);
      const zero = new Array(DIMENSIONS).fill(0);
      expect(await store.search({ vector: zero, k: 5, mode: "vector" })).toEqual([]);
      const hybrid = await store.search({ vector: zero, text: "lighthouse", k: 5 });
      expect(hybrid.map((h) => h.text)).toEqual(["lighthouse keeper"]);
      expect(hybrid[0]?.signals.vector).toBeUndefined();
      expect(hybrid[0]?.signals.lexical?.rank).toBe(1);
    } finally {
      await store.close();
    }
  });

  it("never returns a chunk whose vector is zero as a vector hit, but finds it by its words", async () => {
    const { store } = await fresh();
    try {
      const zero = {
        ...record("z.md", 0, "punctuation only"),
        vector: new Array(DIMENSIONS).fill(0),
      };
      const others = [record("a.md", 0, "alpha beta"), record("b.md", 0, "gamma delta")];
      await store.upsert([zero, ...others]);
      const vector = hashEmbedding("alpha beta", DIMENSIONS);
      // k as many as the other chunks: the zero vector must not take up a place.
      const hits = await store.search({ vector, k: others.length, mode: "vector" });
      expect(hits.map((h) => h.id).sort()).toEqual(others.map((r) => r.id).sort());
      expect(hits.every((h) => Number.isFinite(h.score))).toBe(true);
      const hybrid = await store.search({ vector, text: "punctuation", k: 10 });
      expect(hybrid.find((h) => h.id === zero.id)?.signals).toEqual({
        lexical: { rank: 1, score: expect.any(Number) },
      });
    } finally {
      await store.close();
    }
  });

  it("finds the one chunk holding a rare word first, in hybrid and lexical mode", async () => {
    const identity = {
      embedderId: "hash-v1:384",
      dimensions: 384,
      embedder: { kind: "hash", dimensions: 384 },
    };
    const { store } = await fresh(identity);
    try {
      const { records, rare } = proseChunks("quixotically");
      expect(records.filter((r) => r.text.includes("quixotically"))).toHaveLength(1);
      await store.upsert(records);
      // The word alone (any case), among words the corpus does not hold, and among many of the
      // corpus's common words, which other chunks match on both rankings.
      for (const query of [
        "quixotically",
        "Quixotically",
        "tips quixotically",
        "how should the team handle quixotically large value changes",
        "quixotically large",
      ]) {
        const vector = hashEmbedding(query, 384);
        const hybrid = await store.search({ vector, text: query, k: 5 });
        expect(hybrid[0]?.id).toBe(rare.id);
        expect(hybrid[0]?.signals.lexical?.rank).toBe(1);
        const lexical = await store.search({ text: query, k: 5, mode: "lexical" });
        expect(lexical[0]?.id).toBe(rare.id);
        // Where the query's other words are not in the corpus, nothing else matches by words.
        if (query.split(" ").length <= 2 && !query.includes("large")) {
          expect(lexical).toHaveLength(1);
        }
      }
    } finally {
      await store.close();
    }
  });

  if (options.exact) {
    it("answers vector search exactly as brute-force cosine similarity does", async () => {
      const identity = {
        embedderId: "hash-v1:384",
        dimensions: 384,
        embedder: { kind: "hash", dimensions: 384 },
      };
      const { store } = await fresh(identity);
      try {
        const { records } = proseChunks("unusedword");
        await store.upsert(records);
        const queries = ["vector search ranking", "sourdough oven knead", "socket retry timeout"];
        for (const query of queries) {
          const vector = hashEmbedding(query, 384);
          const hits = await store.search({ vector, k: 10, mode: "vector" });
          const brute = records
            .map((r) => ({ id: r.id, score: cosine(vector, r.vector) }))
            .sort((x, y) => y.score - x.score);
          const byId = new Map(brute.map((b) => [b.id, b.score]));
          expect(hits).toHaveLength(10);
          hits.forEach((hit, i) => {
            // Same scores rank by rank (stored vectors may be float32), and each hit's score is
            // its true similarity: any difference in ids is a tie, never a miss.
            expect(hit.score).toBeCloseTo(brute[i]?.score ?? Number.NaN, 5);
            expect(hit.score).toBeCloseTo(byId.get(hit.id) ?? Number.NaN, 5);
          });
        }
      } finally {
        await store.close();
      }
    });
  }

  it("rejects bad records and queries, naming the problem", async () => {
    const { store } = await fresh();
    try {
      const bad = { ...record("a.md", 0, "x"), vector: [1, 2, 3] };
      expect(await rejection(store.upsert([bad]))).toMatchObject({
        code: "invalid-record",
        message: expect.stringMatching(/3 dimensions, the store has 16/),
      });
      const nan = { ...record("a.md", 0, "x"), vector: new Array(DIMENSIONS).fill(Number.NaN) };
      expect(await rejection(store.upsert([nan]))).toMatchObject({ code: "invalid-record" });
      const noCollection = { ...record("a.md", 0, "x"), collection: "" };
      expect(await rejection(store.upsert([noCollection]))).toMatchObject({
        code: "invalid-record",
      });
      const ones = new Array(DIMENSIONS).fill(1);
      expect(await rejection(store.search({ vector: ones, k: 0 }))).toMatchObject({
        code: "invalid-argument",
      });
      expect(await rejection(store.search({ vector: [1], k: 1, mode: "vector" }))).toMatchObject({
        code: "invalid-argument",
      });
      expect((await store.stats()).chunks).toBe(0);
    } finally {
      await store.close();
    }
  });
}
