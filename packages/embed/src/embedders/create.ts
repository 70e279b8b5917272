import type { EmbedConfig } from "../config.ts";
import type { Embedder } from "./embedder.ts";
import { createHashEmbedder } from "./hash.ts";
import { createOpenAIEmbedder, EmbedderConfigError } from "./openai.ts";
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
        ...(config.apiKey ? { apiKey: config.apiKey } : {}),
        ...(config.endOfTextToken ? { endOfTextToken: config.endOfTextToken } : {}),
      });
    case "transformers":
      if (config.modelPath === undefined) {
        throw new EmbedderConfigError('embedder.kind "transformers" needs embedder.modelPath');
      }
      return createTransformersEmbedder({
        modelPath: config.modelPath,
        dimensions: config.dimensions,
        pooling: config.pooling,
        dtype: config.dtype,
        ...(config.endOfTextToken ? { endOfTextToken: config.endOfTextToken } : {}),
      });
  }
}
