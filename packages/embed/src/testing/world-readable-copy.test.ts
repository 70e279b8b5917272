import { execFile } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { hashEmbedding } from "../embedders/hash.ts";
import { openSqliteStore } from "../stores/sqlite.ts";
import { type WorldReadableCopy, worldReadableCopy } from "./world-readable-copy.ts";

const SQLITE_MODULE = new URL("../stores/sqlite.ts", import.meta.url);
const TSX = createRequire(import.meta.url).resolve("tsx");
const IDENTITY = {
  embedderId: "hash-v1:16",
  dimensions: 16,
  embedder: { kind: "hash", dimensions: 16 },
} as const;

let copy: WorldReadableCopy;
let data: string;
beforeAll(async () => {
  // A restrictive umask, as a user's may be: the copy must be readable by others all the same.
  const umask = process.umask(0o077);
  try {
    copy = await worldReadableCopy({ entries: [SQLITE_MODULE] });
  } finally {
    process.umask(umask);
  }
  data = await mkdtemp(join(tmpdir(), "sluice-readable-data-"));
  await chmod(data, 0o755);
}, 60_000);
afterAll(async () => {
  await copy?.remove();
  await rm(data, { recursive: true, force: true });
});

/** Every folder and file under `folder`, with its mode. */
async function modes(folder: string): Promise<[string, number, boolean][]> {
  const out: [string, number, boolean][] = [];
  for (const name of await readdir(folder)) {
    const path = join(folder, name);
    const info = await stat(path);
    out.push([path, info.mode & 0o777, info.isDirectory()]);
    if (info.isDirectory()) out.push(...(await modes(path)));
  }
  return out;
}

describe("worldReadableCopy", () => {
  it("lays the files out as in the repository, every one readable by others", async () => {
    expect((await stat(copy.path(SQLITE_MODULE))).isFile()).toBe(true);
    expect((await stat(copy.path(TSX))).isFile()).toBe(true);
    expect(copy.url(SQLITE_MODULE)).toBe(`file://${copy.path(SQLITE_MODULE)}`);
    const all = await modes(copy.root);
    expect(all.length).toBeGreaterThan(100);
    // The native parts an import scan cannot see: the addon better-sqlite3 finds through
    // `bindings`, and sqlite-vec's platform package.
    expect(all.some(([path]) => path.endsWith("better_sqlite3.node"))).toBe(true);
    expect(
      all.some(([path]) => /node_modules[\\/]sqlite-vec-[^\\/]+[\\/]package\.json$/.test(path)),
    ).toBe(true);
    expect((await stat(copy.root)).mode & 0o777).toBe(0o755);
    for (const [path, mode, isFolder] of all) {
      expect(mode & (isFolder ? 0o005 : 0o004), path).toBe(isFolder ? 0o005 : 0o004);
    }
  });

  it("runs TypeScript with a native addon for a user who cannot read the repository", async () => {
    const path = join(data, "store.db");
    const store = await openSqliteStore({ path, access: { mode: "write", identity: IDENTITY } });
    const rec = {
      id: "r1",
      collection: "/docs",
      path: "a.md",
      ordinal: 0,
      text: "a copied runtime",
      startLine: 1,
      endLine: 1,
      metadata: {},
      vector: hashEmbedding("a copied runtime", 16),
    };
    await store.upsert([rec]);
    await store.commitFile("/docs", "a.md", "h", ["r1"]);
    await store.close();
    const script = `
      import { openSqliteStore } from ${JSON.stringify(copy.url(SQLITE_MODULE))};
      const store = await openSqliteStore({ path: ${JSON.stringify(path)}, access: { mode: "read" } });
      const hits = await store.search({ vector: ${JSON.stringify(hashEmbedding("runtime", 16))}, k: 1, mode: "vector" });
      await store.close();
      process.stdout.write(JSON.stringify({ hits: hits.map((h) => h.id), module: import.meta.resolve(${JSON.stringify(copy.url(SQLITE_MODULE))}) }));
    `;
    // As `nobody` when the tests run as root (root reads anything); as the same user otherwise.
    const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
    const { stdout, stderr } = await promisify(execFile)(
      process.execPath,
      ["--import", copy.url(TSX), "--input-type=module", "-e", script],
      { cwd: copy.root, env: copy.env, timeout: 60_000, ...asNobody },
    );
    expect(stderr).toBe("");
    expect(JSON.parse(stdout)).toEqual({ hits: ["r1"], module: copy.url(SQLITE_MODULE) });
  }, 60_000);

  it("maps only files of the repository", () => {
    expect(() => copy.path("/etc/passwd")).toThrow(/not in the repository/);
    expect(() => copy.url(new URL("file:///etc/passwd"))).toThrow(/not in the repository/);
  });

  it("refuses, leaving nothing, where others cannot pass through the temporary folder", async () => {
    const locked = await mkdtemp(join(tmpdir(), "sluice-readable-locked-"));
    const before = process.env.TMPDIR;
    process.env.TMPDIR = locked;
    try {
      const error = await worldReadableCopy({ entries: [SQLITE_MODULE] }).catch((e: Error) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toMatch(/other users cannot pass through .*TMPDIR/);
      expect(await readdir(locked)).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
      await rm(locked, { recursive: true, force: true });
    }
  });

  it("removes the copy, idempotently", async () => {
    const other = await worldReadableCopy({ entries: [SQLITE_MODULE] });
    await other.remove();
    await expect(stat(other.root)).rejects.toMatchObject({ code: "ENOENT" });
    await other.remove();
  }, 60_000);
});
