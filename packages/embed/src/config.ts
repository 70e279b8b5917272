import { createHash } from "node:crypto";
import { isAbsolute, resolve } from "node:path";
import { z } from "zod";
import { isHubModelId } from "./embedders/model-hub-id.ts";
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

/** The OpenAI embedding model used when none is given. */
const DEFAULT_OPENAI_MODEL = "text-embedding-3-small";

const embedderSchema = z
  .strictObject({
    kind: z.enum(["hash", "openai", "transformers"]).default("hash"),
    dimensions: positiveInt().max(16_000).default(384),
    baseUrl: z.url({ protocol: /^https?$/ }).default("https://api.openai.com/v1"),
    /**
     * `openai`: the model name (default `text-embedding-3-small`). `transformers`: a hub model
     * id (`Xenova/all-MiniLM-L6-v2`) downloaded once into `cacheDir`, unless `modelPath` is given.
     */
    model: z.string().min(1).optional(),
    /** Falls back to the OPENAI_API_KEY environment variable when absent. */
    apiKey: z.string().min(1).optional(),
    timeoutMs: positiveInt().default(60_000),
    maxRetries: z.number().int().nonnegative().max(20).default(5),
    /**
     * Embedding requests at once; default 4 for `openai` (a 20 ms loopback endpoint kept 2
     * busy and idled the pipeline: 5,000 files 14.2 -> 13.3 s; adaptive concurrency backs off
     * from it on 429s), 2 for the in-process embedders.
     */
    concurrency: positiveInt().max(64).optional(),
    /** `openai`: requests per minute the API allows; requests are paced under it. */
    rpm: positiveInt().optional(),
    /** `openai`: tokens per minute the API allows (cl100k tokens, as the batch budget counts). */
    tpm: positiveInt().optional(),
    /**
     * `openai`: adapt the number of requests at once (up to `concurrency`) and their pace to
     * 429/503 answers, pausing every request for the server's Retry-After; default true.
     */
    adaptiveConcurrency: z.boolean().default(true),
    /**
     * `openai`: how long a batch refused for rate limits (429/503) is retried, from its first
     * refusal, in ms; other failures get `retryAttempts`. Default 10 minutes.
     */
    rateLimitRetryMs: positiveInt().max(86_400_000).default(600_000),
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
    /** `transformers` hub model: the branch, tag or commit to download. */
    revision: z.string().min(1).default("main"),
    /** `transformers` hub model: the model cache; default `$XDG_CACHE_HOME/sluice/models` or the like. */
    cacheDir: z.string().min(1).optional(),
    /** `transformers` hub model: the hub; default `SLUICE_MODEL_HOST`, else https://huggingface.co. */
    modelHost: z.url({ protocol: /^https?$/ }).optional(),
    /** `transformers` hub model: never download; a model not in the cache is an error. */
    offline: z.boolean().default(false),
    /** `transformers` hub model: a download that receives no byte for this long fails. */
    downloadTimeoutMs: positiveInt().max(600_000).default(30_000),
  })
  .superRefine((embedder, ctx) => {
    for (const field of ["rpm", "tpm"] as const) {
      if (embedder[field] !== undefined && embedder.kind !== "openai") {
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: `applies to the "openai" embedder only, not "${embedder.kind}"`,
        });
      }
    }
    if (embedder.kind !== "transformers" || embedder.modelPath !== undefined) return;
    if (embedder.model === undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["model"],
        message:
          'is required when kind is "transformers": a hub model id (e.g. Xenova/all-MiniLM-L6-v2), ' +
          "or else modelPath, a local model folder",
      });
    } else if (!isHubModelId(embedder.model)) {
      ctx.addIssue({
        code: "custom",
        path: ["model"],
        message:
          'must be a hub model id "owner/name" (e.g. Xenova/all-MiniLM-L6-v2) for "transformers"',
      });
    }
  })
  // Checked above before the default: a transformers model needs an id given on purpose.
  .transform((embedder) => ({
    ...embedder,
    model: embedder.model ?? DEFAULT_OPENAI_MODEL,
    concurrency: embedder.concurrency ?? (embedder.kind === "openai" ? 4 : 2),
  }));

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
  const { modelPath, cacheDir } = config.embedder;
  const embedder = {
    ...config.embedder,
    ...(modelPath === undefined ? {} : { modelPath: resolve(cwd, modelPath) }),
    ...(cacheDir === undefined ? {} : { cacheDir: resolve(cwd, cacheDir) }),
  };
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
        ...(embedder.modelPath === undefined
          ? { model: embedder.model, revision: embedder.revision }
          : { modelPath: embedder.modelPath }),
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
            // Only for a hub model, so that fingerprints of folder models stay as they were.
            ...(config.embedder.modelPath === undefined
              ? { revision: config.embedder.revision }
              : {}),
            pooling: config.embedder.pooling,
            dtype: config.embedder.dtype,
          }
        : {}),
    },
  };
  return createHash("sha256").update(JSON.stringify(relevant)).digest("hex").slice(0, 16);
}
