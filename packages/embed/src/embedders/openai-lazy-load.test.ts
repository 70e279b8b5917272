import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
const repo = fileURLToPath(new URL("../../../../", import.meta.url));

// Hooks in the child that make any load of the `openai` package fail, loudly: an ES module
// resolve hook for `import`, and CommonJS resolution (what `require` goes through) for require.
const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === "openai") throw new Error("the openai package was imported");
  return next(specifier, context);
}`;
const registerHooks = `import Module, { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});
const resolveFilename = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "openai") throw new Error("the openai package was imported");
  return resolveFilename.call(this, request, ...rest);
};`;
const NO_OPENAI = `data:text/javascript,${encodeURIComponent(registerHooks)}`;

interface Run {
  readonly code: number;
  readonly stdout: string;
}

function sluiceWithoutOpenAI(args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--import", NO_OPENAI, bin, ...args],
      { cwd, env: { ...process.env, OPENAI_API_KEY: "unused" } },
      (error, stdout) => resolve({ code: error ? Number(error.code) : 0, stdout }),
    );
  });
}

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-openai-lazy-"));
  await writeFile(join(dir, "a.md"), "# Notes\n\nPull-based pipelines keep memory bounded.\n");
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("the openai client library loads only for the openai embedder", () => {
  it("a hash-embedder run never imports it; an openai run does, on its first request", async () => {
    const hash = await sluiceWithoutOpenAI(
      ["embed", ".", "--store", "hash.jsonl", "--json", "--quiet"],
      dir,
    );
    expect(hash.code).toBe(0);
    expect(JSON.parse(hash.stdout)).toMatchObject({ files: 1, embedded: 1, failed: 0 });

    // The same hook fails the openai embedder's first request: it does guard the import.
    const openai = await sluiceWithoutOpenAI(
      [
        "embed",
        ".",
        "--store",
        "openai.jsonl",
        "--embedder",
        "openai",
        "--endpoint",
        "http://127.0.0.1:9/v1",
        "--model",
        "m",
        "--dimensions",
        "8",
        "--json",
        "--quiet",
      ],
      dir,
    );
    expect(openai.code).toBe(1);
    const summary = JSON.parse(openai.stdout) as { errors: { message: string }[] };
    expect(summary.errors.map((e) => e.message).join("\n")).toContain(
      "the openai package was imported",
    );
  }, 60_000);
});

describe("an openai embedder gets ready before its first request", () => {
  it("loads Node's fetch implementation with the client, while the first files are prepared", async () => {
    // A fresh process: Node loads fetch (undici) on first use, ~35 ms of this thread that
    // would otherwise delay the first request. Nothing is sent: the endpoint has no server.
    const script = `
      import { createOpenAIEmbedder } from ${JSON.stringify(pathToFileURL(join(repo, "packages/embed/src/embedders/openai.ts")).href)};
      const loaded = () => process.moduleLoadList.some((m) => m.endsWith("internal/deps/undici/undici"));
      const before = loaded();
      createOpenAIEmbedder({ baseUrl: "http://127.0.0.1:9/v1", apiKey: "k", model: "m", dimensions: 8 });
      const deadline = Date.now() + 10_000;
      while (!loaded() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      console.log(JSON.stringify({ before, after: loaded() }));
    `;
    const out = await new Promise<string>((resolve, reject) => {
      execFile(
        process.execPath,
        [
          "--import",
          pathToFileURL(join(repo, "node_modules/tsx/dist/loader.mjs")).href,
          "--input-type=module",
          "-e",
          script,
        ],
        { env: { ...process.env, TSX_TSCONFIG_PATH: join(repo, "tsconfig.json") } },
        (error, stdout, stderr) =>
          error ? reject(new Error(stderr || String(error))) : resolve(stdout),
      );
    });
    expect(JSON.parse(out)).toEqual({ before: false, after: true });
  }, 60_000);
});
