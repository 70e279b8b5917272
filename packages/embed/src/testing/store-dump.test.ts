import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openJsonlStore } from "../stores/jsonl.ts";
import { openPgliteStore } from "../stores/pglite.ts";
import { openSqliteStore } from "../stores/sqlite.ts";
import type { StoreAccess, VectorStore } from "../stores/vector-store.ts";
import {
  dumpJsonlStore,
  dumpPgliteStore,
  dumpSqliteStore,
  onlyCollectionFiles,
  type StoreDump,
} from "./store-dump.ts";
import { record } from "./vector-store-contract.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-dump-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const write: StoreAccess = {
  mode: "write",
  identity: { embedderId: "hash-v1:16", dimensions: 16 },
};

/** The same history in any store: two collections, a superseded version, deletions. */
async function fill(store: VectorStore): Promise<void> {
  try {
    const a0 = record("a.md", 0, "alpha zero", "/r/a");
    const a1 = record("a.md", 1, "alpha one", "/r/a");
    await store.upsert([a0, a1]);
    await store.commitFile("/r/a", "a.md", "ha1", [a0.id, a1.id]);
    const a0b = record("a.md", 0, "alpha zero, edited", "/r/a");
    await store.upsert([a0b]);
    await store.commitFile("/r/a", "a.md", "ha2", [a0b.id]);
    const b = record("a.md", 0, "beta", "/r/b");
    const gone = record("gone.md", 0, "gone", "/r/b");
    const zero = { ...record("z.md", 0, "zero vector", "/r/b"), vector: new Array(16).fill(0) };
    await store.upsert([b, gone, zero]);
    await store.commitFile("/r/b", "a.md", "hb", [b.id]);
    await store.commitFile("/r/b", "z.md", "hz", [zero.id]);
    await store.deleteFile("/r/b", "gone.md");
    const c = record("c.md", 0, "gamma", "/r/c");
    await store.upsert([c]);
    await store.deleteCollection("/r/c");
  } finally {
    await store.close();
  }
}

// SQLite and PGlite keep vectors as float32: compare at that precision.
const asFloat32 = (dump: StoreDump): StoreDump => ({
  ...dump,
  chunks: dump.chunks.map((c) => ({ ...c, vector: c.vector.map(Math.fround) })),
});

describe("store dumps", () => {
  it("give the same canonical dump of the same history in every store kind", async () => {
    const jsonl = join(dir, "s.jsonl");
    const sqlite = join(dir, "s.db");
    const pglite = join(dir, "pg");
    await fill(await openJsonlStore({ path: jsonl, access: write }));
    await fill(await openSqliteStore({ path: sqlite, access: write }));
    await fill(await openPgliteStore({ dataDir: pglite, access: write }));
    const expected = await dumpJsonlStore(jsonl);
    expect(expected.files).toEqual({
      "/r/a": { "a.md": "ha2" },
      "/r/b": { "a.md": "hb", "z.md": "hz" },
    });
    expect(expected.chunks.map((c) => `${c.collection}:${c.text}`)).toEqual([
      "/r/a:alpha zero, edited",
      "/r/b:beta",
      "/r/b:zero vector",
    ]);
    expect(asFloat32(await dumpSqliteStore(sqlite))).toEqual(asFloat32(expected));
    expect(asFloat32(await dumpPgliteStore(pglite))).toEqual(asFloat32(expected));
  }, 60_000);

  it("gives a one-collection dump's files by path, and refuses to merge collections", () => {
    const one: StoreDump = { chunks: [], files: { "/r": { "a.md": "h" } } };
    expect(onlyCollectionFiles(one)).toEqual({ "a.md": "h" });
    expect(onlyCollectionFiles({ chunks: [], files: {} })).toEqual({});
    expect(() => onlyCollectionFiles({ chunks: [], files: { "/a": {}, "/b": {} } })).toThrow(
      /2 collections/,
    );
  });
});
