import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { assertVectors, type Embedder, EmbedderResponseError } from "./embedder.ts";
import { findCachedModel, modelCachePath } from "./model-hub.ts";
import { EmbedderConfigError } from "./openai.ts";

/** Options of {@link createTransformersEmbedder}. */
export interface TransformersEmbedderOptions {
  /**
   * A local model folder in the Hugging Face layout: `config.json`, `tokenizer.json`,
   * `tokenizer_config.json` and `onnx/model.onnx` (or `onnx/model_quantized.onnx` with
   * `dtype: "q8"`), as `optimum-cli export onnx` or the `Xenova/*` repositories provide.
   * Give this or `model`; this wins when both are given.
   */
  readonly modelPath?: string;
  /**
   * A hub model id (`Xenova/all-MiniLM-L6-v2`) whose files are already in the model cache
   * (see `downloadHubModel`): the embedder itself never downloads.
   */
  readonly model?: string;
  /** With `model`: the revision it was downloaded at; default `main`. */
  readonly revision?: string;
  /** With `model`: the model cache folder; default `defaultModelCacheDir()`. */
  readonly cacheDir?: string;
  /** Vector length expected; must equal the model's `hidden_size`. Default: that size. */
  readonly dimensions?: number;
  /** How token vectors become one vector: their mean over the text (default) or the first. */
  readonly pooling?: "mean" | "cls";
  /** Which weights file: `fp32` (`model.onnx`, default) or `q8` (`model_quantized.onnx`). */
  readonly dtype?: "fp32" | "q8";
  /** Appended to every text sent (never to stored text), for models trained with one. */
  readonly endOfTextToken?: string;
}

const ONNX_FILE = { fp32: "model.onnx", q8: "model_quantized.onnx" } as const;

interface FeatureExtractor {
  (
    texts: string[],
    options: { pooling: "mean" | "cls"; normalize: boolean },
  ): Promise<{ dims: number[]; tolist(): unknown }>;
  dispose(): Promise<void>;
}

/**
 * An embedder that runs a local ONNX model in-process through `@huggingface/transformers`
 * (an optional dependency), fully offline: remote models are switched off, so a model that is
 * not on disk fails instead of downloading. A hub model is fetched beforehand, by
 * `downloadHubModel`, into the cache this reads. Vectors are pooled and L2-normalized.
 *
 * The folder and its `config.json` are checked here, so a bad path fails before any file is
 * read; the library and the model load on the first `embed` call.
 */
export function createTransformersEmbedder(options: TransformersEmbedderOptions): Embedder {
  const dtype = options.dtype ?? "fp32";
  const { modelPath, name } = locateModel(options, dtype);
  const pooling = options.pooling ?? "mean";
  const suffix = options.endOfTextToken ?? "";
  const hiddenSize = readHiddenSize(modelPath);
  for (const file of ["tokenizer.json", "tokenizer_config.json", join("onnx", ONNX_FILE[dtype])]) {
    if (!existsSync(join(modelPath, file))) {
      throw new EmbedderConfigError(`transformers embedder: no ${file} in ${modelPath}`);
    }
  }
  if (options.dimensions !== undefined && options.dimensions !== hiddenSize) {
    throw new EmbedderConfigError(
      `transformers embedder: dimensions is ${options.dimensions}, but the model at ${modelPath} ` +
        `makes ${hiddenSize}-dimensional vectors (config.json hidden_size); set dimensions to ${hiddenSize}`,
    );
  }

  let loading: Promise<FeatureExtractor> | undefined;
  const load = (): Promise<FeatureExtractor> => {
    loading ??= loadExtractor(modelPath, dtype);
    return loading;
  };
  const source = `transformers model ${name}`;

  return {
    id: `transformers:${name}:${dtype}:${pooling}:${hiddenSize}${suffix ? ":eot" : ""}`,
    dimensions: hiddenSize,
    async embed(texts, signal) {
      signal?.throwIfAborted();
      if (texts.length === 0) return [];
      const extractor = await load();
      signal?.throwIfAborted();
      const output = await extractor(
        texts.map((t) => t + suffix),
        { pooling, normalize: true },
      );
      // Inference cannot be interrupted; its result is dropped when the run was cancelled.
      signal?.throwIfAborted();
      const vectors = output.tolist();
      if (!Array.isArray(vectors)) {
        throw new EmbedderResponseError(`${source} returned no list of vectors`);
      }
      assertVectors(vectors as number[][], texts.length, hiddenSize, source);
      return vectors as number[][];
    },
    async close() {
      if (loading === undefined) return;
      const pending = loading;
      loading = undefined;
      await pending.then(
        (extractor) => extractor.dispose(),
        () => {},
      );
    },
  };
}

/**
 * The model's folder and the name its embedder id carries: a local folder's base name, or the
 * hub id (with `@revision` for a revision other than `main`) of a cached hub model.
 */
function locateModel(
  options: TransformersEmbedderOptions,
  dtype: "fp32" | "q8",
): { modelPath: string; name: string } {
  if (options.modelPath !== undefined) {
    const modelPath = resolve(options.modelPath);
    return { modelPath, name: basename(modelPath) };
  }
  if (options.model === undefined) {
    throw new EmbedderConfigError(
      "transformers embedder: give modelPath (a local model folder) or model (a hub model id)",
    );
  }
  const ref = {
    model: options.model,
    dtype,
    ...(options.revision === undefined ? {} : { revision: options.revision }),
    ...(options.cacheDir === undefined ? {} : { cacheDir: options.cacheDir }),
  };
  const modelPath = findCachedModel(ref);
  if (modelPath === undefined) {
    throw new EmbedderConfigError(
      `transformers embedder: model ${options.model} is not in the model cache ` +
        `(${modelCachePath(ref)}); download it first: the sluice command does so unless ` +
        "--offline is given, code calls downloadHubModel()",
    );
  }
  const revision = options.revision ?? "main";
  return { modelPath, name: revision === "main" ? options.model : `${options.model}@${revision}` };
}

function readHiddenSize(modelPath: string): number {
  const file = join(modelPath, "config.json");
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(file, "utf8"));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new EmbedderConfigError(
      code === "ENOENT"
        ? `transformers embedder: no model folder with a config.json at ${modelPath}`
        : `transformers embedder: cannot read ${file} (${code ?? (error as Error).message})`,
    );
  }
  const size = (config as { hidden_size?: unknown } | null)?.hidden_size;
  if (typeof size !== "number" || !Number.isInteger(size) || size < 1) {
    throw new EmbedderConfigError(`transformers embedder: ${file} has no positive hidden_size`);
  }
  return size;
}

/** Loads run one at a time: each points the library's global `env.localModelPath` at its folder. */
let loads: Promise<unknown> = Promise.resolve();

function loadExtractor(modelPath: string, dtype: "fp32" | "q8"): Promise<FeatureExtractor> {
  const load = loads.then(() => loadOne(modelPath, dtype));
  loads = load.catch(() => {});
  return load;
}

async function loadOne(modelPath: string, dtype: "fp32" | "q8"): Promise<FeatureExtractor> {
  let transformers: typeof import("@huggingface/transformers");
  try {
    transformers = await import("@huggingface/transformers");
  } catch (error) {
    throw new EmbedderConfigError(
      "transformers embedder: the optional dependency @huggingface/transformers is not installed " +
        `(npm install @huggingface/transformers): ${(error as Error).message}`,
    );
  }
  const { env, pipeline } = transformers;
  // Offline by construction: a model missing on disk is an error, never a download.
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = dirname(modelPath);
  const extractor = await pipeline("feature-extraction", basename(modelPath), {
    local_files_only: true,
    dtype,
  });
  return extractor as unknown as FeatureExtractor;
}
