import { createHash } from "node:crypto";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import type { JsonObject } from "./json-value.ts";
import { DEFAULT_IGNORE } from "./steps/discover.ts";
import { defaultThreads } from "./workflows/prepare-pool.ts";

const positiveInt = () => z.number().int().positive();

/**
 * Where chunks and vectors go; the kind follows from the location unless given. `pglite` (an
 * embedded Postgres in a folder) is never inferred: it must be asked for by name.
 */
export type StoreKind = "sqlite" | "jsonl" | "postgres" | "pglite";

/** The default store: an SQLite database file, relative to the working folder. */
export const DEFAULT_STORE_LOCATION = ".sluice/store.db";

/**
 * Infers the store kind from a location: a `postgres://` or `postgresql://` URL is Postgres, a path
 * ending in `.jsonl` is a JSONL file, anything else is an SQLite database file.
 */
export function storeKindOf(location: string): StoreKind {
  if (/^postgres(ql)?:\/\//i.test(location)) return "postgres";
  if (location.toLowerCase().endsWith(".jsonl")) return "jsonl";
  return "sqlite";
}

const splitSchema = z
  .strictObject({
    unit: z.enum(["chars", "tokens"]).default("chars"),
    maxChunkSize: positiveInt().default(1000),
    // Left unset, these scale with maxChunkSize so that setting only the maximum stays valid.
    minChunkSize: z.number().int().nonnegative().optional(),
    chunkOverlap: z.number().int().nonnegative().optional(),
  })
  .transform((split) => ({
    unit: split.unit,
    maxChunkSize: split.maxChunkSize,
    minChunkSize: split.minChunkSize ?? Math.min(200, Math.floor(split.maxChunkSize / 5)),
    chunkOverlap: split.chunkOverlap ?? Math.min(100, Math.floor(split.maxChunkSize / 10)),
  }))
  .superRefine((split, ctx) => {
    if (split.chunkOverlap >= split.maxChunkSize) {
      ctx.addIssue({
        code: "custom",
        path: ["chunkOverlap"],
        input: split.chunkOverlap,
        message: `must be less than split.maxChunkSize (${split.maxChunkSize})`,
      });
    }
    if (split.minChunkSize > split.maxChunkSize) {
      ctx.addIssue({
        code: "custom",
        path: ["minChunkSize"],
        input: split.minChunkSize,
        message: `must not exceed split.maxChunkSize (${split.maxChunkSize})`,
      });
    }
  });

const embedderSchema = z
  .strictObject({
    kind: z.enum(["hash", "openai", "transformers"]).default("hash"),
    dimensions: positiveInt().max(16_000).default(384),
    baseUrl: z.url({ protocol: /^https?$/ }).default("https://api.openai.com/v1"),
    model: z.string().min(1).default("text-embedding-3-small"),
    /** Falls back to the OPENAI_API_KEY environment variable when absent. */
    apiKey: z.string().min(1).optional(),
    timeoutMs: positiveInt().default(60_000),
    maxRetries: z.number().int().nonnegative().max(20).default(5),
    concurrency: positiveInt().max(64).default(2),
    /** Attempts per embed batch in the pipeline (on top of the OpenAI client's own retries). */
    retryAttempts: positiveInt().max(20).default(3),
    /** Base backoff of those attempts: full jitter, doubling per attempt, capped at 10 s. */
    retryBackoffMs: z.number().int().nonnegative().max(60_000).default(200),
    endOfTextToken: z.string().min(1).optional(),
    /** `transformers` only: the local model folder (Hugging Face layout with an `onnx/` folder). */
    modelPath: z.string().min(1).optional(),
    /** `transformers` only: mean of the token vectors, or the first token's. */
    pooling: z.enum(["mean", "cls"]).default("mean"),
    /** `transformers` only: `onnx/model.onnx` (fp32) or `onnx/model_quantized.onnx` (q8). */
    dtype: z.enum(["fp32", "q8"]).default("fp32"),
  })
  .superRefine((embedder, ctx) => {
    if (embedder.kind === "transformers" && embedder.modelPath === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["modelPath"],
        message: 'is required when kind is "transformers" (a local model folder)',
      });
    }
  });

const storeSchema = z
  .strictObject({
    location: z.string().min(1).default(DEFAULT_STORE_LOCATION),
    kind: z.enum(["sqlite", "jsonl", "postgres", "pglite"]).optional(),
  })
  .transform((store) => ({
    location: store.location,
    kind: store.kind ?? storeKindOf(store.location),
  }));

/** The zod schema of the whole embed-documents workflow config; every field has a default. */
export const embedConfigSchema = z.strictObject({
  root: z.string().min(1).default("."),
  /**
   * The collection the run writes to; default the root folder's real path. Embedding one
   * collection never touches another's chunks.
   */
  collection: z
    .string()
    .min(1, "must not be empty")
    .refine((name) => !name.includes("\u0000"), "must not contain a NUL character")
    .optional(),
  pattern: z.string().min(1).default("**/*.md"),
  ignore: z.array(z.string().min(1)).default([...DEFAULT_IGNORE]),
  /** Include files and folders whose names start with a dot (`.git` stays in the ignores). */
  includeHidden: z.boolean().default(false),
  /** Follow symbolic links that point outside the root; links inside it are always followed. */
  followSymlinks: z.boolean().default(false),
  maxFileBytes: positiveInt().default(1024 * 1024),
  frontmatter: z.boolean().default(true),
  clean: z.strictObject({ removeSections: z.array(z.string().min(1)).default([]) }).prefault({}),
  split: splitSchema.prefault({}),
  batch: z
    .strictObject({
      size: positiveInt().max(2048).default(64),
      maxTokens: positiveInt().default(8000),
      /** Streaming only: a partial batch is sent once its first chunk has waited this long. */
      maxWaitMs: positiveInt().max(600_000).default(250),
    })
    .prefault({}),
  embedder: embedderSchema.prefault({}),
  store: storeSchema.prefault({}),
  concurrency: positiveInt().max(256).default(4),
  /**
   * Worker threads that prepare files (read, frontmatter, clean, split) off the main thread;
   * default one fewer than the cores, at least one (see `defaultThreads`). 0 prepares them on
   * the main thread, without the per-file deadline and heap limit.
   */
  threads: z.number().int().min(0).max(256).default(defaultThreads),
  /** A file's preparation (read to chunks) past this is stopped and the file skipped (`PARSE_TIMEOUT`). */
  parseTimeoutMs: positiveInt().max(3_600_000).default(10_000),
  /**
   * Heap limit of each prepare worker, in MB; a file that needs more is skipped
   * (`PARSE_TOO_LARGE`). A 1 MiB file of prose needs about 20 MB, a 1 MiB table of short rows
   * about 500 MB: 192 keeps a run of such files within ~400 MB of resident memory.
   */
  parseHeapMb: positiveInt().min(32).max(16_384).default(192),
});

/** What a caller may pass: any subset of the config, defaults fill the rest. */
export type EmbedConfigInput = z.input<typeof embedConfigSchema>;
/** The validated config with every default applied. */
export type EmbedConfig = z.output<typeof embedConfigSchema>;

/** One problem found in a config: the dotted field path, the value given, and what is wrong. */
export interface ConfigIssue {
  readonly field: string;
  readonly value: unknown;
  readonly message: string;
}

/** Thrown for an invalid workflow config; `issues` lists every offending field with its value. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(`Invalid embed config:\n${issues.map((i) => `  - ${formatIssue(i)}`).join("\n")}`);
  }
}

function formatIssue(issue: ConfigIssue): string {
  const shown = issue.value === undefined ? "" : ` = ${describeValue(issue.field, issue.value)}`;
  return `${issue.field || "(root)"}${shown}: ${issue.message}`;
}

function describeValue(field: string, value: unknown): string {
  // Secrets must not leak into logs through error messages.
  if (/apiKey$/.test(field)) return "<redacted>";
  const json = JSON.stringify(value);
  if (json === undefined) return String(value);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let current: unknown = input;
  for (const key of path) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<PropertyKey, unknown>)[key];
  }
  return current;
}

/** Options of {@link parseEmbedConfig}. */
export interface ParseConfigOptions {
  /** Base for relative `root` and store folder/file locations; defaults to `process.cwd()`. */
  readonly cwd?: string;
}

/**
 * Validates a workflow config, fills defaults and resolves `root` and a file-system store location
 * against `cwd`. Throws {@link ConfigError} naming each offending field and its value.
 */
export function parseEmbedConfig(input: unknown, options: ParseConfigOptions = {}): EmbedConfig {
  const result = embedConfigSchema.safeParse(input ?? {}, { reportInput: true });
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const field = issue.path.map(String).join(".");
        const keys = issue.code === "unrecognized_keys" ? issue.keys : undefined;
        return {
          field: keys ? [field, ...keys].filter(Boolean).join(".") : field,
          // A refinement's issue carries the whole object it checked: show the field's own value.
          value: keys
            ? undefined
            : "input" in issue && issue.code !== "custom"
              ? issue.input
              : valueAt(input, issue.path),
          message: keys ? `unknown field${keys.length > 1 ? "s" : ""}` : issue.message,
        };
      }),
    );
  }
  const cwd = options.cwd ?? process.cwd();
  const config = result.data;
  const root = isAbsolute(config.root) ? config.root : resolve(cwd, config.root);
  const location =
    config.store.kind === "postgres" || isAbsolute(config.store.location)
      ? config.store.location
      : resolve(cwd, config.store.location);
  const { modelPath } = config.embedder;
  const embedder =
    modelPath === undefined || isAbsolute(modelPath)
      ? config.embedder
      : { ...config.embedder, modelPath: resolve(cwd, modelPath) };
  return { ...config, root, embedder, store: { ...config.store, location } };
}

/**
 * The embedder settings a store records when it is created (`StoreIdentity.embedder`): enough to
 * build the same embedder again for `search` and `stats`, never the API key.
 */
export function embedderSettings(embedder: EmbedConfig["embedder"]): JsonObject {
  const common = {
    kind: embedder.kind,
    dimensions: embedder.dimensions,
    ...(embedder.endOfTextToken === undefined ? {} : { endOfTextToken: embedder.endOfTextToken }),
  };
  switch (embedder.kind) {
    case "hash":
      return { kind: "hash", dimensions: embedder.dimensions };
    case "openai":
      return { ...common, model: embedder.model, baseUrl: embedder.baseUrl };
    case "transformers":
      return {
        ...common,
        ...(embedder.modelPath === undefined ? {} : { modelPath: embedder.modelPath }),
        pooling: embedder.pooling,
        dtype: embedder.dtype,
      };
  }
}

/**
 * A short hash of the settings that change what a file turns into (frontmatter, cleaning, splitting,
 * embedder). Combine it with a file's content hash so an incremental run re-embeds every file when
 * any of these settings change, not only when the file does.
 */
export function configFingerprint(config: EmbedConfig): string {
  const relevant = {
    frontmatter: config.frontmatter,
    clean: config.clean,
    split: config.split,
    embedder: {
      kind: config.embedder.kind,
      model: config.embedder.model,
      dimensions: config.embedder.dimensions,
      endOfTextToken: config.embedder.endOfTextToken ?? null,
      ...(config.embedder.kind === "transformers"
        ? {
            modelPath: config.embedder.modelPath ?? null,
            pooling: config.embedder.pooling,
            dtype: config.embedder.dtype,
          }
        : {}),
    },
  };
  return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
}
