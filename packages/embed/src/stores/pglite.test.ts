import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { createPgliteDatabase, openPgliteStore } from "./pglite.ts";

// One database for the whole file (a fresh PGlite takes seconds to start): each test uses its own
// table prefix. It lives on disk so the last test can prove that a reopened folder keeps the data.
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

describe("PGlite store", () => {
  vectorStoreContract((name, identity) =>
    openPgliteStore({ db: db as PGlite, tablePrefix: `${name}_`, ...identity }),
  );

  it("searches exactly without the HNSW index", async () => {
    const store = await openPgliteStore({
      db: db as PGlite,
      tablePrefix: "flat_",
      index: "none",
      embedderId: "hash-v1:16",
      dimensions: 16,
    });
    try {
      await store.upsert([record("a.md", 0, "exact match wanted"), record("a.md", 1, "other")]);
      const hits = await store.search(record("q.md", 0, "exact match wanted").vector, 1);
      expect(hits[0]?.text).toBe("exact match wanted");
    } finally {
      await store.close();
    }
  });

  it("rejects an unsafe table prefix", async () => {
    await expect(
      openPgliteStore({ db: db as PGlite, tablePrefix: "x; DROP", embedderId: "e", dimensions: 3 }),
    ).rejects.toMatchObject({ code: "invalid-argument" });
  });

  it("keeps its data in the folder across a reopen (runs last: closes the shared database)", async () => {
    const identity = { embedderId: "hash-v1:16", dimensions: 16 };
    const first = await openPgliteStore({ db: db as PGlite, ...identity });
    const written = record("kept.md", 0, "survives a restart");
    await first.upsert([written]);
    await first.commitFile("kept.md", "h", [written.id]);
    await first.close();
    await db?.close();

    const reopened = await openPgliteStore({ dataDir, ...identity });
    try {
      expect(await reopened.fileHashes()).toEqual(new Map([["kept.md", "h"]]));
      expect((await reopened.search(written.vector, 1))[0]?.text).toBe("survives a restart");
    } finally {
      await reopened.close();
    }
  });
});
