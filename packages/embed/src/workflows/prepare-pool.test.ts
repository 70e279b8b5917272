import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ThreadPoolError, threadPool } from "sluice/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { generateCorpus } from "../corpus/generate.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";
import { type PrepareRequest, prepareFile } from "./prepare-file.ts";
import {
  bundledPrepareModule,
  defaultThreads,
  type PreparePool,
  prepareConcurrency,
  preparePoolFor,
} from "./prepare-pool.ts";

let dir: string;
let files: string[];
const config = parseEmbedConfig({});
const settings: PrepareRequest["settings"] = {
  collection: "c",
  fingerprint: "f",
  maxFileBytes: 8 * 1024 * 1024,
  frontmatter: true,
  removeSections: ["Notes"],
  split: config.split,
};
const request = (relativePath: string, storedHash?: string): PrepareRequest => ({
  absolutePath: join(dir, relativePath),
  relativePath,
  storedHash,
  settings,
});

/** The pool of `config`, which has threads. */
function poolOf(config: Parameters<typeof preparePoolFor>[0]): PreparePool {
  const pool = preparePoolFor(config);
  if (pool === undefined) throw new Error("expected a pool");
  return pool;
}

/** Largest gap between ticks of a 5 ms interval while `work` runs: how long the loop was held. */
async function longestStall<T>(work: () => Promise<T>): Promise<{ result: T; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  try {
    return { result: await work(), stallMs };
  } finally {
    clearInterval(timer);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-prepare-pool-"));
  await generateCorpus(join(dir, "docs"), { files: 6, seed: 9 });
  files = [0, 1, 2, 3, 4, 5].map((i) => `docs/part-0/group-00/doc-00000${i}.md`);
  // markdown-it's slowest input found: a table of many rows, seconds for a few MB.
  await writeFile(join(dir, "table.md"), `|a|b|\n|-|-|\n${"|x|y|\n".repeat(600_000)}`);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the prepare pool", () => {
  it("prepares a file in a worker exactly as on this thread", async () => {
    const pool = poolOf({ threads: 2, parseTimeoutMs: 60_000, parseHeapMb: 512 });
    try {
      const inWorkers = await Promise.all(files.map((f) => pool.run(request(f))));
      const here = await Promise.all(files.map((f) => prepareFile(request(f))));
      expect(inWorkers).toEqual(here);
      expect(inWorkers.every((o) => o.type === "chunks" && o.items.length > 0)).toBe(true);
      // The stored version is this one: no parse, nothing to embed.
      const first = here[0];
      if (first?.type !== "chunks") throw new Error("expected chunks");
      expect(await pool.run(request(files[0] as string, first.versionHash))).toEqual({
        type: "unchanged",
      });
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("loads workers from a plain-JavaScript bundle of prepare-file.ts, with no TypeScript loader", async () => {
    const bundled = bundledPrepareModule();
    expect(bundled).toMatch(/^data:text\/javascript;base64,/);
    const text = Buffer.from((bundled as string).split(",")[1] as string, "base64").toString();
    // Its package imports are absolute, so the module resolves them from anywhere.
    expect(text).toContain('from "file://');
    expect(text).not.toMatch(/from "(markdown-it|yaml|gpt-tokenizer)/);
    // Run without any preload: the bundle gives what the TypeScript module gives.
    const pool = threadPool<typeof prepareFile>(bundled as string, "prepareFile", { threads: 1 });
    try {
      const file = files[2] as string;
      expect(await pool.run(request(file))).toEqual(prepareFile(request(file)));
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("imports only the packages preparing a file needs (each one costs a worker's start-up)", () => {
    const text = Buffer.from(
      (bundledPrepareModule() as string).split(",")[1] as string,
      "base64",
    ).toString();
    const packages = new Set(
      [
        ...text.matchAll(
          /^import\s[^;]*?"file:\/\/[^"]*\/node_modules\/((?:@[^/"]+\/)?[^/"]+)\//gm,
        ),
      ].map((m) => m[1]),
    );
    expect([...packages].sort()).toEqual([
      "gpt-tokenizer",
      "markdown-it",
      "markdown-it-footnote",
      "yaml",
    ]);
  });

  it("sends a busy worker eight files ahead, and the stage keeps that many in preparation", async () => {
    const pool = poolOf({ threads: 1, parseTimeoutMs: 60_000, parseHeapMb: 512 });
    try {
      const runs = Array.from({ length: 24 }, (_, i) => pool.run(request(files[i % 6] as string)));
      await runs[0];
      // One running and eight ahead have left the queue, however many were done by now (with
      // one ahead, 21 or more would still wait here).
      expect(pool.queued).toBeLessThanOrEqual(24 - 1 - 9);
      await Promise.all(runs);
      expect(prepareConcurrency({ concurrency: 4 }, pool)).toBe(9);
      expect(prepareConcurrency({ concurrency: 32 }, pool)).toBe(32);
      expect(prepareConcurrency({ concurrency: 4 }, undefined)).toBe(4);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("reports a missing file as a failed read, not a thrown error", async () => {
    expect(await prepareFile(request("gone.md"))).toMatchObject({
      type: "problem",
      stage: "read",
      code: "UNREADABLE",
      kind: "failed",
    });
  });

  it("stops a file past its deadline with THREAD_TIMEOUT, never stalls the loop, and goes on", async () => {
    const pool = poolOf({ threads: 1, parseTimeoutMs: 1_500, parseHeapMb: 4096 });
    try {
      const { result, stallMs } = await longestStall(() =>
        Promise.all([
          pool.run(request("table.md")).then(
            () => "resolved",
            (e: unknown) => (e instanceof ThreadPoolError ? e.code : String(e)),
          ),
          pool.run(request(files[0] as string)),
        ]),
      );
      expect(result[0]).toBe("THREAD_TIMEOUT");
      // A fresh worker took the next file.
      expect(result[1]).toMatchObject({ type: "chunks" });
      // Parsed on this thread, that file would hold the loop for seconds.
      expect(stallMs).toBeLessThan(500);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("takes its threads, deadline and heap limit from the config", () => {
    expect(config.threads).toBe(defaultThreads());
    expect(defaultThreads()).toBeGreaterThanOrEqual(1);
    const pool = poolOf(parseEmbedConfig({ threads: 3 }));
    expect(pool.threads).toBe(3);
    expect(preparePoolFor(parseEmbedConfig({ threads: 0 }))).toBeUndefined();
    expect(() => parseEmbedConfig({ threads: -1 })).toThrow(/threads/);
    return pool.close();
  });

  it("serves both workflows when the caller passes it, and stays the caller's to close", async () => {
    const root = join(dir, "given-pool");
    await generateCorpus(join(root, "docs"), { files: 3, seed: 4 });
    const pool = poolOf({ threads: 1, parseTimeoutMs: 60_000, parseHeapMb: 512 });
    try {
      for (const [name, run] of [
        ["streaming", embedDocumentsStreaming],
        ["batch", embedDocuments],
      ] as const) {
        const summary = await run(
          { root: "docs", embedder: { dimensions: 16 }, store: { location: `${name}.jsonl` } },
          { cwd: root, pool },
        );
        expect(summary.committed, name).toBe(3);
        // Still open after the run: its worker prepares on.
        expect(pool.workers, name).toBe(1);
        expect(await pool.run(request(files[1] as string))).toMatchObject({ type: "chunks" });
      }
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("ends the run with one error when its workers cannot start", async () => {
    const root = join(dir, "broken-pool");
    await generateCorpus(join(root, "docs"), { files: 5, seed: 4 });
    for (const run of [embedDocumentsStreaming, embedDocuments]) {
      const pool = threadPool<typeof prepareFile>(join(dir, "missing-module.mjs"), "prepareFile");
      try {
        const error = await run(
          { root: "docs", embedder: { dimensions: 16 }, store: { location: "s.jsonl" } },
          { cwd: root, pool },
        ).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(ThreadPoolError);
        expect((error as ThreadPoolError).code).toBe("THREAD_START_FAILED");
      } finally {
        await pool.close();
      }
    }
  }, 60_000);

  it("prepares on the main thread with threads: 0, into the same store", async () => {
    const root = join(dir, "no-threads");
    await generateCorpus(join(root, "docs"), { files: 4, seed: 8 });
    const dumps = [];
    for (const threads of [0, 1]) {
      const summary = await embedDocumentsStreaming(
        {
          root: "docs",
          threads,
          embedder: { dimensions: 16 },
          store: { location: `t${threads}.jsonl` },
        },
        { cwd: root },
      );
      expect(summary.committed, `threads ${threads}`).toBe(4);
      dumps.push(await dumpJsonlStore(join(root, `t${threads}.jsonl`)));
    }
    expect(dumps[0]?.chunks.length).toBeGreaterThan(0);
    expect(dumps[0]).toEqual(dumps[1]);
  }, 60_000);
});
