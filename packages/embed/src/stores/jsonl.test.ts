import { existsSync } from "node:fs";
import { appendFile, chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { chunkId } from "../steps/chunk-id.ts";
import { compareCodeUnits } from "../steps/code-unit-order.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { vectorStoreContract } from "../testing/vector-store-contract.ts";
import { Bm25Scorer } from "./bm25.ts";
import { lexicalTerms } from "./hybrid-search.ts";
import { openJsonlStore, readJsonlIdentity } from "./jsonl.ts";
import type {
  ChunkRecord,
  Collection,
  SearchHit,
  StoreAccess,
  StoreIdentity,
} from "./vector-store.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-jsonl-"));
});
afterAll(async () => {
  await chmod(join(dir, "read-only.jsonl"), 0o644).catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

const DIMENSIONS = 16;
const identity: StoreIdentity = {
  embedderId: "hash-v1:16",
  dimensions: DIMENSIONS,
  embedder: { kind: "hash", dimensions: DIMENSIONS },
};
const write: StoreAccess = { mode: "write", identity };
const read: StoreAccess = { mode: "read" };
const A = "/docs/a";
const B = "/docs/b";

/** A chunk record of collection `collection` with a real hash-embedding vector of its text. */
function rec(collection: Collection, path: string, ordinal: number, text: string): ChunkRecord {
  return {
    id: chunkId({ collection, path, ordinal, text }),
    collection,
    path,
    ordinal,
    text,
    startLine: ordinal * 10 + 1,
    endLine: ordinal * 10 + 5,
    metadata: { title: path },
    vector: hashEmbedding(text, DIMENSIONS),
  };
}

const lines = async (path: string) =>
  (await readFile(path, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; text?: string; collection?: string });

describe("JSONL store", () => {
  const contractPath = (name: string) => join(dir, "contract", `${name}.jsonl`);
  vectorStoreContract((name, access) => openJsonlStore({ path: contractPath(name), access }), {
    exact: true,
    lock: true,
    storedBytes: (name) => readFile(contractPath(name)),
  });

  it("appends while open and compacts to one line per live chunk on close", async () => {
    const path = join(dir, "compact.jsonl");
    const store = await openJsonlStore({ path, access: write });
    const a = rec(A, "a.md", 0, "first");
    await store.upsert([a]);
    await store.upsert([{ ...a, text: "first, edited" }]);
    await store.upsert([rec(A, "b.md", 0, "second")]);
    await store.commitFile(A, "a.md", "ha", [a.id]);
    expect((await lines(path)).map((l) => l.type)).toEqual([
      "meta",
      "chunk",
      "chunk",
      "chunk",
      "commit",
    ]);
    await store.close();
    const compacted = await lines(path);
    expect(compacted.map((l) => l.type)).toEqual(["meta", "file", "chunk", "chunk"]);
    expect(compacted[0]).toEqual({ type: "meta", schemaVersion: 2, ...identity });
    expect(compacted[1]).toMatchObject({ collection: A, path: "a.md" });
    expect(compacted[2]).toMatchObject({ text: "first, edited", collection: A });

    // An unchanged store is not rewritten.
    const before = await readFile(path, "utf8");
    await (await openJsonlStore({ path, access: write })).close();
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("writes each line, vector included, byte for byte as JSON.stringify does, open and compacted", async () => {
    const path = join(dir, "exact-lines.jsonl");
    const store = await openJsonlStore({ path, access: write });
    const tricky = [-0, 0.1, 1e21, 1e-7, 5e-324, -1.5e-10, 123456789.125, Math.fround(0.3)];
    const a = { ...rec(A, "a.md", 0, "exact"), vector: [...tricky, ...tricky.map((x) => -x)] };
    await store.upsert([a, rec(A, "b.md", 0, "plain")]);
    const check = async () => {
      const text = (await readFile(path, "utf8")).split("\n").filter(Boolean);
      for (const line of text) expect(line).toBe(JSON.stringify(JSON.parse(line)));
      const chunk = text.map((l) => JSON.parse(l)).find((l) => l.id === a.id);
      expect(chunk.vector).toEqual(a.vector.map((x) => (Object.is(x, -0) ? 0 : x)));
      return text.length;
    };
    expect(await check()).toBe(3);
    await store.commitFile(A, "a.md", "ha", [a.id]);
    await store.close();
    expect(await check()).toBe(4);
  });

  it("writer: drops a torn last line left by a crash and keeps working", async () => {
    const path = join(dir, "torn.jsonl");
    const store = await openJsonlStore({ path, access: write });
    await store.upsert([rec(A, "a.md", 0, "kept")]);
    await store.close();
    await appendFile(path, '{"type":"chunk","id":"half');
    const reopened = await openJsonlStore({ path, access: write });
    try {
      expect((await reopened.stats()).chunks).toBe(1);
      await reopened.upsert([rec(A, "b.md", 0, "after crash")]);
      expect((await reopened.stats()).chunks).toBe(2);
    } finally {
      await reopened.close();
    }
    expect((await lines(path)).map((l) => l.type)).toEqual(["meta", "chunk", "chunk"]);
  });

  it("reader: ignores a torn last line without cutting it off", async () => {
    const path = join(dir, "torn-reader.jsonl");
    const store = await openJsonlStore({ path, access: write });
    await store.upsert([rec(A, "a.md", 0, "kept")]);
    await store.close();
    await appendFile(path, '{"type":"chunk","id":"half');
    const before = await readFile(path, "utf8");
    const reader = await openJsonlStore({ path, access: read });
    try {
      expect((await reader.stats()).chunks).toBe(1);
    } finally {
      await reader.close();
    }
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("reports a corrupt line in the middle with its line number", async () => {
    const path = join(dir, "corrupt.jsonl");
    const meta = JSON.stringify({ type: "meta", schemaVersion: 2, ...identity });
    await writeFile(path, `${meta}\nnot json\n${meta}\n`);
    await expect(openJsonlStore({ path, access: read })).rejects.toThrow(
      /corrupt\.jsonl:2: not valid JSON/,
    );
    await writeFile(path, `${meta}\n{"type":"chunk","id":"x","ordinal":0}\n`);
    await expect(openJsonlStore({ path, access: write })).rejects.toMatchObject({
      code: "corrupt",
    });
    // The failed open released its lock: another writer gets past it (to the same error).
    await expect(openJsonlStore({ path, access: write })).rejects.toMatchObject({
      code: "corrupt",
    });
    await writeFile(path, '{"type":"chunk"}\n');
    await expect(openJsonlStore({ path, access: read })).rejects.toMatchObject({ code: "corrupt" });
  });

  it("serializes concurrent writes", async () => {
    const path = join(dir, "concurrent.jsonl");
    const store = await openJsonlStore({ path, access: write });
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.upsert([rec(A, `f${i % 5}.md`, i, `text ${i}`)]),
        ),
      );
      expect((await store.stats()).chunks).toBe(20);
      expect(await lines(path)).toHaveLength(21);
    } finally {
      await store.close();
    }
  });

  it("keeps collections apart: the same path in two roots, deletes touch one root", async () => {
    const path = join(dir, "collections.jsonl");
    const store = await openJsonlStore({ path, access: write });
    try {
      const a = rec(A, "readme.md", 0, "alpha river");
      const b = rec(B, "readme.md", 0, "beta mountain");
      const b2 = rec(B, "other.md", 0, "beta lake");
      await store.upsert([a, b, b2]);
      await store.commitFile(A, "readme.md", "ha", [a.id]);
      await store.commitFile(B, "readme.md", "hb", [b.id]);
      // A chunk of another collection cannot be committed under this one.
      await expect(store.commitFile(A, "readme.md", "hx", [b.id])).rejects.toMatchObject({
        code: "missing-chunks",
      });
      expect(await store.fileHashes(A)).toEqual(new Map([["readme.md", "ha"]]));
      expect(await store.fileHashes(B)).toEqual(new Map([["readme.md", "hb"]]));
      expect(await store.listPaths(B)).toEqual(["other.md", "readme.md"]);
      expect(await store.collections()).toEqual([
        { collection: A, files: 1, chunks: 1 },
        { collection: B, files: 1, chunks: 2 },
      ]);
      expect(await store.stats()).toEqual({
        chunks: 3,
        files: 2,
        collections: 2,
        dimensions: DIMENSIONS,
        embedderId: identity.embedderId,
      });

      await store.deleteFile(B, "readme.md");
      expect(await store.fileHashes(A)).toEqual(new Map([["readme.md", "ha"]]));
      expect(await store.listPaths(B)).toEqual(["other.md"]);

      const onlyA = await store.search({
        text: "beta alpha",
        vector: b.vector,
        k: 5,
        collection: A,
      });
      expect(onlyA.map((h) => h.collection)).toEqual([A]);

      expect(await store.deleteCollection(B)).toBe(0);
      expect(await store.deleteCollection(A)).toBe(1);
      expect(await store.collections()).toEqual([]);
      expect(await store.deleteCollection("/never")).toBe(0);
    } finally {
      await store.close();
    }
    expect(await dumpJsonlStore(path)).toEqual({ chunks: [], files: {} });
  });

  it("finds a rare word's one chunk first in hybrid mode, and says which signals matched", async () => {
    const path = join(dir, "rare-word.jsonl");
    const store = await openJsonlStore({ path, access: write });
    try {
      const filler = Array.from({ length: 60 }, (_, i) =>
        rec(A, `f${i}.md`, 0, `the license and the usage of tool number ${i} in this project`),
      );
      const rare = rec(A, "rare.md", 0, "notes on the project and its quokka mascot");
      await store.upsert([...filler, rare]);
      const query = "quokka license";
      const hits = await store.search({
        text: query,
        vector: hashEmbedding(query, DIMENSIONS),
        k: 5,
      });
      expect(hits[0]?.path).toBe("rare.md");
      expect(hits[0]?.signals.lexical?.rank).toBe(1);
      expect(hits[0]?.signals.vector).toBeDefined();

      const lexical = await store.search({ text: query, k: 100, mode: "lexical" });
      // The scores are BM25 over the store's chunks, as FTS5 would give them.
      const scorer = new Bm25Scorer(lexicalTerms(query));
      [...filler, rare].forEach((r, i) => {
        scorer.add(i, r.text);
      });
      const expected = scorer.top(100);
      expect(lexical.map((h) => h.score)).toEqual(expected.map((e) => e.score));
      expect(lexical[0]?.path).toBe("rare.md");
      expect(lexical).toHaveLength(61);
      expect(await store.search({ text: "absent words", k: 3, mode: "lexical" })).toEqual([]);
    } finally {
      await store.close();
    }
  });
});

describe("JSONL store access", () => {
  it("a reader creates nothing: a missing file is not-found", async () => {
    const path = join(dir, "missing", "store.jsonl");
    await expect(openJsonlStore({ path, access: read })).rejects.toMatchObject({
      code: "not-found",
    });
    expect(existsSync(join(dir, "missing"))).toBe(false);
    expect(await readJsonlIdentity(path)).toBeUndefined();
    expect(existsSync(join(dir, "missing"))).toBe(false);
  });

  it("a reader during a writer loses nothing of the writer's (it used to compact on close)", async () => {
    const path = join(dir, "reader-during-writer.jsonl");
    const writer = await openJsonlStore({ path, access: write });
    const a = rec(A, "a.md", 0, "first");
    await writer.upsert([a]);
    await writer.commitFile(A, "a.md", "h1", [a.id]);
    // Superseded lines: a store closing now would compact the file.
    await writer.upsert([{ ...a, text: "edited" }]);
    const reader = await openJsonlStore({ path, access: read });
    expect(reader.readOnly).toBe(true);
    expect(reader.identity).toEqual(identity);
    expect((await reader.stats()).chunks).toBe(1);
    expect((await reader.search({ text: "edited", k: 1, mode: "lexical" }))[0]?.text).toBe(
      "edited",
    );
    await reader.close();
    const b = rec(A, "b.md", 0, "second");
    await writer.upsert([b]);
    await writer.commitFile(A, "b.md", "h2", [b.id]);
    await writer.close();
    const again = await openJsonlStore({ path, access: read });
    try {
      expect(await again.fileHashes(A)).toEqual(
        new Map([
          ["a.md", "h1"],
          ["b.md", "h2"],
        ]),
      );
      expect((await again.stats()).chunks).toBe(2);
    } finally {
      await again.close();
    }
  });

  it("a reader keeps its snapshot while the writer compacts the file under it", async () => {
    const path = join(dir, "snapshot.jsonl");
    const writer = await openJsonlStore({ path, access: write });
    const a = rec(A, "a.md", 0, "alpha");
    await writer.upsert([a, { ...a, text: "alpha again" }]);
    const reader = await openJsonlStore({ path, access: read });
    try {
      await writer.close(); // compacts: the file is replaced
      expect((await reader.search({ text: "alpha", k: 1, mode: "lexical" }))[0]?.text).toBe(
        "alpha again",
      );
    } finally {
      await reader.close();
    }
  });

  it("a reader rejects writes, writes nothing on close and works on a read-only file", async () => {
    const path = join(dir, "read-only.jsonl");
    const writer = await openJsonlStore({ path, access: write });
    const a = rec(A, "a.md", 0, "alpha");
    await writer.upsert([a]);
    await writer.close();
    await appendFile(
      path,
      `${JSON.stringify({ type: "delete-path", collection: A, path: "x" })}\n`,
    );
    await chmod(path, 0o444);
    const before = await stat(path);
    const bytes = await readFile(path, "utf8");
    const reader = await openJsonlStore({ path, access: read });
    try {
      for (const attempt of [
        () => reader.upsert([a]),
        () => reader.commitFile(A, "a.md", "h", [a.id]),
        () => reader.deleteFile(A, "a.md"),
        () => reader.deleteCollection(A),
      ]) {
        await expect(attempt()).rejects.toMatchObject({ code: "read-only" });
      }
      expect((await reader.search({ vector: a.vector, k: 1, mode: "vector" }))[0]?.id).toBe(a.id);
    } finally {
      await reader.close();
    }
    expect(await readFile(path, "utf8")).toBe(bytes);
    expect((await stat(path)).mtimeMs).toBe(before.mtimeMs);
    expect(existsSync(`${path}.lock`)).toBe(false);
  });

  it("one writer at a time: a second writer gets the lock error, a reader does not", async () => {
    const path = join(dir, "locked.jsonl");
    const writer = await openJsonlStore({ path, access: write });
    try {
      const error = await openJsonlStore({ path, access: write }).catch((e: unknown) => e);
      expect(error).toMatchObject({ name: "VectorStoreError", code: "locked" });
      expect((error as Error).message).toContain(`pid ${process.pid}`);
      const reader = await openJsonlStore({ path, access: read });
      await reader.close();
    } finally {
      await writer.close();
    }
    // Released on close.
    await (await openJsonlStore({ path, access: write })).close();
  });

  it("records its embedder and refuses a writer with another, naming the flags to pass", async () => {
    const path = join(dir, "identity.jsonl");
    await (await openJsonlStore({ path, access: write })).close();
    expect(await readJsonlIdentity(path)).toEqual(identity);
    const error = await openJsonlStore({
      path,
      access: { mode: "write", identity: { embedderId: "hash-v1:8", dimensions: 8 } },
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "identity-mismatch" });
    expect((error as Error).message).toContain("--dimensions 16");
    expect((error as Error).message).not.toMatch(/delete/);
    // The refused writer left no lock behind.
    await (await openJsonlStore({ path, access: write })).close();
  });

  it("refuses a schema-1 file with one line on how to move", async () => {
    const path = join(dir, "old.jsonl");
    const meta = { type: "meta", schemaVersion: 1, embedderId: "hash-v1:16", dimensions: 16 };
    await writeFile(path, `${JSON.stringify(meta)}\n`);
    for (const access of [read, write]) {
      const error = await openJsonlStore({ path, access }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "old-schema" });
      expect((error as Error).message).toBe(
        `${path} was written by an earlier sluice (store schema 1); re-embed into a new store: sluice embed <dir> --store <new location> (then delete ${path})`,
      );
    }
    await expect(readJsonlIdentity(path)).rejects.toMatchObject({ code: "old-schema" });
    expect(existsSync(`${path}.lock`)).toBe(false);
  });
});

/**
 * The store's observable behaviour as the first version of this store had it: every record in
 * memory, search over all of them. The file-backed store must match it.
 */
class ReferenceStore {
  readonly chunks = new Map<string, ChunkRecord>();
  readonly files = new Map<string, string>();
  private static key(collection: string, path: string) {
    return `${collection}\u0000${path}`;
  }
  upsert(records: readonly ChunkRecord[]): void {
    for (const r of records) this.chunks.set(r.id, r);
  }
  commit(collection: string, path: string, hash: string, ids: readonly string[]): boolean {
    const of = (r: ChunkRecord | undefined) => r?.collection === collection && r.path === path;
    if (ids.some((id) => !of(this.chunks.get(id)))) return false;
    const keep = new Set(ids);
    for (const [id, r] of this.chunks) if (of(r) && !keep.has(id)) this.chunks.delete(id);
    this.files.set(ReferenceStore.key(collection, path), hash);
    return true;
  }
  delete(collection: string, path: string): void {
    for (const [id, r] of this.chunks) {
      if (r.collection === collection && r.path === path) this.chunks.delete(id);
    }
    this.files.delete(ReferenceStore.key(collection, path));
  }
  deleteCollection(collection: string): number {
    for (const [id, r] of this.chunks) if (r.collection === collection) this.chunks.delete(id);
    let removed = 0;
    for (const key of this.files.keys()) {
      if (key.startsWith(`${collection}\u0000`)) {
        this.files.delete(key);
        removed += 1;
      }
    }
    return removed;
  }
  fileHashes(collection: string): Map<string, string> {
    const hashes = new Map<string, string>();
    for (const [key, hash] of this.files) {
      const [c, path] = key.split("\u0000") as [string, string];
      if (c === collection) hashes.set(path, hash);
    }
    return hashes;
  }
  listPaths(collection: string): string[] {
    const paths = new Set(this.fileHashes(collection).keys());
    for (const r of this.chunks.values()) if (r.collection === collection) paths.add(r.path);
    return [...paths].sort(compareCodeUnits);
  }
  vectorSearch(vector: readonly number[], k: number): SearchHit[] {
    const queryNorm = Math.hypot(...vector);
    if (queryNorm === 0) return [];
    const scored: SearchHit[] = [];
    for (const r of this.chunks.values()) {
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < vector.length; i++) {
        const x = r.vector[i] as number;
        dot += x * (vector[i] as number);
        norm += x * x;
      }
      if (norm === 0) continue;
      const { vector: _v, ...hit } = r;
      const score = dot / (Math.sqrt(norm) * queryNorm);
      scored.push({ ...hit, score, signals: {} });
    }
    scored.sort((a, b) => b.score - a.score || compareCodeUnits(a.id, b.id));
    return scored
      .slice(0, k)
      .map((h, i) => ({ ...h, signals: { vector: { rank: i + 1, score: h.score } } }));
  }
  lexicalSearch(text: string, k: number): { id: string; score: number }[] {
    const all = [...this.chunks.values()];
    const scorer = new Bm25Scorer(lexicalTerms(text));
    all.forEach((r, i) => {
      scorer.add(i, r.text);
    });
    return scorer
      .top(k, (a, b) => compareCodeUnits((all[a] as ChunkRecord).id, (all[b] as ChunkRecord).id))
      .map((t) => ({ id: (all[t.key] as ChunkRecord).id, score: t.score }));
  }
}

type Op =
  | { op: "upsert"; collection: number; path: number; ordinal: number; text: number }
  | { op: "commit"; collection: number; path: number; keep: number }
  | { op: "delete"; collection: number; path: number }
  | { op: "delete-collection"; collection: number }
  | { op: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("upsert" as const),
      collection: fc.nat(1),
      path: fc.nat(3),
      ordinal: fc.nat(4),
      text: fc.nat(6),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("commit" as const),
      collection: fc.nat(1),
      path: fc.nat(3),
      keep: fc.nat(31),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("delete" as const),
      collection: fc.nat(1),
      path: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("delete-collection" as const), collection: fc.nat(1) }),
  },
  { weight: 1, arbitrary: fc.constant({ op: "reopen" as const }) },
);

const WORDS = ["alpha beta", "beta gamma", "gamma delta", "delta", "alpha", "zeta eta", "é 日本"];
const COLLECTIONS = [A, B];

describe("JSONL store against the all-in-memory reference", () => {
  it("gives the same search results, stats, paths and hashes after any operations", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), async (ops) => {
        run += 1;
        const path = join(dir, "model", `run-${run}.jsonl`);
        // Tiny reads: every line crosses read and window boundaries.
        const open = () => openJsonlStore({ path, access: write, readBytes: 64 });
        const reference = new ReferenceStore();
        let store = await open();
        try {
          for (const op of ops) {
            if (op.op === "reopen") {
              await store.close();
              store = await open();
              continue;
            }
            const collection = COLLECTIONS[op.collection] as string;
            if (op.op === "delete-collection") {
              expect(await store.deleteCollection(collection)).toBe(
                reference.deleteCollection(collection),
              );
              continue;
            }
            const file = `dir/f${op.path}.md`;
            if (op.op === "upsert") {
              const r = rec(collection, file, op.ordinal, WORDS[op.text] as string);
              // A new version of the same id now and then: last write wins.
              const version = { ...r, metadata: { ...r.metadata, v: op.text } };
              await store.upsert([version]);
              reference.upsert([version]);
            } else if (op.op === "commit") {
              const ids = [...reference.chunks.values()]
                .filter((r) => r.collection === collection && r.path === file)
                .map((r) => r.id)
                .filter((_, i) => (op.keep >> i) & 1);
              const ok = reference.commit(collection, file, `h${op.keep}`, ids);
              const committed = store.commitFile(collection, file, `h${op.keep}`, ids);
              if (ok) await committed;
              else await expect(committed).rejects.toMatchObject({ code: "missing-chunks" });
            } else {
              await store.deleteFile(collection, file);
              reference.delete(collection, file);
            }
          }
          for (const query of WORDS) {
            const vector = hashEmbedding(query, DIMENSIONS);
            expect(await store.search({ vector, k: 3, mode: "vector" })).toEqual(
              reference.vectorSearch(vector, 3),
            );
            const lexical = await store.search({ text: query, k: 3, mode: "lexical" });
            expect(lexical.map((h) => ({ id: h.id, score: h.score }))).toEqual(
              reference.lexicalSearch(query, 3),
            );
          }
          const all = hashEmbedding("alpha beta gamma", DIMENSIONS);
          expect(await store.search({ vector: all, k: 100, mode: "vector" })).toEqual(
            reference.vectorSearch(all, 100),
          );
          expect(await store.stats()).toMatchObject({
            chunks: reference.chunks.size,
            files: reference.files.size,
          });
          for (const collection of COLLECTIONS) {
            expect(await store.listPaths(collection)).toEqual(reference.listPaths(collection));
            expect(await store.fileHashes(collection)).toEqual(reference.fileHashes(collection));
          }
        } finally {
          await store.close();
        }
        // Compacted or not, the file replays to the same state.
        const dump = await dumpJsonlStore(path);
        expect(dump.chunks.map((c) => c.id).sort()).toEqual([...reference.chunks.keys()].sort());
        for (const collection of COLLECTIONS) {
          expect(new Map(Object.entries(dump.files[collection] ?? {}))).toEqual(
            reference.fileHashes(collection),
          );
        }
      }),
      { numRuns: 40 },
    );
  });

  it("compacts to sorted lines copied from the file, reading through small windows", async () => {
    const path = join(dir, "compact-sorted.jsonl");
    const store = await openJsonlStore({ path, access: write, readBytes: 100 });
    // Written out of order, some twice.
    const records = [
      rec(B, "b.md", 1, "b one"),
      rec(A, "b.md", 2, "a two"),
      rec(B, "b.md", 0, "b zero"),
      rec(A, "b.md", 0, "a zero"),
      rec(A, "b.md", 1, "a one"),
    ];
    await store.upsert(records.slice(0, 3));
    await store.upsert([{ ...(records[0] as ChunkRecord), text: "b one, edited" }]);
    await store.upsert(records.slice(3));
    await store.commitFile(B, "b.md", "hb", [(records[0] as ChunkRecord).id]);
    await store.close();
    const compacted = await lines(path);
    expect(compacted.map((l) => `${l.type} ${l.text ?? ""}`)).toEqual([
      "meta ",
      "file ",
      "chunk a zero",
      "chunk a one",
      "chunk a two",
      "chunk b one, edited",
    ]);
    const text = await readFile(path, "utf8");
    const reopened = await openJsonlStore({ path, access: write });
    try {
      expect((await reopened.stats()).chunks).toBe(4);
    } finally {
      await reopened.close();
    }
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("refuses to search a file changed under it", async () => {
    const path = join(dir, "changed-under.jsonl");
    const store = await openJsonlStore({ path, access: write });
    try {
      await store.upsert([rec(A, "a.md", 0, "kept")]);
      const original = await readFile(path, "utf8");
      await writeFile(path, original.replace('"type":"chunk"', '"type":"chunx"'));
      await expect(
        store.search({ vector: hashEmbedding("kept", DIMENSIONS), k: 1, mode: "vector" }),
      ).rejects.toMatchObject({ code: "corrupt" });
      await writeFile(path, original);
    } finally {
      await store.close();
    }
  });
});

describe("JSONL store memory", () => {
  it("keeps neither texts nor vectors in memory", async () => {
    const gc = collectGarbage();
    const path = join(dir, "memory.jsonl");
    const dimensions = 256;
    const store = await openJsonlStore({
      path,
      access: { mode: "write", identity: { embedderId: "mem", dimensions } },
    });
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      // 2,000 chunks of 20 kB of text and 256 numbers each: about 44 MB as records.
      const vector = Array.from({ length: dimensions }, (_, i) => Math.sin(i + 1));
      for (let f = 0; f < 200; f++) {
        const path = `docs/f${f}.md`;
        const batch = Array.from({ length: 10 }, (_, o) => ({
          ...rec(A, path, o, `${f} ${o} ${"w".repeat(20_000)}`),
          vector,
        }));
        await store.upsert(batch);
        await store.commitFile(
          A,
          path,
          "h",
          batch.map((r) => r.id),
        );
      }
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      expect((await store.stats()).chunks).toBe(2000);
      // The index: ids, positions and paths, well under 10 MB.
      expect(grown).toBeLessThan(10 * 1024 * 1024);
      expect(await store.search({ vector, k: 1, mode: "vector" })).toHaveLength(1);
    } finally {
      await store.close();
    }
  });
});

/** `gc()`, exposed for this test process. */
function collectGarbage(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}
