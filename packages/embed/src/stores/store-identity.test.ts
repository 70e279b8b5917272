import { describe, expect, it } from "vitest";
import { embedderFlags, identityMismatch } from "./store-identity.ts";
import { VectorStoreError } from "./vector-store.ts";

describe("embedderFlags", () => {
  it("names a hub model with --model, and its folder with --model-path", () => {
    expect(
      embedderFlags({
        embedderId: "transformers:Xenova/all-MiniLM-L6-v2:384",
        dimensions: 384,
        embedder: {
          kind: "transformers",
          model: "Xenova/all-MiniLM-L6-v2",
          revision: "main",
          pooling: "mean",
          dtype: "fp32",
          dimensions: 384,
        },
      }),
    ).toBe("--embedder transformers --model Xenova/all-MiniLM-L6-v2 --dimensions 384");
    expect(
      embedderFlags({
        embedderId: "transformers:/models/mini:384",
        dimensions: 384,
        embedder: { kind: "transformers", modelPath: "/models/mini", dimensions: 384 },
      }),
    ).toBe("--embedder transformers --model-path /models/mini --dimensions 384");
  });

  it("rebuilds the flags from the recorded embedder settings", () => {
    expect(
      embedderFlags({
        embedderId: "hash-v1:384",
        dimensions: 384,
        embedder: { kind: "hash", dimensions: 384 },
      }),
    ).toBe("--embedder hash --dimensions 384");
    expect(
      embedderFlags({
        embedderId: "openai:nomic-embed-text:768",
        dimensions: 768,
        embedder: {
          kind: "openai",
          model: "nomic-embed-text",
          baseUrl: "http://127.0.0.1:11434/v1",
          dimensions: 768,
        },
      }),
    ).toBe(
      "--embedder openai --model nomic-embed-text --endpoint http://127.0.0.1:11434/v1 --dimensions 768",
    );
    expect(
      embedderFlags({
        embedderId: "openai:text-embedding-3-small:1536",
        dimensions: 1536,
        embedder: {
          kind: "openai",
          model: "text-embedding-3-small",
          baseUrl: "https://api.openai.com/v1",
          dimensions: 1536,
        },
      }),
    ).toBe("--embedder openai --model text-embedding-3-small --dimensions 1536");
    expect(
      embedderFlags({
        embedderId: "transformers:my model:fp32:mean:8",
        dimensions: 8,
        embedder: {
          kind: "transformers",
          modelPath: "/models/my model",
          pooling: "mean",
          dtype: "fp32",
          dimensions: 8,
        },
      }),
    ).toBe("--embedder transformers --model-path '/models/my model' --dimensions 8");
  });

  it("falls back to the embedder id when no settings were recorded", () => {
    expect(embedderFlags({ embedderId: "hash-v1:64", dimensions: 64 })).toBe(
      "--embedder hash --dimensions 64",
    );
    expect(
      embedderFlags({ embedderId: "openai:text-embedding-3-small:512:eot", dimensions: 512 }),
    ).toBe("--embedder openai --model text-embedding-3-small --dimensions 512");
    expect(
      embedderFlags({ embedderId: "transformers:bge-small:q8:cls:384", dimensions: 384 }),
    ).toBe("--embedder transformers --model-path bge-small --dimensions 384");
    expect(embedderFlags({ embedderId: "something-else", dimensions: 3 })).toBe("--dimensions 3");
  });
});

describe("identityMismatch", () => {
  it("names both embedders and the flags to pass, never deleting the store", () => {
    const error = identityMismatch(
      "/data/store.db",
      { embedderId: "hash-v1:384", dimensions: 384, embedder: { kind: "hash", dimensions: 384 } },
      { embedderId: "hash-v1:64", dimensions: 64, embedder: { kind: "hash", dimensions: 64 } },
    );
    expect(error).toBeInstanceOf(VectorStoreError);
    expect(error.code).toBe("identity-mismatch");
    expect(error.message).toContain("/data/store.db");
    expect(error.message).toContain("hash-v1:384 (384 dimensions)");
    expect(error.message).toContain("hash-v1:64 (64 dimensions)");
    expect(error.message).toContain("--embedder hash --dimensions 384");
    expect(error.message).not.toMatch(/delete|remove/i);
  });
});
