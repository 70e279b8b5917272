import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { dumpPgliteStore } from "../testing/store-dump.ts";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { createPgliteDatabase, openPgliteStore, readPgliteIdentity } from "./pglite.ts";
import { SQL_SCHEMA_VERSION } from "./sql.ts";
import type { StoreAccess, StoreIdentity } from "./vector-store.ts";

// One database for most of the file (a fresh PGlite takes seconds to start): each test uses its
// own table prefix. It lives on disk so the last test can prove that a reopened folder keeps the
// data, with the folder's lock.
let dir: string;
let dataDir: string;
let db: PGlite | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-pglite-"));
  dataDir = join(dir, "nested", "store");
  db = await createPgliteDatabase(dataDir);
}, 60_000);
afterAll(async () => {
  if (db && !db.closed) await db.close();
  await rm(dir, { recursive: true, force: true });
});

const identity: StoreIdentity = {
  embedderId: "hash-v1:16",
  dimensions: 16,
  embedder: { kind: "hash", dimensions: 16 },
};
const write: StoreAccess = { mode: "write", identity };
const read: StoreAccess = { mode: "read" };

/** Every row of a store's three tables, as text: what a reader must leave as it was. */
async function tableText(prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const table of ["meta", "files", "chunks"]) {
    const exists = await (db as PGlite).query<{ found: string | null }>(
      "SELECT to_regclass($1)::text AS found",
      [`${prefix}${table}`],
    );
    if (exists.rows[0]?.found == null) continue;
    const rows = await (db as PGlite).query(
      `SELECT to_jsonb(t)::text AS row FROM ${prefix}${table} AS t ORDER BY 1`,
    );
    parts.push(JSON.stringify(rows.rows));
  }
  return parts.join("\n");
}

describe("PGlite store", () => {
  vectorStoreContract(
    (name, access) => openPgliteStore({ db: db as PGlite, tablePrefix: `${name}_`, access }),
    // A shared `db` is the caller's to lock; the folder lock has its own test below.
    { exact: true, lock: false, storedBytes: (name) => tableText(`${name}_`) },
  );

  it("searches with the opt-in HNSW index too (approximate, documented)", async () => {
    const store = await openPgliteStore({
      db: db as PGlite,
      tablePrefix: "hnsw_",
      index: "hnsw",
      access: write,
    });
    try {
      const records = Array.from({ length: 60 }, (_, i) => record("a.md", i, `text number ${i}`));
      await store.upsert(records);
      const hits = await store.search({
        vector: hashEmbedding("text number 7", 16),
        k: 45,
        mode: "vector",
      });
      // ef_search is widened past its default of 40 for a window of 45.
      expect(hits.length).toBeGreaterThan(40);
      const indexes = await (db as PGlite).query<{ indexname: string }>(
        "SELECT indexname FROM pg_indexes WHERE tablename = 'hnsw_chunks'",
      );
      expect(indexes.rows.map((r) => r.indexname)).toContain("hnsw_chunks_embedding_idx");
    } finally {
      await store.close();
    }
  });

  it("stores the words as lexicalTokens splits them: accents and case fold as in queries", async () => {
    const store = await openPgliteStore({ db: db as PGlite, tablePrefix: "words_", access: write });
    try {
      await store.upsert([
        record("a.md", 0, "Un CAFÉ crème, s'il vous plaît"),
        record("b.md", 0, "tea with milk"),
      ]);
      for (const query of ["cafe", "Café", "CREME plait"]) {
        const hits = await store.search({ text: query, k: 5, mode: "lexical" });
        expect(hits.map((h) => h.path)).toEqual(["a.md"]);
      }
      // Quotes and backslashes in a query are words' edges, never tsquery syntax.
      expect(
        await store.search({ text: "'quote' \\ x:* & | ! <-> (", k: 5, mode: "lexical" }),
      ).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it("rejects an unsafe table prefix", async () => {
    await expect(
      openPgliteStore({ db: db as PGlite, tablePrefix: "x; DROP", access: write }),
    ).rejects.toMatchObject({ code: "invalid-argument" });
  });

  it("refuses a schema-1 store with one line on how to move", async () => {
    await (db as PGlite).exec(`
      CREATE TABLE old_meta (key text PRIMARY KEY, value text NOT NULL);
      INSERT INTO old_meta VALUES ('schema_version', '1'), ('embedder_id', 'hash-v1:16'), ('dimensions', '16');
      CREATE TABLE old_files (path text PRIMARY KEY, file_hash text NOT NULL, chunk_count integer NOT NULL);
    `);
    for (const access of [read, write]) {
      const error = await openPgliteStore({ db: db as PGlite, tablePrefix: "old_", access }).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: "old-schema" });
      expect((error as Error).message).toMatch(
        /^PGlite database was written by an earlier sluice \(store schema 1\); re-embed into a new store: sluice embed <dir> --store <new location> \(then delete PGlite database\)$/,
      );
    }
  });

  it("keeps its data in the folder, and locks the folder for writers and readers alike (runs last: closes the shared database)", async () => {
    const first = await openPgliteStore({ db: db as PGlite, access: write });
    const written = record("kept.md", 0, "survives a restart");
    await first.upsert([written]);
    await first.commitFile(written.collection, "kept.md", "h", [written.id]);
    await first.close();
    await db?.close();

    expect(await readPgliteIdentity(dataDir)).toEqual(identity);
    const writer = await openPgliteStore({ dataDir, access: write });
    try {
      expect(await writer.fileHashes(written.collection)).toEqual(new Map([["kept.md", "h"]]));
      // PGlite cannot share its folder: a second writer and a reader are both refused.
      for (const access of [write, read]) {
        const error = await openPgliteStore({ dataDir, access }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: "locked" });
        expect((error as Error).message).toContain(`locked by pid ${process.pid}`);
      }
      await expect(readPgliteIdentity(dataDir)).rejects.toMatchObject({ code: "locked" });
    } finally {
      await writer.close();
    }
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
    const reader = await openPgliteStore({ dataDir, access: read });
    try {
      expect(reader.identity).toEqual(identity);
      const hits = await reader.search({ vector: written.vector, text: "restart", k: 1 });
      expect(hits[0]?.text).toBe("survives a restart");
      expect(hits[0]?.signals.lexical?.rank).toBe(1);
    } finally {
      await reader.close();
    }
    expect(existsSync(`${dataDir}.lock`)).toBe(false);
    const dump = await dumpPgliteStore(dataDir);
    expect(dump.files).toEqual({ [written.collection]: { "kept.md": "h" } });
    expect(dump.chunks.map((c) => c.id)).toEqual([written.id]);
    expect(SQL_SCHEMA_VERSION).toBe("2");
  }, 60_000);

  it("a reader where no database is creates nothing: not-found", async () => {
    const missing = join(dir, "missing", "store");
    const error = await openPgliteStore({ dataDir: missing, access: read }).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({ code: "not-found" });
    expect(existsSync(join(dir, "missing"))).toBe(false);
    expect(await readPgliteIdentity(missing)).toBeUndefined();
    expect(existsSync(join(dir, "missing"))).toBe(false);
  });
});
