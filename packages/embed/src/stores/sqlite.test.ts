import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { pathToFileURL } from "node:url";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { type WorldReadableCopy, worldReadableCopy } from "../testing/world-readable-copy.ts";
import { openSqliteStore, readSqliteIdentity } from "./sqlite.ts";
import { type StoreIdentity, type VectorStore, VectorStoreError } from "./vector-store.ts";

const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const SQLITE_MODULE = new URL("./sqlite.ts", import.meta.url).href;
const IDENTITY: StoreIdentity = {
  embedderId: "hash-v1:16",
  dimensions: 16,
  embedder: { kind: "hash", dimensions: 16 },
};
const A = "/docs/a";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-sqlite-"));
  // Some tests read the stores as user "nobody": let it through the (0700) temporary folder.
  await chmod(dir, 0o755);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// "nobody" cannot reach into a checkout under a private folder: it runs a world-readable copy.
let copy: Promise<WorldReadableCopy> | undefined;
const nobodysCopy = () => (copy ??= worldReadableCopy({ entries: [SQLITE_MODULE] }));
afterAll(async () => {
  await copy?.then(
    (c) => c.remove(),
    () => {},
  );
});

describe("SQLite store: the store contract", () => {
  vectorStoreContract(
    (name, access) => openSqliteStore({ path: join(dir, `${name}.db`), access }),
    {
      exact: true,
      lock: true,
      storedBytes: (name) => readFile(join(dir, `${name}.db`)),
    },
  );
});

describe("SQLite store: the store contract, writing on the caller's thread", () => {
  vectorStoreContract(
    (name, access) =>
      openSqliteStore({ path: join(dir, `on-thread-${name}.db`), access, writerThread: false }),
    {
      exact: true,
      lock: true,
      storedBytes: (name) => readFile(join(dir, `on-thread-${name}.db`)),
    },
  );
});

describe("SQLite store: the writer thread", () => {
  const batch = Array.from({ length: 300 }, (_, i) =>
    record(`f${i % 50}.md`, Math.floor(i / 50), `chunk ${i} about bounded pipelines`, "/docs/b"),
  );

  /**
   * Writes `batch` until a write leaves this thread free to take a turn before it is done (a
   * write in the writer thread; one on this thread is done when its call returns), and answers
   * how many writes came before that one, or -1 if none did within 40.
   */
  async function writesBeforeHandOff(store: VectorStore): Promise<number> {
    for (let attempt = 0; attempt < 40; attempt++) {
      const written = store.upsert(batch);
      let turned = false;
      setImmediate(() => {
        turned = true;
      });
      await written;
      if (turned) return attempt;
      await sleep(50);
    }
    return -1;
  }

  it("hands its writes to its thread after its first 512 chunks; with writerThread: false, never", async () => {
    for (const writerThread of [true, false]) {
      const store = await openSqliteStore({
        path: join(dir, `turns-${writerThread}.db`),
        access: { mode: "write", identity: IDENTITY },
        writerThread,
      });
      try {
        const before = await writesBeforeHandOff(store);
        // 300 chunks a write: the second one starts the thread, the third may be the first in it.
        if (writerThread) expect(before).toBeGreaterThanOrEqual(2);
        else expect(before).toBe(-1);
        expect((await store.stats()).chunks).toBe(batch.length);
      } finally {
        await store.close();
      }
    }
  });

  it("says so when its thread cannot start, and writes everything on the caller's thread", async () => {
    const path = join(dir, "no-thread.db");
    const moved = join(dir, "no-thread-moved.db");
    const warnings: string[] = [];
    const store = await openSqliteStore({
      path,
      access: { mode: "write", identity: IDENTITY, onWarning: (w) => warnings.push(w) },
    });
    try {
      // The open connection follows the file it has; the thread, opening the path, finds a
      // folder there and cannot start.
      await rename(path, moved);
      await mkdir(path);
      for (let i = 0; i < 4; i++) await store.upsert(batch);
      expect(await writesBeforeHandOff(store)).toBe(-1);
      expect((await store.stats()).chunks).toBe(batch.length);
    } finally {
      await store.close();
    }
    // Told once the thread's start has failed, which close waits for (on a loaded machine the
    // thread may take longer to fail than the writes above take).
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/writer thread could not start .*no-thread\.db.*caller's thread/s);
    const db = new Database(moved, { readonly: true });
    try {
      expect(db.prepare("SELECT count(*) AS n FROM chunks").get()).toEqual({ n: batch.length });
    } finally {
      db.close();
    }
  });

  it("applies writes in the order made, and hands back their failures as VectorStoreErrors", async () => {
    const store = await openSqliteStore({
      path: join(dir, "order.db"),
      access: { mode: "write", identity: IDENTITY },
    });
    try {
      expect(await writesBeforeHandOff(store)).toBeGreaterThan(0);
      const a0 = record("a.md", 0, "first");
      const a1 = record("a.md", 1, "second");
      // Not awaited one by one: the commit must still see both chunks, the failed commit none.
      const calls = [
        store.upsert([a0]),
        store.upsert([a1]),
        store.commitFile(A, "a.md", "h1", [a0.id, a1.id]),
        store.commitFile(A, "b.md", "h2", ["never-written"]),
        store.deleteFile(A, "a.md"),
      ];
      const settled = await Promise.allSettled(calls);
      expect(settled.map((s) => s.status)).toEqual([
        "fulfilled",
        "fulfilled",
        "fulfilled",
        "rejected",
        "fulfilled",
      ]);
      const failure = (settled[3] as PromiseRejectedResult).reason;
      expect(failure).toBeInstanceOf(VectorStoreError);
      expect(failure).toMatchObject({ code: "missing-chunks" });
      expect(String(failure.message)).toContain("never-written");
      expect(await store.listPaths(A)).toEqual([]);
      // A caller's record may carry more than a record's fields; only those cross.
      const withMethod = Object.assign(record("c.md", 0, "a record with a method"), {
        describe: () => "c.md",
      });
      await store.upsert([withMethod]);
      expect((await store.search({ text: "method", k: 1, mode: "lexical" }))[0]?.path).toBe("c.md");
    } finally {
      await store.close();
    }
    // Closed after its writes: one complete file, no WAL beside it.
    await expect(stat(join(dir, "order.db-wal"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a TypeScript module snippet in a child process; given a world-readable copy, as "nobody"
 * with the copy's tsx (the snippet imports from the copy too), in the copy's folder (tsx runs
 * esbuild in its working folder, which must not be a checkout nobody can reach).
 */
function runChild(code: string, nobody?: WorldReadableCopy): Promise<ChildResult> {
  const tsx = nobody ? nobody.url(TSX) : TSX;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", tsx, "--input-type=module", "-e", code], {
      stdio: ["ignore", "pipe", "pipe"],
      ...(nobody ? { uid: 65534, gid: 65534, cwd: nobody.root, env: nobody.env } : {}),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (exitCode) => resolve({ code: exitCode, stdout, stderr }));
  });
}

describe("SQLite store", () => {
  it("creates the folder and a database file that is complete on its own after close", async () => {
    const path = join(dir, "nested", "deeper", "store.db");
    const store = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    expect(store.kind).toBe("sqlite");
    await store.upsert([record("a.md", 0, "alpha")]);
    await store.commitFile(A, "a.md", "h", [record("a.md", 0, "alpha").id]);
    await store.close();
    // Back to a rollback journal: no -wal / -shm beside it, no lock file.
    for (const suffix of ["-wal", "-shm", ".lock"]) {
      await expect(stat(`${path}${suffix}`)).rejects.toMatchObject({ code: "ENOENT" });
    }
    const header = await readFile(path);
    expect(header.subarray(0, 16).toString("latin1")).toBe("SQLite format 3\u0000");
    expect(header[18]).toBe(1); // legacy (rollback-journal) write version, not WAL
    expect(await readSqliteIdentity(path)).toEqual(IDENTITY);
  });

  it("reads no identity and creates nothing where there is no store", async () => {
    const path = join(dir, "absent", "store.db");
    expect(await readSqliteIdentity(path)).toBeUndefined();
    await expect(stat(join(dir, "absent"))).rejects.toMatchObject({ code: "ENOENT" });
    const error = await openSqliteStore({ path, access: { mode: "read" } }).catch((e) => e);
    expect(error).toMatchObject({ code: "not-found" });
    expect(error.message).toContain(path);
    expect(error.message).toContain("sluice embed <dir>");
  });

  it("refuses files that are not sluice stores, or from an older schema, untouched", async () => {
    const text = join(dir, "notes.db");
    await writeFile(
      text,
      "just some text that is long enough to not be a database header\n".repeat(20),
    );
    const before = await readFile(text);
    for (const access of [
      { mode: "read" } as const,
      { mode: "write", identity: IDENTITY } as const,
    ]) {
      const error = await openSqliteStore({ path: text, access }).catch((e) => e);
      expect(error).toMatchObject({ code: "corrupt" });
      expect(error.message).toContain("not a sluice store");
    }
    expect(await readFile(text)).toEqual(before);
    await expect(stat(`${text}.lock`)).rejects.toMatchObject({ code: "ENOENT" });

    const other = join(dir, "other-app.db");
    const db = new Database(other);
    db.exec("CREATE TABLE things (x)");
    db.close();
    for (const access of [
      { mode: "read" } as const,
      { mode: "write", identity: IDENTITY } as const,
    ]) {
      const error = await openSqliteStore({ path: other, access }).catch((e) => e);
      expect(error).toMatchObject({ code: "corrupt" });
    }

    const old = join(dir, "old.db");
    const store = await openSqliteStore({
      path: old,
      access: { mode: "write", identity: IDENTITY },
    });
    await store.close();
    const raw = new Database(old);
    raw.prepare("UPDATE meta SET value = '1' WHERE key = 'schema_version'").run();
    raw.close();
    const error = await openSqliteStore({ path: old, access: { mode: "read" } }).catch((e) => e);
    expect(error).toMatchObject({ code: "old-schema" });
    expect(error.message).toContain("store schema 1");
    expect(error.message).toContain("--store <new location>");
    await expect(readSqliteIdentity(old)).rejects.toMatchObject({ code: "old-schema" });
  });

  it("recognizes the old PGlite default store folder and says how to move", async () => {
    const folder = join(dir, "pglite-store");
    await mkdir(folder);
    await writeFile(join(folder, "PG_VERSION"), "17\n");
    for (const access of [
      { mode: "read" } as const,
      { mode: "write", identity: IDENTITY } as const,
    ]) {
      const error = await openSqliteStore({ path: folder, access }).catch((e) => e);
      expect(error).toMatchObject({ code: "old-schema" });
      expect(error.message.split("\n")).toHaveLength(1);
      expect(error.message).toContain("sluice embed <dir> --store <new location>");
    }
    const plain = join(dir, "plain-folder");
    await mkdir(plain);
    const error = await openSqliteStore({ path: plain, access: { mode: "read" } }).catch((e) => e);
    expect(error).toMatchObject({ code: "invalid-argument" });
  });

  it("says so when a part of the store's folder path is a file", async () => {
    const file = join(dir, "a-file");
    await writeFile(file, "x");
    const path = join(file, "store.db");
    const error = await openSqliteStore({
      path,
      access: { mode: "write", identity: IDENTITY },
    }).catch((e) => e);
    expect(error).toMatchObject({ code: "unavailable" });
    expect(error.message).toBe(`cannot write store ${path}: a part of its folder path is a file`);
  });

  it("refuses more dimensions than sqlite-vec holds, creating nothing", async () => {
    const path = join(dir, "huge.db");
    const identity = { embedderId: "x", dimensions: 9000 };
    const error = await openSqliteStore({ path, access: { mode: "write", identity } }).catch(
      (e) => e,
    );
    expect(error).toMatchObject({ code: "invalid-argument" });
    expect(error.message).toContain("8192");
    await expect(stat(path)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("ranks exactly past sqlite-vec's k limit of 4096, in one collection or all", async () => {
    const path = join(dir, "wide.db");
    const store = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    try {
      const records = Array.from({ length: 30 }, (_, i) =>
        record(`f${i}.md`, 0, `text number ${i} ${"word ".repeat(i)}`, i % 3 ? A : "/docs/b"),
      );
      await store.upsert(records);
      const vector = hashEmbedding("text number 7 word word", 16);
      for (const collection of [undefined, A]) {
        const narrow = await store.search({ vector, k: 10, mode: "vector", collection });
        const wide = await store.search({ vector, k: 5000, mode: "vector", collection });
        expect(wide).toHaveLength(collection === undefined ? 30 : 20);
        expect(wide.slice(0, 10).map((h) => h.id)).toEqual(narrow.map((h) => h.id));
        const scores = wide.map((h) => h.score);
        expect(scores).toEqual([...scores].sort((x, y) => y - x));
        expect(wide.every((h) => collection === undefined || h.collection === collection)).toBe(
          true,
        );
      }
    } finally {
      await store.close();
    }
  });

  it("waits for the writer lock when asked to", async () => {
    const path = join(dir, "wait.db");
    const first = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    const timer = setTimeout(() => void first.close(), 200);
    try {
      const second = await openSqliteStore({
        path,
        access: { mode: "write", identity: IDENTITY },
        lockWaitMs: 10_000,
      });
      await second.close();
    } finally {
      clearTimeout(timer);
      await first.close();
    }
  });

  it("lets a reader in another process see what a writer has committed, mid-run", async () => {
    const path = join(dir, "live.db");
    const writer = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    const readScript = `
      import { openSqliteStore } from ${JSON.stringify(SQLITE_MODULE)};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "read" } });
      const stats = await store.stats();
      const hits = await store.search({ text: "committed", k: 5, mode: "lexical" });
      await store.close();
      process.stdout.write(JSON.stringify({ chunks: stats.chunks, files: stats.files, hits: hits.map((h) => h.path) }));
    `;
    try {
      const a = record("a.md", 0, "committed before the reader came");
      await writer.upsert([a]);
      await writer.commitFile(A, "a.md", "h", [a.id]);
      const first = await runChild(readScript);
      expect(first.stderr).toBe("");
      expect(JSON.parse(first.stdout)).toEqual({ chunks: 1, files: 1, hits: ["a.md"] });
      const b = record("b.md", 0, "committed after the reader left");
      await writer.upsert([b]);
      await writer.commitFile(A, "b.md", "h", [b.id]);
      const second = await runChild(readScript);
      expect(JSON.parse(second.stdout)).toEqual({ chunks: 2, files: 2, hits: ["a.md", "b.md"] });
      // The writer is unharmed by the readers.
      const c = record("c.md", 0, "third");
      await writer.upsert([c]);
      await writer.commitFile(A, "c.md", "h", [c.id]);
    } finally {
      await writer.close();
    }
    const reader = await openSqliteStore({ path, access: { mode: "read" } });
    try {
      expect((await reader.stats()).files).toBe(3);
    } finally {
      await reader.close();
    }
  }, 30_000);

  it("is searchable by another user from a read-only folder", async () => {
    const nobody = await nobodysCopy();
    const folder = join(dir, "readonly");
    const path = join(folder, "store.db");
    const store = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    const rec = record("a.md", 0, "shared read only knowledge");
    await store.upsert([rec]);
    await store.commitFile(A, "a.md", "h", [rec.id]);
    await store.close();
    await chmod(path, 0o444);
    await chmod(folder, 0o555);
    const before = await readFile(path);
    const script = `
      import { openSqliteStore } from ${JSON.stringify(nobody.url(SQLITE_MODULE))};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "read" } });
      const hits = await store.search({ vector: ${JSON.stringify(hashEmbedding("knowledge", 16))}, text: "knowledge", k: 3 });
      await store.close();
      process.stdout.write(JSON.stringify(hits.map((h) => h.path)));
    `;
    try {
      // Tests run as root, which ignores permission bits: run the reader as "nobody".
      const result = await runChild(script, nobody);
      expect(result.stderr).toBe("");
      expect(JSON.parse(result.stdout)).toEqual(["a.md"]);
      // And the writer is refused by the folder, with a typed error rather than a crash.
      const writeScript = `
        import { openSqliteStore } from ${JSON.stringify(nobody.url(SQLITE_MODULE))};
        try {
          await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "write", identity: ${JSON.stringify(IDENTITY)} } });
          process.stdout.write("opened");
        } catch (error) { process.stdout.write(error.code + ": " + error.message); }
      `;
      const write = await runChild(writeScript, nobody);
      expect(write.stdout).toBe(
        `unavailable: cannot write store ${path}: no permission to write there (search and stats can still read it)`,
      );
    } finally {
      await chmod(folder, 0o755);
      await chmod(path, 0o644);
    }
    expect(await readFile(path)).toEqual(before);
  }, 30_000);

  it("survives a killed writer: readers still read, the next writer takes over the lock", async () => {
    const nobody = await nobodysCopy();
    const folder = join(dir, "killed");
    const path = join(folder, "store.db");
    const script = `
      import { openSqliteStore } from ${JSON.stringify(SQLITE_MODULE)};
      import { hashEmbedding } from ${JSON.stringify(new URL("../embedders/hash.ts", import.meta.url).href)};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "write", identity: ${JSON.stringify(IDENTITY)} } });
      const text = "written before the crash";
      const rec = { id: "r1", collection: ${JSON.stringify(A)}, path: "a.md", ordinal: 0, text, startLine: 1, endLine: 1, metadata: {}, vector: hashEmbedding(text, 16) };
      await store.upsert([rec]);
      await store.commitFile(${JSON.stringify(A)}, "a.md", "h", ["r1"]);
      process.stdout.write("written\\n");
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ["--import", TSX, "--input-type=module", "-e", script], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        child.stdout.once("data", () => resolve());
        child.once("error", reject);
        child.once("exit", (code) => reject(new Error(`writer exited early with ${code}`)));
      });
    } finally {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    }
    // Killed mid-run: WAL files and the lock file are left behind.
    await stat(`${path}-wal`);
    await stat(`${path}.lock`);
    await chmod(folder, 0o555);
    const readScript = `
      import { openSqliteStore } from ${JSON.stringify(nobody.url(SQLITE_MODULE))};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "read" } });
      const hits = await store.search({ text: "crash", k: 3, mode: "lexical" });
      await store.close();
      process.stdout.write(JSON.stringify(hits.map((h) => h.id)));
    `;
    try {
      const read = await runChild(readScript, nobody);
      expect(read.stderr).toBe("");
      expect(JSON.parse(read.stdout)).toEqual(["r1"]);
    } finally {
      await chmod(folder, 0o755);
    }
    const writer = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    try {
      expect(await writer.fileHashes(A)).toEqual(new Map([["a.md", "h"]]));
    } finally {
      await writer.close();
    }
    await expect(stat(`${path}-wal`)).rejects.toMatchObject({ code: "ENOENT" });
    await expect(stat(`${path}.lock`)).rejects.toMatchObject({ code: "ENOENT" });
  }, 30_000);
});
