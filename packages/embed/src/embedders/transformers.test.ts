import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { type TinyBertModel, writeTinyBertModel } from "../testing/tiny-bert-model.ts";
import { createEmbedder } from "./create.ts";
import { EmbedderConfigError } from "./openai.ts";
import { createTransformersEmbedder } from "./transformers.ts";

let dir: string;
let model: TinyBertModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-transformers-"));
  model = await writeTinyBertModel(join(dir, "tiny-bert"), 16);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** What mean pooling and L2 normalization give for these tokens, computed here on its own. */
function expectedVector(tokens: readonly string[]): number[] {
  const sum = new Array<number>(model.dimensions).fill(0);
  for (const token of tokens) {
    model.rowOf(token).forEach((x, i) => {
      sum[i] = (sum[i] ?? 0) + x / tokens.length;
    });
  }
  const norm = Math.hypot(...sum);
  return sum.map((x) => x / norm);
}

function expectClose(actual: readonly number[] | undefined, expected: readonly number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual?.forEach((x, i) => {
    expect(x).toBeCloseTo(expected[i] ?? Number.NaN, 5);
  });
}

describe("transformers embedder (a local ONNX model, offline)", () => {
  it("runs the model: mean-pooled, normalized token vectors, in input order", async () => {
    const embedder = createTransformersEmbedder({ modelPath: model.path });
    try {
      expect(embedder.dimensions).toBe(16);
      expect(embedder.id).toBe("transformers:tiny-bert:fp32:mean:16");
      const [a, b, c] = await embedder.embed(["Hello world", "pull based pipeline", "hello"]);
      expectClose(a, expectedVector(["[CLS]", "hello", "world", "[SEP]"]));
      expectClose(b, expectedVector(["[CLS]", "pull", "based", "pipeline", "[SEP]"]));
      expectClose(c, expectedVector(["[CLS]", "hello", "[SEP]"]));
      // Words outside the vocabulary go through WordPiece, letter by letter.
      const [d] = await embedder.embed(["ab"]);
      expectClose(d, expectedVector(["[CLS]", "a", "##b", "[SEP]"]));
      expect(await embedder.embed([])).toEqual([]);
    } finally {
      await embedder.close?.();
    }
  });

  it("appends the end-of-text token to the text sent only", async () => {
    const embedder = createTransformersEmbedder({
      modelPath: model.path,
      endOfTextToken: " world",
    });
    try {
      expect(embedder.id).toBe("transformers:tiny-bert:fp32:mean:16:eot");
      const [v] = await embedder.embed(["hello"]);
      expectClose(v, expectedVector(["[CLS]", "hello", "world", "[SEP]"]));
    } finally {
      await embedder.close?.();
    }
  });

  it("pools with the first token when asked", async () => {
    const embedder = createTransformersEmbedder({ modelPath: model.path, pooling: "cls" });
    try {
      const [v] = await embedder.embed(["memory stream"]);
      expectClose(v, expectedVector(["[CLS]"]));
    } finally {
      await embedder.close?.();
    }
  });

  it("rejects with the signal's reason when the run is cancelled", async () => {
    const embedder = createTransformersEmbedder({ modelPath: model.path });
    try {
      const controller = new AbortController();
      controller.abort(new Error("stop"));
      await expect(embedder.embed(["hello"], controller.signal)).rejects.toThrow("stop");
    } finally {
      await embedder.close?.();
    }
  });

  it("fails at creation, naming what is wrong: no folder, missing files, wrong dimensions", async () => {
    const missing = join(dir, "nope");
    expect(() => createTransformersEmbedder({ modelPath: missing })).toThrow(EmbedderConfigError);
    expect(() => createTransformersEmbedder({ modelPath: missing })).toThrow(
      `no model folder with a config.json at ${missing}`,
    );
    expect(() => createTransformersEmbedder({ modelPath: model.path, dtype: "q8" })).toThrow(
      /no onnx\/model_quantized\.onnx in .*tiny-bert/,
    );
    expect(() => createTransformersEmbedder({ modelPath: model.path, dimensions: 384 })).toThrow(
      /dimensions is 384, but the model at .* makes 16-dimensional vectors/,
    );
    const broken = join(dir, "broken");
    await writeTinyBertModel(broken, 4);
    await writeFile(join(broken, "config.json"), JSON.stringify({ model_type: "bert" }));
    expect(() => createTransformersEmbedder({ modelPath: broken })).toThrow(
      /config\.json has no positive hidden_size/,
    );
  });

  it("is built from the workflow config, which requires a model folder or a hub model id", () => {
    expect(() => parseEmbedConfig({ embedder: { kind: "transformers" } })).toThrow(
      /embedder\.model: is required when kind is "transformers": a hub model id .* or else modelPath/,
    );
    expect(() =>
      parseEmbedConfig({ embedder: { kind: "transformers", model: "../../etc" } }),
    ).toThrow(/embedder\.model = "\.\.\/\.\.\/etc": must be a hub model id "owner\/name"/);
    const config = parseEmbedConfig(
      { embedder: { kind: "transformers", modelPath: "tiny-bert", dimensions: 16 } },
      { cwd: dir },
    );
    expect(config.embedder.modelPath).toBe(model.path);
    const embedder = createEmbedder(config.embedder);
    expect(embedder).toMatchObject({ id: "transformers:tiny-bert:fp32:mean:16", dimensions: 16 });
  });
});

describe("sluice embed --embedder transformers", () => {
  const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
  const run = (...args: string[]) =>
    promisify(execFile)(process.execPath, [bin, ...args], { cwd: dir });

  it("embeds a folder with the local model and finds the matching note", async () => {
    await mkdir(join(dir, "notes"), { recursive: true });
    await writeFile(join(dir, "notes", "a.md"), "# Hello\n\nHello world, hello world.\n");
    await writeFile(join(dir, "notes", "b.md"), "# Memory\n\nA bounded memory stream.\n");
    const model = ["--embedder", "transformers", "--model-path", "tiny-bert", "--dimensions", "16"];
    const embed = await run("embed", "notes", ...model, "--store", "notes.jsonl", "--json");
    expect(JSON.parse(embed.stdout)).toMatchObject({ files: 2, chunks: 2, embedded: 2, failed: 0 });
    const search = await run(
      "search",
      "bounded memory",
      ...model,
      "--store",
      "notes.jsonl",
      "--json",
    );
    const { results } = JSON.parse(search.stdout) as { results: { path: string; score: number }[] };
    expect(results.map((r) => r.path)).toEqual(["b.md", "a.md"]);
    expect(results[0]?.score).toBeGreaterThan(results[1]?.score ?? 1);
  });
});
