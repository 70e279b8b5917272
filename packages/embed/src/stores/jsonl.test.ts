import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { compareCodeUnits } from "../steps/discover.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { openJsonlStore } from "./jsonl.ts";
import type { ChunkRecord, SearchHit } from "./vector-store.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-jsonl-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const identity = { embedderId: "hash-v1:16", dimensions: 16 };
const lines = async (path: string) =>
  (await readFile(path, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; text?: string });

describe("JSONL store", () => {
  vectorStoreContract((name, id) =>
    openJsonlStore({ path: join(dir, "contract", `${name}.jsonl`), ...id }),
  );

  it("appends while open and compacts to one line per live chunk on close", async () => {
    const path = join(dir, "compact.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    const a = record("a.md", 0, "first");
    await store.upsert([a]);
    await store.upsert([{ ...a, text: "first, edited" }]);
    await store.upsert([record("b.md", 0, "second")]);
    await store.commitFile("a.md", "ha", [a.id]);
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
    expect(compacted[2]?.text).toBe("first, edited");

    // An unchanged store is not rewritten.
    const before = await readFile(path, "utf8");
    await (await openJsonlStore({ path, ...identity })).close();
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("drops a torn last line left by a crash and keeps working", async () => {
    const path = join(dir, "torn.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    await store.upsert([record("a.md", 0, "kept")]);
    await store.close();
    await appendFile(path, '{"type":"chunk","id":"half');
    const reopened = await openJsonlStore({ path, ...identity });
    try {
      expect((await reopened.stats()).chunks).toBe(1);
      await reopened.upsert([record("b.md", 0, "after crash")]);
      expect((await reopened.stats()).chunks).toBe(2);
    } finally {
      await reopened.close();
    }
    expect((await lines(path)).map((l) => l.type)).toEqual(["meta", "chunk", "chunk"]);
  });

  it("reports a corrupt line in the middle with its line number", async () => {
    const path = join(dir, "corrupt.jsonl");
    const meta = JSON.stringify({ type: "meta", schemaVersion: 1, ...identity });
    await writeFile(path, `${meta}\nnot json\n${meta}\n`);
    await expect(openJsonlStore({ path, ...identity })).rejects.toThrow(
      /corrupt\.jsonl:2: not valid JSON/,
    );
    await writeFile(path, '{"type":"chunk"}\n');
    await expect(openJsonlStore({ path, ...identity })).rejects.toMatchObject({ code: "corrupt" });
  });

  it("serializes concurrent writes", async () => {
    const path = join(dir, "concurrent.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.upsert([record(`f${i % 5}.md`, i, `text ${i}`)]),
        ),
      );
      expect((await store.stats()).chunks).toBe(20);
      expect(await lines(path)).toHaveLength(21);
    } finally {
      await store.close();
    }
  });
});

/**
 * The store's observable behaviour as the first version of this store had it: every record in
 * memory, search over all of them. The file-backed store must match it.
 */
class ReferenceStore {
  readonly chunks = new Map<string, ChunkRecord>();
  readonly files = new Map<string, string>();
  upsert(records: readonly ChunkRecord[]): void {
    for (const r of records) this.chunks.set(r.id, r);
  }
  commit(path: string, hash: string, ids: readonly string[]): boolean {
    if (ids.some((id) => this.chunks.get(id)?.path !== path)) return false;
    const keep = new Set(ids);
    for (const [id, r] of this.chunks) if (r.path === path && !keep.has(id)) this.chunks.delete(id);
    this.files.set(path, hash);
    return true;
  }
  delete(path: string): void {
    for (const [id, r] of this.chunks) if (r.path === path) this.chunks.delete(id);
    this.files.delete(path);
  }
  listPaths(): string[] {
    const paths = new Set(this.files.keys());
    for (const r of this.chunks.values()) paths.add(r.path);
    return [...paths].sort(compareCodeUnits);
  }
  search(vector: readonly number[], k: number): SearchHit[] {
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
      scored.push({ ...hit, score: dot / (Math.sqrt(norm) * queryNorm) });
    }
    scored.sort((a, b) => b.score - a.score || compareCodeUnits(a.id, b.id));
    return scored.slice(0, k);
  }
}

type Op =
  | { op: "upsert"; path: number; ordinal: number; text: number }
  | { op: "commit"; path: number; keep: number }
  | { op: "delete"; path: number }
  | { op: "reopen" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      op: fc.constant("upsert" as const),
      path: fc.nat(3),
      ordinal: fc.nat(4),
      text: fc.nat(6),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ op: fc.constant("commit" as const), path: fc.nat(3), keep: fc.nat(31) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("delete" as const), path: fc.nat(3) }) },
  { weight: 1, arbitrary: fc.constant({ op: "reopen" as const }) },
);

const WORDS = ["alpha beta", "beta gamma", "gamma delta", "delta", "alpha", "zeta eta", "é 日本"];

describe("JSONL store against the all-in-memory reference", () => {
  it("gives the same search results, stats, paths and hashes after any operations", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 30 }), async (ops) => {
        run += 1;
        const path = join(dir, "model", `run-${run}.jsonl`);
        // Tiny reads: every line crosses read and window boundaries.
        const open = () => openJsonlStore({ path, ...identity, readBytes: 64 });
        const reference = new ReferenceStore();
        let store = await open();
        try {
          for (const op of ops) {
            const file = `dir/f${op.op === "reopen" ? 0 : op.path}.md`;
            if (op.op === "upsert") {
              const r = record(file, op.ordinal, WORDS[op.text] as string);
              // A new version of the same id now and then: last write wins.
              const version = { ...r, metadata: { ...r.metadata, v: op.text } };
              await store.upsert([version]);
              reference.upsert([version]);
            } else if (op.op === "commit") {
              const ids = [...reference.chunks.values()]
                .filter((r) => r.path === file)
                .map((r) => r.id)
                .filter((_, i) => (op.keep >> i) & 1);
              const ok = reference.commit(file, `h${op.keep}`, ids);
              const committed = store.commitFile(file, `h${op.keep}`, ids);
              if (ok) await committed;
              else await expect(committed).rejects.toMatchObject({ code: "missing-chunks" });
            } else if (op.op === "delete") {
              await store.deleteByPath(file);
              reference.delete(file);
            } else {
              await store.close();
              store = await open();
            }
          }
          for (const query of WORDS) {
            const vector = hashEmbedding(query, identity.dimensions);
            expect(await store.search(vector, 3)).toEqual(reference.search(vector, 3));
          }
          const all = hashEmbedding("alpha beta gamma", identity.dimensions);
          expect(await store.search(all, 100)).toEqual(reference.search(all, 100));
          expect(await store.stats()).toMatchObject({
            chunks: reference.chunks.size,
            files: reference.files.size,
          });
          expect(await store.listPaths()).toEqual(reference.listPaths());
          expect(await store.fileHashes()).toEqual(reference.files);
        } finally {
          await store.close();
        }
        // Compacted or not, the file replays to the same state.
        const dump = await dumpJsonlStore(path);
        expect(dump.chunks.map((c) => c.id).sort()).toEqual([...reference.chunks.keys()].sort());
        expect(dump.files).toEqual(Object.fromEntries(reference.files));
      }),
      { numRuns: 40 },
    );
  });

  it("compacts to sorted lines copied from the file, reading through small windows", async () => {
    const path = join(dir, "compact-sorted.jsonl");
    const store = await openJsonlStore({ path, ...identity, readBytes: 100 });
    // Written out of order, some twice.
    const records = [
      record("b.md", 1, "b one"),
      record("a.md", 2, "a two"),
      record("b.md", 0, "b zero"),
      record("a.md", 0, "a zero"),
      record("a.md", 1, "a one"),
    ];
    await store.upsert(records.slice(0, 3));
    await store.upsert([{ ...(records[0] as ChunkRecord), text: "b one, edited" }]);
    await store.upsert(records.slice(3));
    await store.commitFile("b.md", "hb", [(records[0] as ChunkRecord).id]);
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
    // Each line is what a fresh serialization of the record gives.
    const text = await readFile(path, "utf8");
    const reopened = await openJsonlStore({ path, ...identity });
    try {
      expect((await reopened.stats()).chunks).toBe(4);
    } finally {
      await reopened.close();
    }
    expect(await readFile(path, "utf8")).toBe(text);
  });

  it("refuses to search a file changed under it", async () => {
    const path = join(dir, "changed-under.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    try {
      await store.upsert([record("a.md", 0, "kept")]);
      const original = await readFile(path, "utf8");
      await writeFile(path, original.replace('"type":"chunk"', '"type":"chunx"'));
      await expect(store.search(hashEmbedding("kept", 16), 1)).rejects.toMatchObject({
        code: "corrupt",
      });
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
    const store = await openJsonlStore({ path, embedderId: "mem", dimensions });
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      // 2,000 chunks of 20 kB of text and 256 numbers each: about 44 MB as records.
      const vector = Array.from({ length: dimensions }, (_, i) => Math.sin(i + 1));
      for (let f = 0; f < 200; f++) {
        const path = `docs/f${f}.md`;
        const batch = Array.from({ length: 10 }, (_, o) => ({
          ...record(path, o, `${f} ${o} ${"w".repeat(20_000)}`),
          vector,
        }));
        await store.upsert(batch);
        await store.commitFile(
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
      expect(await store.search(vector, 1)).toHaveLength(1);
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
