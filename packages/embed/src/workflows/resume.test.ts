import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { storeContents } from "../testing/store-contents.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { crashTestConfig, createFaultyEmbedder } from "../testing/test-embedders.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
// One process (node with tsx's loader), not the tsx CLI, which would run the script in a child
// that a SIGKILL of the CLI leaves running.
const tsxLoader = pathToFileURL(join(repo, "node_modules/tsx/dist/loader.mjs")).href;
const script = fileURLToPath(new URL("../testing/slow-run.ts", import.meta.url));
const FILES = 14;
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-resume-"));
  await generateCorpus(join(root, "docs"), { files: FILES, seed: 5 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** Runs the slowed child and SIGKILLs it once `killAfter` chunks are stored. */
function runAndKill(store: string, mode: string, killAfter: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--import", tsxLoader, script, join(root, "docs"), store, "40", mode],
      {
        cwd: root,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, TSX_TSCONFIG_PATH: join(repo, "tsconfig.json") },
      },
    );
    let seen = 0;
    let out = "";
    let err = "";
    child.stderr.on("data", (d) => {
      err += d;
    });
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      for (const m of out.matchAll(/embedded (\d+)/g)) seen = Math.max(seen, Number(m[1]));
      if (seen >= killAfter && child.exitCode === null) child.kill("SIGKILL");
    });
    child.on("error", reject);
    child.on("close", (code, signal) => {
      if (signal === "SIGKILL") resolve(seen);
      else
        reject(new Error(`child ended before the kill (code ${code}): ${out.slice(-300)} ${err}`));
    });
  });
}

describe("a run killed with SIGKILL resumes to exactly a clean run's store", () => {
  it("JSONL store, streaming then batch resume", async () => {
    const store = join(root, "killed.jsonl");
    const stored = await runAndKill(store, "streaming", 8);
    expect(stored).toBeGreaterThanOrEqual(8);
    const partial = await dumpJsonlStore(store);
    expect(Object.keys(partial.files).length).toBeLessThan(FILES);

    const resumed = await embedDocuments(crashTestConfig("docs", store), {
      cwd: root,
      embedder: createFaultyEmbedder(),
    });
    expect(resumed.failed).toBe(0);
    expect(resumed.unchanged).toBe(Object.keys(partial.files).length);
    await embedDocumentsStreaming(crashTestConfig("docs", "clean.jsonl"), {
      cwd: root,
      embedder: createFaultyEmbedder(),
    });
    const clean = await dumpJsonlStore(join(root, "clean.jsonl"));
    const after = await dumpJsonlStore(store);
    expect(new Set(after.chunks.map((c) => c.id)).size).toBe(after.chunks.length);
    expect(after).toEqual(clean);
  }, 60_000);

  it("SQLite store (the default), whose killed writer left a stale lock", async () => {
    const store = join(root, "killed.db");
    await runAndKill(store, "streaming", 8);
    const resumed = await embedDocumentsStreaming(crashTestConfig("docs", store), {
      cwd: root,
      embedder: createFaultyEmbedder(),
    });
    // The kill came mid-run: some files were committed, the rest is embedded now.
    expect(resumed.unchanged).toBeLessThan(FILES);
    expect(resumed.committed).toBeGreaterThan(0);
    expect(resumed.failed).toBe(0);
    const reference = join(root, "reference.db");
    await embedDocuments(crashTestConfig("docs", reference), {
      cwd: root,
      embedder: createFaultyEmbedder(),
    });
    expect(await storeContents(store)).toEqual(await storeContents(reference));
  }, 150_000);
});
