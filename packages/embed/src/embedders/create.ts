import type { EmbedConfig } from "../config.ts";
import type { Embedder } from "./embedder.ts";
import { createHashEmbedder } from "./hash.ts";
import { createOpenAIEmbedder } from "./openai.ts";
import { createTransformersEmbedder } from "./transformers.ts";

/** Builds the embedder a parsed config's `embedder` section names. */
export function createEmbedder(config: EmbedConfig["embedder"]): Embedder {
  switch (config.kind) {
    case "hash":
      return createHashEmbedder({ dimensions: config.dimensions });
    case "openai":
      return createOpenAIEmbedder({
        baseUrl: config.baseUrl,
        model: config.model,
        dimensions: config.dimensions,
        timeoutMs: config.timeoutMs,
        maxRetries: config.maxRetries,
        // The embed pipeline's adaptive concurrency retries 429/503 on one shared clock.
        retryOverload: !config.adaptiveConcurrency,
        ...(config.apiKey ? { apiKey: config.apiKey } : {}),
        ...(config.endOfTextToken ? { endOfTextToken: config.endOfTextToken } : {}),
      });
    case "transformers":
      // A hub model must be in the cache by now (the CLI downloads it first); this never downloads.
      return createTransformersEmbedder({
        ...(config.modelPath === undefined
          ? {
              model: config.model,
              revision: config.revision,
              ...(config.cacheDir === undefined ? {} : { cacheDir: config.cacheDir }),
            }
          : { modelPath: config.modelPath }),
        dimensions: config.dimensions,
        pooling: config.pooling,
        dtype: config.dtype,
        ...(config.endOfTextToken ? { endOfTextToken: config.endOfTextToken } : {}),
      });
  }
}
