import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { openVectorStore, readStoreIdentity } from "./open.ts";
import type { StoreIdentity } from "./vector-store.ts";

const IDENTITY: StoreIdentity = {
  embedderId: "hash-v1:4",
  dimensions: 4,
  embedder: { kind: "hash", dimensions: 4 },
};
const TSX = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const OPEN_MODULE = new URL("./open.ts", import.meta.url).href;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-open-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("openVectorStore", () => {
  it("opens the default store, an SQLite file, and reads its identity back", async () => {
    const config = parseEmbedConfig({}, { cwd: dir });
    expect(config.store.kind).toBe("sqlite");
    expect(await readStoreIdentity(config.store)).toBeUndefined();
    expect(await readdir(dir)).toEqual([]); // reading the identity created nothing
    const store = await openVectorStore(config.store, { mode: "write", identity: IDENTITY });
    expect(store.kind).toBe("sqlite");
    await store.close();
    expect(await readdir(join(dir, ".sluice"))).toEqual(["store.db"]);
    expect(await readStoreIdentity(config.store)).toEqual(IDENTITY);
    const reader = await openVectorStore(config.store, { mode: "read" });
    expect(reader.readOnly).toBe(true);
    expect(reader.identity).toEqual(IDENTITY);
    await reader.close();
  });

  it("opens the JSONL store a config names, and reads its identity back", async () => {
    const config = parseEmbedConfig({ store: { location: "out/v.jsonl" } }, { cwd: dir });
    expect(await readStoreIdentity(config.store)).toBeUndefined();
    const store = await openVectorStore(config.store, { mode: "write", identity: IDENTITY });
    expect(store.kind).toBe("jsonl");
    await store.close();
    expect(await readFile(join(dir, "out", "v.jsonl"), "utf8")).toContain('"type":"meta"');
    expect(await readStoreIdentity(config.store)).toEqual(IDENTITY);
  });

  it("refuses to read a store that does not exist, naming it", async () => {
    const config = parseEmbedConfig({ store: { location: "nowhere/s.db" } }, { cwd: dir });
    const error = await openVectorStore(config.store, { mode: "read" }).catch((e) => e);
    expect(error).toMatchObject({ code: "not-found" });
    expect(error.message).toContain(join(dir, "nowhere", "s.db"));
  });

  it("goes to Postgres for a postgres:// URL", async () => {
    const config = parseEmbedConfig({ store: { location: "postgres://u@127.0.0.1:1/db" } });
    await expect(
      openVectorStore(config.store, { mode: "write", identity: IDENTITY }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });

  it("never loads PGlite or the Postgres driver for the default store", async () => {
    // A resolve hook reports every module the child resolves; the child opens, writes, searches.
    const hooks = `export async function resolve(specifier, context, next) {
      const result = await next(specifier, context);
      console.log("RESOLVED " + result.url);
      return result;
    }`;
    const path = join(dir, "light", "store.db");
    const script = `
      import { register } from "node:module";
      register("data:text/javascript,${encodeURIComponent(hooks)}");
      const { openVectorStore } = await import(${JSON.stringify(OPEN_MODULE)});
      const store = await openVectorStore({ kind: "sqlite", location: ${JSON.stringify(path)} },
        { mode: "write", identity: ${JSON.stringify(IDENTITY)} });
      await store.search({ text: "anything", k: 1, mode: "lexical" });
      await store.close();
      console.log("DONE");
    `;
    const output = await new Promise<string>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["--import", TSX, "--input-type=module", "-e", script],
        {
          stdio: ["ignore", "pipe", "inherit"],
        },
      );
      let stdout = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.on("error", reject);
      child.on("close", () => resolve(stdout));
    });
    expect(output).toContain("DONE");
    const resolved = output.split("\n").filter((line) => line.startsWith("RESOLVED "));
    expect(resolved.some((line) => line.includes("/stores/sqlite.ts"))).toBe(true);
    expect(
      resolved.filter((line) => /pglite|\/node_modules\/pg\/|\/stores\/sql\.ts/.test(line)),
    ).toEqual([]);
  }, 30_000);
});
