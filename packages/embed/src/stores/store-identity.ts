import type { JsonObject } from "../json-value.ts";
import { type StoreIdentity, VectorStoreError } from "./vector-store.ts";

/** The OpenAI endpoint the CLI uses when `--endpoint` is not given: not worth repeating. */
const DEFAULT_ENDPOINT = "https://api.openai.com/v1";

/**
 * The CLI flags that rebuild the embedder a store records, e.g. `--embedder hash --dimensions 384`.
 * Read from the identity's `embedder` settings; a store written before those were recorded has
 * only its `embedderId`, which is parsed instead (a transformers id holds only the model folder's
 * name, so its `--model-path` is that name and may need the folder's full path).
 */
export function embedderFlags(identity: StoreIdentity): string {
  const settings = identity.embedder ?? settingsFromId(identity);
  const flags: string[] = [];
  const kind = stringField(settings, "kind");
  if (kind !== undefined) flags.push("--embedder", kind);
  const model = stringField(settings, "model");
  const modelPath = stringField(settings, "modelPath");
  // A transformers store names its model by hub id or by folder, never both.
  const byId = kind === "openai" || (kind === "transformers" && modelPath === undefined);
  if (model !== undefined && byId) flags.push("--model", model);
  const baseUrl = stringField(settings, "baseUrl");
  if (baseUrl !== undefined && baseUrl !== DEFAULT_ENDPOINT) flags.push("--endpoint", baseUrl);
  if (modelPath !== undefined) flags.push("--model-path", modelPath);
  const dimensions = settings.dimensions;
  flags.push(
    "--dimensions",
    String(typeof dimensions === "number" ? dimensions : identity.dimensions),
  );
  return flags.map(shellWord).join(" ");
}

/**
 * The error for a writer whose embedder differs from the store's: it names both embedders and
 * the flags that match the store. It never advises deleting the store, which would throw away
 * everything embedded so far; a different embedder belongs in another store.
 */
export function identityMismatch(
  location: string,
  stored: StoreIdentity,
  wanted: StoreIdentity,
): VectorStoreError {
  return new VectorStoreError(
    "identity-mismatch",
    `store ${location} holds vectors of embedder ${describe(stored)}, not ${describe(wanted)}: ` +
      `to use it, pass the flags it was written with: ${embedderFlags(stored)}; ` +
      "to embed with the other embedder, give another store with --store <location>",
  );
}

function describe(identity: StoreIdentity): string {
  return `${identity.embedderId} (${identity.dimensions} dimensions)`;
}

function stringField(settings: JsonObject, key: string): string | undefined {
  const value = settings[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * Embedder settings recovered from an embedder id (`hash-v1:384`,
 * `openai:<model>:<dims>[:eot]`, `transformers:<folder>:<dtype>:<pooling>:<dims>[:eot]`).
 */
function settingsFromId(identity: StoreIdentity): JsonObject {
  const parts = identity.embedderId.split(":");
  if (parts.at(-1) === "eot") parts.pop();
  const [prefix] = parts;
  if (prefix === "hash-v1") return { kind: "hash" };
  if (prefix === "openai" && parts.length >= 3) {
    return { kind: "openai", model: parts.slice(1, -1).join(":") };
  }
  if (prefix === "transformers" && parts.length >= 5) {
    return { kind: "transformers", modelPath: parts.slice(1, -3).join(":") };
  }
  return {};
}

/** Quotes a flag value for a POSIX shell when it holds anything but plain characters. */
function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}
