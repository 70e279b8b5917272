import type { EmbedConfig } from "../config.ts";
import {
  type CachedModel,
  downloadHubModel,
  findCachedModel,
  type ModelDownloadProgress,
  modelCachePath,
  resolveModelHost,
} from "./model-hub.ts";
import { EmbedderConfigError } from "./openai.ts";

/** Options of {@link prepareTransformersModel}. */
export interface PrepareTransformersModelOptions {
  /** Cancels a download; its partial files are removed. */
  readonly signal?: AbortSignal;
  /** Progress of a download; never called when the model is already cached. */
  readonly onProgress?: (progress: ModelDownloadProgress) => void;
  /** Where `SLUICE_MODEL_HOST` and `HF_TOKEN` are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Makes sure the hub model an embedder config names is in the model cache, downloading it
 * unless `offline` is set, so that `createEmbedder` (which never downloads) can then load it.
 * Resolves with undefined for a config without a hub model (another kind, or a `modelPath`).
 * With `offline`, a model not in the cache is an {@link EmbedderConfigError} naming the cache
 * folder and the ways out.
 */
export async function prepareTransformersModel(
  embedder: EmbedConfig["embedder"],
  options: PrepareTransformersModelOptions = {},
): Promise<CachedModel | undefined> {
  if (embedder.kind !== "transformers" || embedder.modelPath !== undefined) return undefined;
  const ref = {
    model: embedder.model,
    revision: embedder.revision,
    dtype: embedder.dtype,
    ...(embedder.cacheDir === undefined ? {} : { cacheDir: embedder.cacheDir }),
  };
  if (embedder.offline) {
    const path = findCachedModel(ref);
    if (path !== undefined) return { path, downloadedBytes: 0 };
    const host = resolveModelHost(embedder.modelHost, options.env);
    throw new EmbedderConfigError(
      `model ${embedder.model} is not in the model cache (${modelCachePath(ref)}) and --offline ` +
        `forbids downloading it: run once without --offline to download it from ${host}, ` +
        "or give a local model folder with --model-path <dir>",
    );
  }
  return downloadHubModel({
    ...ref,
    stallTimeoutMs: embedder.downloadTimeoutMs,
    ...(embedder.modelHost === undefined ? {} : { host: embedder.modelHost }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
    ...(options.onProgress === undefined ? {} : { onProgress: options.onProgress }),
    ...(options.env === undefined ? {} : { env: options.env }),
  });
}
