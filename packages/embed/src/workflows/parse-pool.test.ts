import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { corpusDocument, generateCorpus } from "../corpus/generate.ts";
import { cleanMarkdown } from "../steps/clean.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";
import { defaultParseThreads, ParseError, ParsePool, parsePoolFor } from "./parse-pool.ts";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const poolModule = pathToFileURL(fileURLToPath(new URL("./parse-pool.ts", import.meta.url))).href;
// micromark's super-linear case: minutes on the main thread.
const EMPHASIS = "*a_".repeat(33_000);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-parse-pool-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

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

function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof ParseError ? error.code : `other: ${error}`),
  );
}

describe("ParsePool", () => {
  it("gives the blocks cleanMarkdown gives, options included", async () => {
    const pool = new ParsePool({ threads: 2 });
    try {
      const docs = [1, 2, 3, 4].map((i) => corpusDocument(i, 9).content);
      const options = { lineOffset: 3, removeSections: ["Notes"] };
      const blocks = await Promise.all(docs.map((d) => pool.clean(d, options)));
      expect(blocks).toEqual(docs.map((d) => cleanMarkdown(d, options).blocks));
      expect(blocks[0]?.length).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("starts one worker ahead of the first file when warmed up, and parses with it", async () => {
    const pool = new ParsePool({ threads: 2 });
    try {
      expect(pool.workers).toBe(0);
      pool.warmUp();
      pool.warmUp();
      expect(pool.workers).toBe(1);
      const doc = corpusDocument(5, 9).content;
      expect(await pool.clean(doc)).toEqual(cleanMarkdown(doc).blocks);
      expect(pool.workers).toBe(1);
    } finally {
      await pool.close();
    }
    pool.warmUp();
    expect(pool.workers).toBe(0);
  }, 60_000);

  it("serves both workflows when the caller passes it, and stays the caller's to close", async () => {
    const root = join(dir, "given-pool");
    await generateCorpus(join(root, "docs"), { files: 3, seed: 4 });
    const pool = new ParsePool({ threads: 1 });
    try {
      pool.warmUp();
      for (const [name, run] of [
        ["streaming", embedDocumentsStreaming],
        ["batch", embedDocuments],
      ] as const) {
        const summary = await run(
          { root: "docs", embedder: { dimensions: 16 }, store: { location: `${name}.jsonl` } },
          { cwd: root, parsePool: pool },
        );
        expect(summary.committed, name).toBe(3);
        // Still open after the run: the same worker parses on.
        expect(pool.workers, name).toBe(1);
        expect(await pool.clean("# Still\n\nopen.")).toEqual(
          cleanMarkdown("# Still\n\nopen.").blocks,
        );
      }
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("stops a file past its deadline with PARSE_TIMEOUT, never stalls the loop, and goes on", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 1_500 });
    try {
      const { result, stallMs } = await longestStall(() =>
        Promise.all([codeOf(pool.clean(EMPHASIS)), pool.clean("# After\n\nStill parsed.\n")]),
      );
      expect(result[0]).toBe("PARSE_TIMEOUT");
      // A fresh worker took the next file.
      expect(result[1].map((b) => b.text)).toEqual(["After", "Still parsed."]);
      // Parsed here, that file would hold the loop for minutes; generous for a loaded machine.
      expect(stallMs).toBeLessThan(500);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("skips a file that outgrows the worker's heap with PARSE_TOO_LARGE", async () => {
    const pool = new ParsePool({ threads: 1, timeoutMs: 120_000, maxHeapMb: 64 });
    try {
      expect(await codeOf(pool.clean("\n".repeat(1_000_000)))).toBe("PARSE_TOO_LARGE");
      expect((await pool.clean("fine")).map((b) => b.text)).toEqual(["fine"]);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it("rejects everything pending at once with the signal's reason when aborted", async () => {
    const controller = new AbortController();
    const pool = new ParsePool({ threads: 1, timeoutMs: 120_000, signal: controller.signal });
    try {
      await pool.clean("warm up");
      const running = pool.clean(EMPHASIS);
      const queued = pool.clean("# queued");
      await new Promise((r) => setTimeout(r, 200));
      const reason = new Error("stop");
      const abortedAt = performance.now();
      controller.abort(reason);
      await expect(running).rejects.toBe(reason);
      await expect(queued).rejects.toBe(reason);
      expect(performance.now() - abortedAt).toBeLessThan(500);
      await expect(pool.clean("later")).rejects.toBe(reason);
    } finally {
      await pool.close();
    }
  }, 60_000);

  it("rejects what waits with PARSE_POOL_CLOSED when closed", async () => {
    const pool = new ParsePool({ threads: 1 });
    const pending = codeOf(pool.clean(EMPHASIS));
    await pool.close();
    expect(await pending).toBe("PARSE_POOL_CLOSED");
    expect(await codeOf(pool.clean("x"))).toBe("PARSE_POOL_CLOSED");
  }, 60_000);

  it("takes its threads, deadline and heap limit from the config", async () => {
    const defaults = parsePoolFor(parseEmbedConfig({}));
    expect([defaults.threads, defaults.timeoutMs, defaults.maxHeapMb]).toEqual([
      defaultParseThreads(),
      10_000,
      512,
    ]);
    const set = parsePoolFor(
      parseEmbedConfig({ parseThreads: 3, parseTimeoutMs: 500, parseHeapMb: 64 }),
    );
    expect([set.threads, set.timeoutMs, set.maxHeapMb]).toEqual([3, 500, 64]);
    expect(() => parseEmbedConfig({ parseThreads: 0 })).toThrow(/parseThreads/);
    await Promise.all([defaults.close(), set.close()]);
  });

  it("rejects bad options with a RangeError naming the option", () => {
    expect(() => new ParsePool({ threads: 0 })).toThrow(/threads must be a positive integer/);
    expect(() => new ParsePool({ timeoutMs: 1.5 })).toThrow(/timeoutMs/);
  });

  it("works under npx tsx, and neither an idle nor a closed pool keeps the process alive", async () => {
    const script = join(dir, "use-pool.mts");
    await writeFile(
      script,
      [
        `import { ParsePool } from ${JSON.stringify(poolModule)};`,
        "const closed = new ParsePool({ threads: 1 });",
        'console.log(JSON.stringify(await closed.clean("# One")));',
        "await closed.close();",
        // Left open on purpose: its idle worker must not hold the process.
        "const idle = new ParsePool({ threads: 1 });",
        'console.log(JSON.stringify(await idle.clean("# Two")));',
      ].join("\n"),
    );
    const started = performance.now();
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const child = spawn("npx", ["tsx", script], { cwd: repo, stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      const kill = setTimeout(() => child.kill("SIGKILL"), 50_000);
      child.on("error", reject);
      child.on("close", (c) => {
        clearTimeout(kill);
        resolve({ code: c, stdout: out, stderr: err });
      });
    });
    expect(code, stderr).toBe(0);
    expect(
      stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l)[0].text),
    ).toEqual(["One", "Two"]);
    // It exited by itself, well before the 50 s kill.
    expect(performance.now() - started).toBeLessThan(45_000);
  }, 60_000);
});
