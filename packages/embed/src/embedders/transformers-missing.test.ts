// A file of its own: the mock below replaces the optional dependency for every import in it.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { writeTinyBertModel } from "../testing/tiny-bert-model.ts";
import { EmbedderConfigError } from "./openai.ts";
import { createTransformersEmbedder } from "./transformers.ts";

// What Node throws when an optional dependency was not installed.
vi.mock("@huggingface/transformers", () => {
  throw new Error("Cannot find package '@huggingface/transformers' imported from transformers.ts");
});

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-transformers-missing-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("transformers embedder without @huggingface/transformers installed", () => {
  it("fails on the first embed with a typed error that says what to install, and stays failed", async () => {
    const model = await writeTinyBertModel(join(dir, "tiny-bert"), 8);
    const embedder = createTransformersEmbedder({ modelPath: model.path });
    const first = embedder.embed(["a note"]);
    await expect(first).rejects.toBeInstanceOf(EmbedderConfigError);
    await expect(first).rejects.toThrow(
      // Then the loader's own message (vitest wraps the mock factory's error in one of its own).
      /^transformers embedder: the optional dependency @huggingface\/transformers is not installed \(npm install @huggingface\/transformers\): \S/,
    );
    await expect(embedder.embed(["again"])).rejects.toBeInstanceOf(EmbedderConfigError);
    await embedder.close?.();
  });
});
