import { readFile } from "node:fs/promises";
import { dirname, isAbsolute, resolve } from "node:path";
import { InvalidArgumentError } from "commander";
import type { EmbedConfigInput } from "../config.ts";
import { DEFAULT_IGNORE } from "../steps/discover.ts";

/** A commander parser for a positive integer flag; the message names the bad value. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  }
  return n;
}

/** A commander parser for a non-negative integer flag. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError(`expected a non-negative integer, got "${value}"`);
  }
  return n;
}

/** A commander collector for a repeatable flag: each use adds one value. */
export function collect(value: string, previous: readonly string[] = []): string[] {
  return [...previous, value];
}

/** Flags shared by the commands that open a store and an embedder. */
export interface StoreFlags {
  config?: string;
  store?: string;
  storeKind?: "sqlite" | "jsonl" | "postgres" | "pglite";
  embedder?: "hash" | "openai" | "transformers";
  endpoint?: string;
  model?: string;
  modelPath?: string;
  /** The model cache for a `transformers` hub model. */
  cacheDir?: string;
  /** The hub a `transformers` model is downloaded from. */
  modelHost?: string;
  /** True with `--offline`: a hub model must already be cached. */
  offline?: boolean;
  dimensions?: number;
}

/** Flags of `sluice embed`. */
export interface EmbedFlags extends StoreFlags {
  pattern?: string;
  collection?: string;
  /** `--ignore`, repeatable: added to the default (or configured) ignores. */
  ignore?: string[];
  /** False with `--no-default-ignores`: node_modules and .git (or the config's list) are not left out. */
  defaultIgnores?: boolean;
  includeHidden?: boolean;
  followSymlinks?: boolean;
  mode: "streaming" | "batch";
  batchSize?: number;
  batchTokens?: number;
  concurrency?: number;
  embedConcurrency?: number;
  /** `--rpm`: requests per minute the embedding API allows. */
  rpm?: number;
  /** `--tpm`: tokens per minute the embedding API allows. */
  tpm?: number;
  threads?: number;
  parseTimeout?: number;
  maxChunkSize?: number;
  minChunkSize?: number;
  chunkOverlap?: number;
  json?: boolean;
  quiet?: boolean;
  errorReport?: string;
  /** `--queue`: a queue run, its files embedded by `sluice worker`s through this Redis. */
  queue?: string;
  /** `--queue-name`: the queue's name (prefix of its Redis keys). */
  queueName?: string;
}

/** Thrown for a usage problem the CLI reports with exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

type Mutable = Record<string, unknown>;

async function loadConfigFile(path: string | undefined, cwd: string): Promise<Mutable> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = await readFile(resolve(cwd, path), "utf8");
  } catch (error) {
    throw new UsageError(
      `--config ${path}: cannot read (${(error as NodeJS.ErrnoException).code})`,
    );
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw new Error("not a JSON object");
    }
    return relativeTo(dirname(resolve(cwd, path)), parsed as Mutable);
  } catch (error) {
    throw new UsageError(`--config ${path}: invalid JSON (${(error as Error).message})`);
  }
}

/**
 * A config file's relative paths (root, store location, model folder) resolved from the file's
 * own folder: the file means the same wherever it is run from. Flags stay relative to the
 * working folder.
 */
function relativeTo(base: string, config: Mutable): Mutable {
  const rebase = (value: unknown) =>
    typeof value === "string" && value !== "" && !isAbsolute(value) ? resolve(base, value) : value;
  const out: Mutable = { ...config };
  if (out.root !== undefined) out.root = rebase(out.root);
  const store = section(config, "store");
  if (typeof store.location === "string" && !/^postgres(ql)?:\/\//i.test(store.location)) {
    store.location = rebase(store.location);
    out.store = store;
  }
  const embedder = section(config, "embedder");
  if (embedder.modelPath !== undefined) {
    embedder.modelPath = rebase(embedder.modelPath);
    out.embedder = embedder;
  }
  if (embedder.cacheDir !== undefined) {
    embedder.cacheDir = rebase(embedder.cacheDir);
    out.embedder = embedder;
  }
  return out;
}

/** The embedder settings that choose which vectors a store holds (not timeouts or keys). */
const EMBEDDER_CHOICE = [
  "kind",
  "dimensions",
  "model",
  "baseUrl",
  "modelPath",
  "revision",
  "pooling",
  "dtype",
  "endOfTextToken",
] as const;

/**
 * Whether a config input chooses an embedder (by flag or config file). When it does not, the
 * CLI uses the embedder an existing store records instead of the defaults.
 */
export function choosesEmbedder(input: EmbedConfigInput): boolean {
  const embedder = (input as Mutable).embedder;
  if (embedder === null || typeof embedder !== "object") return false;
  return EMBEDDER_CHOICE.some((key) => (embedder as Mutable)[key] !== undefined);
}

/**
 * The input with a store's recorded embedder settings under the given ones: flags and config
 * file still win, so a flag can override what the store records.
 */
export function withStoreEmbedder(
  input: EmbedConfigInput,
  recorded: Readonly<Record<string, unknown>>,
): EmbedConfigInput {
  const given = section(input as Mutable, "embedder");
  const base: Mutable = {};
  for (const key of EMBEDDER_CHOICE) {
    if (recorded[key] !== undefined && recorded[key] !== null) base[key] = recorded[key];
  }
  // A model folder and a hub model replace each other: the recorded one must not win over the given.
  if (given.model !== undefined) delete base.modelPath;
  if (given.modelPath !== undefined) {
    delete base.model;
    delete base.revision;
  }
  return { ...(input as Mutable), embedder: { ...base, ...given } } as EmbedConfigInput;
}

function section(config: Mutable, key: string): Mutable {
  const value = config[key];
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? { ...(value as Mutable) }
    : {};
}

function set(target: Mutable, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

/**
 * The workflow config from a JSON config file (if any) overlaid with the flags: the one zod
 * schema validates the result, so a bad value is reported the same whichever way it came.
 */
export async function configFromFlags(
  flags: EmbedFlags | StoreFlags,
  root?: string,
  cwd: string = process.cwd(),
): Promise<EmbedConfigInput> {
  const config = await loadConfigFile(flags.config, cwd);
  const embedder = section(config, "embedder");
  set(embedder, "kind", flags.embedder);
  set(embedder, "baseUrl", flags.endpoint);
  set(embedder, "model", flags.model);
  set(embedder, "modelPath", flags.modelPath);
  set(embedder, "cacheDir", flags.cacheDir);
  set(embedder, "modelHost", flags.modelHost);
  if (flags.offline === true) embedder.offline = true;
  set(embedder, "dimensions", flags.dimensions);
  const store = section(config, "store");
  if (flags.store !== undefined) {
    store.location = flags.store;
    delete store.kind; // inferred from the new location
  }
  set(store, "kind", flags.storeKind);
  const out: Mutable = { ...config, embedder, store };
  if (root !== undefined) out.root = root;
  if ("mode" in flags) {
    set(out, "pattern", flags.pattern);
    set(out, "collection", flags.collection);
    set(out, "includeHidden", flags.includeHidden);
    set(out, "followSymlinks", flags.followSymlinks);
    if (flags.defaultIgnores === false || (flags.ignore?.length ?? 0) > 0) {
      const base =
        flags.defaultIgnores === false
          ? []
          : Array.isArray(config.ignore)
            ? (config.ignore as unknown[])
            : DEFAULT_IGNORE;
      out.ignore = [...base, ...(flags.ignore ?? [])];
    }
    set(out, "concurrency", flags.concurrency);
    set(embedder, "concurrency", flags.embedConcurrency);
    set(embedder, "rpm", flags.rpm);
    set(embedder, "tpm", flags.tpm);
    set(out, "threads", flags.threads);
    set(out, "parseTimeoutMs", flags.parseTimeout);
    const batch = section(config, "batch");
    set(batch, "size", flags.batchSize);
    set(batch, "maxTokens", flags.batchTokens);
    const split = section(config, "split");
    set(split, "maxChunkSize", flags.maxChunkSize);
    set(split, "minChunkSize", flags.minChunkSize);
    set(split, "chunkOverlap", flags.chunkOverlap);
    out.batch = batch;
    out.split = split;
  }
  return out as EmbedConfigInput;
}
