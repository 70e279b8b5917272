import { describe, expect, it } from "vitest";
import {
  ConfigError,
  configFingerprint,
  embedderSettings,
  parseEmbedConfig,
  storeKindOf,
} from "./config.ts";

function issuesOf(input: unknown): ConfigError["issues"] {
  try {
    parseEmbedConfig(input, { cwd: "/base" });
  } catch (error) {
    if (error instanceof ConfigError) return error.issues;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

describe("parseEmbedConfig", () => {
  it("fills every default and resolves paths against cwd", () => {
    const config = parseEmbedConfig({}, { cwd: "/base" });
    expect(config.root).toBe("/base");
    expect(config.pattern).toBe("**/*.md");
    expect(config.ignore).toEqual(["**/node_modules/**", "**/.git/**"]);
    expect(config.frontmatter).toBe(true);
    expect(config.clean.removeSections).toEqual([]);
    expect(config.split).toEqual({
      unit: "chars",
      maxChunkSize: 1000,
      minChunkSize: 200,
      chunkOverlap: 100,
    });
    expect(config.batch).toEqual({ size: 64, maxTokens: 8000, maxWaitMs: 250 });
    expect(config.embedder.kind).toBe("hash");
    expect(config.embedder.dimensions).toBe(384);
    expect(config.store).toEqual({ kind: "sqlite", location: "/base/.sluice/store.db" });
    expect(config.concurrency).toBe(4);
  });

  it("sends 4 requests at once to an OpenAI endpoint by default, 2 to an in-process embedder", () => {
    expect(parseEmbedConfig({}).embedder.concurrency).toBe(2);
    expect(parseEmbedConfig({ embedder: { kind: "openai" } }).embedder.concurrency).toBe(4);
    expect(
      parseEmbedConfig({ embedder: { kind: "openai", concurrency: 1 } }).embedder.concurrency,
    ).toBe(1);
    expect(
      parseEmbedConfig({ embedder: { kind: "transformers", modelPath: "/m" } }).embedder
        .concurrency,
    ).toBe(2);
  });

  it("keeps nested defaults when only part of a section is given", () => {
    const config = parseEmbedConfig({ split: { maxChunkSize: 2000 } }, { cwd: "/base" });
    expect(config.split).toEqual({
      unit: "chars",
      maxChunkSize: 2000,
      minChunkSize: 200,
      chunkOverlap: 100,
    });
    // A small maximum scales the unset minimum and overlap down instead of failing.
    const small = parseEmbedConfig({ split: { maxChunkSize: 50 } });
    expect(small.split).toMatchObject({ minChunkSize: 10, chunkOverlap: 5 });
  });

  it("infers the store kind from the location", () => {
    const pg = parseEmbedConfig({ store: { location: "postgres://u@127.0.0.1:5432/db" } });
    expect(pg.store).toEqual({ kind: "postgres", location: "postgres://u@127.0.0.1:5432/db" });
    const jsonl = parseEmbedConfig({ store: { location: "out/vectors.jsonl" } }, { cwd: "/base" });
    expect(jsonl.store).toEqual({ kind: "jsonl", location: "/base/out/vectors.jsonl" });
    expect(storeKindOf("postgresql://x")).toBe("postgres");
    expect(storeKindOf("POSTGRES://x")).toBe("postgres");
    expect(storeKindOf("/data/store")).toBe("sqlite");
    expect(storeKindOf("/data/store.db")).toBe("sqlite");
    expect(storeKindOf("/data/Vectors.JSONL")).toBe("jsonl");
    const sqlite = parseEmbedConfig({ store: { location: "data/s.db" } }, { cwd: "/base" });
    expect(sqlite.store).toEqual({ kind: "sqlite", location: "/base/data/s.db" });
  });

  it("uses PGlite only when asked for by name", () => {
    const pglite = parseEmbedConfig(
      { store: { location: "data/pg", kind: "pglite" } },
      { cwd: "/base" },
    );
    expect(pglite.store).toEqual({ kind: "pglite", location: "/base/data/pg" });
    expect(issuesOf({ store: { kind: "lancedb" } })[0]?.field).toBe("store.kind");
  });

  it("rejects an overlap not below the maximum, naming field and value", () => {
    const issues = issuesOf({ split: { maxChunkSize: 100, chunkOverlap: 100 } });
    expect(issues).toEqual([
      {
        field: "split.chunkOverlap",
        value: 100,
        message: "must be less than split.maxChunkSize (100)",
      },
    ]);
  });

  it("rejects a minimum above the maximum", () => {
    const issues = issuesOf({ split: { maxChunkSize: 300, minChunkSize: 301, chunkOverlap: 0 } });
    expect(issues).toHaveLength(1);
    expect(issues[0]?.field).toBe("split.minChunkSize");
    expect(issues[0]?.value).toBe(301);
  });

  it("names wrong types and values in the message", () => {
    let error: unknown;
    try {
      parseEmbedConfig({ embedder: { dimensions: -3, kind: "magic" }, batch: { size: "big" } });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("embedder.dimensions = -3");
    expect(message).toContain('embedder.kind = "magic"');
    expect(message).toContain('batch.size = "big"');
  });

  it("rejects unknown fields so typos are not silently ignored", () => {
    const issues = issuesOf({ split: { maxChunksize: 10 } });
    expect(issues).toEqual([
      { field: "split.maxChunksize", value: undefined, message: "unknown field" },
    ]);
  });

  it("never prints an API key", () => {
    let message = "";
    try {
      parseEmbedConfig({ embedder: { apiKey: "" } });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain("embedder.apiKey");
    expect(message).not.toContain('""');
    expect(message).toContain("<redacted>");
  });
});

describe("collections, hidden files, links", () => {
  it("leaves the collection to the root unless named; rejects an empty name or a NUL", () => {
    const config = parseEmbedConfig({}, { cwd: "/base" });
    expect(config.collection).toBeUndefined();
    expect(config.includeHidden).toBe(false);
    expect(config.followSymlinks).toBe(false);
    expect(parseEmbedConfig({ collection: "notes" }).collection).toBe("notes");
    expect(issuesOf({ collection: "" })[0]).toMatchObject({ field: "collection", value: "" });
    expect(issuesOf({ collection: "a\u0000b" })[0]).toMatchObject({
      field: "collection",
      message: expect.stringContaining("NUL"),
    });
  });
});

describe("embedderSettings", () => {
  it("records what rebuilds the embedder, per kind, and never the API key", () => {
    const hash = parseEmbedConfig({ embedder: { dimensions: 64 } }).embedder;
    expect(embedderSettings(hash)).toEqual({ kind: "hash", dimensions: 64 });
    const openai = parseEmbedConfig({
      embedder: {
        kind: "openai",
        model: "m",
        apiKey: "sk-secret",
        baseUrl: "http://127.0.0.1:9/v1",
      },
    }).embedder;
    expect(embedderSettings(openai)).toEqual({
      kind: "openai",
      dimensions: 384,
      model: "m",
      baseUrl: "http://127.0.0.1:9/v1",
    });
    expect(JSON.stringify(embedderSettings(openai))).not.toContain("sk-secret");
    const local = parseEmbedConfig(
      { embedder: { kind: "transformers", modelPath: "models/x", pooling: "cls" } },
      { cwd: "/base" },
    ).embedder;
    expect(embedderSettings(local)).toEqual({
      kind: "transformers",
      dimensions: 384,
      modelPath: "/base/models/x",
      pooling: "cls",
      dtype: "fp32",
    });
  });
});

describe("configFingerprint", () => {
  it("changes with chunking settings but not with unrelated ones", () => {
    const base = parseEmbedConfig({});
    expect(configFingerprint(parseEmbedConfig({ concurrency: 9 }))).toBe(configFingerprint(base));
    expect(configFingerprint(parseEmbedConfig({ split: { maxChunkSize: 999 } }))).not.toBe(
      configFingerprint(base),
    );
  });
});
