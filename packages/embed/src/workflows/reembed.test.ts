import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHashEmbedder } from "../embedders/hash.ts";
import { chunkId } from "../steps/chunk-id.ts";
import { openJsonlStore } from "../stores/jsonl.ts";
import { openSqliteStore } from "../stores/sqlite.ts";
import type { ChunkRecord, StoreIdentity } from "../stores/vector-store.ts";
import { runSluice } from "../testing/sluice-process.ts";
import { dumpSqliteStore } from "../testing/store-dump.ts";
import { reembedStore, targetFileHash } from "./reembed.ts";

/** Committed files in an SQLite store being written by another process (0 while it is created). */
function committedFiles(path: string): number {
  if (!existsSync(path)) return 0;
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
    return (db.prepare("SELECT count(*) AS n FROM files").get() as { n: number }).n;
  } catch {
    return 0; // not created yet, or locked for a moment
  } finally {
    db?.close();
  }
}

const FILES = 1000;
const PER_FILE = 10;
const COLLECTION = "/generated";
const hash32 = createHashEmbedder({ dimensions: 32 });
const identity32: StoreIdentity = {
  embedderId: hash32.id,
  dimensions: 32,
  embedder: { kind: "hash", dimensions: 32 },
};
let dir: string;
let source: string;

const WORDS = "river gate stream pull batch token store vector page memory chunk file".split(" ");

/** File `f`'s chunks, without vectors yet. */
function chunksOf(f: number): ChunkRecord[] {
  const path = `folder-${f % 7}/file-${f}.md`;
  return Array.from({ length: PER_FILE }, (_, ordinal) => {
    const words = Array.from(
      { length: 12 },
      (_, w) => WORDS[(f * 7 + ordinal * 3 + w * 5) % WORDS.length],
    );
    const text = `${words.join(" ")} ${f}-${ordinal}`;
    return {
      id: chunkId({ collection: COLLECTION, path, ordinal, text }),
      collection: COLLECTION,
      path,
      ordinal,
      text,
      startLine: ordinal * 3 + 1,
      endLine: ordinal * 3 + 3,
      metadata: { headings: [`File ${f}`] },
      vector: [],
    };
  });
}

/** Writes the 10,000 chunks into a store, committing each file with hash `h<f>`. */
async function fill(
  open: () => Promise<import("../stores/vector-store.ts").VectorStore>,
  embed = hash32,
  hashOf = (h: string) => h,
) {
  const store = await open();
  try {
    for (let f = 0; f < FILES; f++) {
      const drafts = chunksOf(f);
      const vectors = await embed.embed(drafts.map((r) => r.text));
      const records = drafts.map((r, i) => ({ ...r, vector: vectors[i] ?? [] }));
      await store.upsert(records);
      await store.commitFile(
        COLLECTION,
        records[0]?.path ?? "",
        hashOf(`h${f}`),
        records.map((r) => r.id),
      );
    }
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-reembed-"));
  source = join(dir, "source.jsonl");
  await fill(() =>
    openJsonlStore({ path: source, access: { mode: "write", identity: identity32 } }),
  );
}, 60_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("reembedStore", () => {
  it("moves 10,000 chunks from JSONL to SQLite, equal to a clean write into SQLite", async () => {
    const target = join(dir, "target.db");
    const summary = await reembedStore(
      { kind: "jsonl", location: source },
      { store: { location: target }, embedder: { kind: "hash", dimensions: 32 } },
    );
    expect(summary).toMatchObject({
      collections: 1,
      files: FILES,
      committed: FILES,
      chunks: FILES * PER_FILE,
      embedded: FILES * PER_FILE,
      unchanged: 0,
      sameEmbedder: true,
      errors: [],
    });
    const clean = join(dir, "clean.db");
    await fill(() =>
      openSqliteStore({ path: clean, access: { mode: "write", identity: identity32 } }),
    );
    const [got, want] = [await dumpSqliteStore(target), await dumpSqliteStore(clean)];
    expect(got.chunks).toHaveLength(FILES * PER_FILE);
    expect(got).toEqual(want);

    // A second run finds everything done and changes nothing.
    const again = await reembedStore(
      { kind: "jsonl", location: source },
      { store: { location: target }, embedder: { kind: "hash", dimensions: 32 } },
    );
    expect(again).toMatchObject({ unchanged: FILES, committed: 0, embedded: 0 });
    expect(await dumpSqliteStore(target)).toEqual(want);
  }, 60_000);

  it("resumes after a kill -9: the re-run does only the rest and ends equal to a clean run", async () => {
    const killed = join(dir, "killed.db");
    const args = [
      "reembed",
      "--from",
      source,
      "--to",
      killed,
      "--embedder",
      "hash",
      "--dimensions",
      "64",
    ];
    // Small requests, so that files commit early and the kill lands mid-run.
    const first = await runSluice(
      {
        cwd: dir,
        onSpawn: (child) => {
          // Killed as soon as the target holds a committed file: mid-run, however fast the
          // machine (a progress line comes only every 2 s, after a short run has ended).
          const poll = setInterval(() => {
            if (child.exitCode !== null || child.killed) {
              clearInterval(poll);
              return;
            }
            if (committedFiles(killed) > 0) {
              clearInterval(poll);
              child.kill("SIGKILL");
            }
          }, 5);
          child.once("exit", () => clearInterval(poll));
        },
      },
      ...args,
      "--batch-size",
      "16",
    );
    expect(first.code).toBe(null);
    const partial = await dumpSqliteStore(killed);
    const done = Object.keys(partial.files[COLLECTION] ?? {}).length;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(FILES);

    const rerun = await runSluice({ cwd: dir }, ...args, "--json");
    expect(rerun.stderr).toBe("");
    expect(rerun.code).toBe(0);
    const summary = JSON.parse(rerun.stdout);
    expect(summary).toMatchObject({ sameEmbedder: false, errors: [] });
    expect(summary.unchanged).toBe(done);
    expect(summary.committed).toBe(FILES - done);

    const fresh = join(dir, "fresh.db");
    await reembedStore(
      { kind: "jsonl", location: source },
      { store: { location: fresh }, embedder: { kind: "hash", dimensions: 64 } },
    );
    const want = await dumpSqliteStore(fresh);
    expect(await dumpSqliteStore(killed)).toEqual(want);
    // A new embedder: file hashes are the source's bound to it, not copied.
    expect(want.files[COLLECTION]?.["folder-0/file-0.md"]).toBe(
      targetFileHash("h0", false, "hash-v1:64"),
    );
  }, 60_000);
});
