import { readFile } from "node:fs/promises";
import { InvalidArgumentError } from "commander";
import type { EmbedConfigInput } from "../config.ts";

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

/** Flags shared by the commands that open a store and an embedder. */
export interface StoreFlags {
  config?: string;
  store?: string;
  embedder?: "hash" | "openai" | "transformers";
  endpoint?: string;
  model?: string;
  modelPath?: string;
  dimensions?: number;
}

/** Flags of `sluice embed`. */
export interface EmbedFlags extends StoreFlags {
  pattern?: string;
  mode: "streaming" | "batch";
  batchSize?: number;
  batchTokens?: number;
  concurrency?: number;
  embedConcurrency?: number;
  maxChunkSize?: number;
  minChunkSize?: number;
  chunkOverlap?: number;
  json?: boolean;
  quiet?: boolean;
  errorReport?: string;
}

/** Thrown for a usage problem the CLI reports with exit code 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

type Mutable = Record<string, unknown>;

async function loadConfigFile(path: string | undefined): Promise<Mutable> {
  if (path === undefined) return {};
  let text: string;
  try {
    text = await readFile(path, "utf8");
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
    return parsed as Mutable;
  } catch (error) {
    throw new UsageError(`--config ${path}: invalid JSON (${(error as Error).message})`);
  }
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
): Promise<EmbedConfigInput> {
  const config = await loadConfigFile(flags.config);
  const embedder = section(config, "embedder");
  set(embedder, "kind", flags.embedder);
  set(embedder, "baseUrl", flags.endpoint);
  set(embedder, "model", flags.model);
  set(embedder, "modelPath", flags.modelPath);
  set(embedder, "dimensions", flags.dimensions);
  const store = section(config, "store");
  if (flags.store !== undefined) {
    store.location = flags.store;
    delete store.kind; // inferred from the new location
  }
  const out: Mutable = { ...config, embedder, store };
  if (root !== undefined) out.root = root;
  if ("mode" in flags) {
    set(out, "pattern", flags.pattern);
    set(out, "concurrency", flags.concurrency);
    set(embedder, "concurrency", flags.embedConcurrency);
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
