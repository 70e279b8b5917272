import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

// A module hook in the child that makes any import of the `openai` package fail, loudly.
const hooks = `export async function resolve(specifier, context, next) {
  if (specifier === "openai") throw new Error("the openai package was imported");
  return next(specifier, context);
}`;
const registerHooks = `import { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
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
