import type OpenAI from "openai";
import { abortableSleep } from "sluice";
import { assertVectors, type Embedder, EmbedderResponseError } from "./embedder.ts";

/** Options of {@link createOpenAIEmbedder}. */
export interface OpenAIEmbedderOptions {
  readonly model: string;
  /** Length of the vectors the model returns; every answer is checked against it. */
  readonly dimensions: number;
  /** Base URL of an OpenAI-compatible API, including `/v1`; default OpenAI's. */
  readonly baseUrl?: string;
  /** Falls back to the OPENAI_API_KEY environment variable. */
  readonly apiKey?: string;
  /** Per-attempt request timeout; default 60 s. */
  readonly timeoutMs?: number;
  /** Retries after a 408/409/429/5xx answer, a timeout or a network error; default 5. */
  readonly maxRetries?: number;
  /** First backoff delay when the server gives no Retry-After; doubles per retry; default 500 ms. */
  readonly retryBaseDelayMs?: number;
  /** Upper bound on any wait between attempts, Retry-After included; default 60 s. */
  readonly maxRetryDelayMs?: number;
  /** Appended to every text sent (never to stored text), for models trained with one. */
  readonly endOfTextToken?: string;
  /** Wire format asked for; default base64 (smaller). Either answer format is understood. */
  readonly encodingFormat?: "base64" | "float";
  /** Send `dimensions` in the request (models that can shorten vectors); default false. */
  readonly sendDimensions?: boolean;
  /** Replaces the global fetch, e.g. to route through a proxy agent. */
  readonly fetch?: typeof fetch;
}

/** Thrown when the options cannot make a working embedder (no API key, bad numbers). */
export class EmbedderConfigError extends Error {
  override readonly name = "EmbedderConfigError";
}

/** Thrown when embedding fails for good: not retryable, or retries exhausted. */
export class EmbeddingRequestError extends Error {
  override readonly name = "EmbeddingRequestError";
  constructor(
    message: string,
    /** HTTP status of the last answer, if there was one. */
    readonly status: number | undefined,
    /** Attempts made, the first included. */
    readonly attempts: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

type Sdk = typeof import("openai");
let sdkLoad: Promise<Sdk> | undefined;

/** The client library, loaded on first use: a run with another embedder never pays for it. */
function loadSdk(): Promise<Sdk> {
  sdkLoad ??= import("openai");
  return sdkLoad;
}

/**
 * An embedder for any OpenAI-compatible `/v1/embeddings` endpoint through the official client.
 *
 * Retries are done here, with the client's own retries off: the client does honour Retry-After,
 * but its wait between attempts ignores the abort signal and has no upper bound, so a cancelled
 * run could hang for as long as a server asks. Here each wait is capped and ends on abort.
 */
export function createOpenAIEmbedder(options: OpenAIEmbedderOptions): Embedder {
  const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
  if (!apiKey) {
    throw new EmbedderConfigError(
      "OpenAI embedder needs an API key: set embedder.apiKey or OPENAI_API_KEY " +
        "(any placeholder for a server without authentication)",
    );
  }
  if (!options.model) throw new EmbedderConfigError("OpenAI embedder needs a model name");
  checkInteger("dimensions", options.dimensions, 1);
  const timeoutMs = options.timeoutMs ?? 60_000;
  const maxRetries = options.maxRetries ?? 5;
  const baseDelay = options.retryBaseDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 60_000;
  checkInteger("timeoutMs", timeoutMs, 1);
  checkInteger("maxRetries", maxRetries, 0);
  checkInteger("retryBaseDelayMs", baseDelay, 0);
  checkInteger("maxRetryDelayMs", maxDelay, 0);
  const encodingFormat = options.encodingFormat ?? "base64";
  const suffix = options.endOfTextToken ?? "";
  const baseURL = options.baseUrl ?? "https://api.openai.com/v1";

  let connecting: Promise<{ readonly sdk: Sdk; readonly client: OpenAI }> | undefined;
  const connect = () => {
    connecting ??= loadSdk().then((sdk) => ({
      sdk,
      client: new sdk.default({
        apiKey,
        baseURL,
        timeout: timeoutMs,
        maxRetries: 0,
        ...(options.fetch ? { fetch: options.fetch } : {}),
      }),
    }));
    return connecting;
  };

  const attempt = async (
    client: OpenAI,
    input: string[],
    signal: AbortSignal | undefined,
  ): Promise<number[][]> => {
    const response = await client.embeddings.create(
      {
        model: options.model,
        input,
        encoding_format: encodingFormat,
        ...(options.sendDimensions ? { dimensions: options.dimensions } : {}),
      },
      { timeout: timeoutMs, maxRetries: 0, ...(signal ? { signal } : {}) },
    );
    return decodeEmbeddings(response.data as readonly unknown[], input.length);
  };

  return {
    id: `openai:${options.model}:${options.dimensions}${suffix ? ":eot" : ""}`,
    dimensions: options.dimensions,
    async embed(texts, signal) {
      signal?.throwIfAborted();
      if (texts.length === 0) return [];
      const input = texts.map((text) => text + suffix);
      const { sdk, client } = await connect();
      for (let tries = 1; ; tries++) {
        try {
          const vectors = await attempt(client, input, signal);
          assertVectors(
            vectors,
            texts.length,
            options.dimensions,
            `embedding model ${options.model}`,
          );
          return vectors;
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (!isRetryable(sdk, error) || tries > maxRetries) {
            throw finalError(sdk, error, tries, baseURL);
          }
          const wait = Math.min(retryDelay(sdk, error, tries, baseDelay), maxDelay);
          await abortableSleep(wait, signal);
        }
      }
    },
  };
}

function checkInteger(name: string, value: number, min: number): void {
  if (!Number.isInteger(value) || value < min) {
    throw new EmbedderConfigError(
      `OpenAI embedder option ${name} must be an integer >= ${min}, got ${value}`,
    );
  }
}

/** Reads `data` of an embeddings answer in index order; each vector may be floats or base64. */
export function decodeEmbeddings(data: readonly unknown[], expected: number): number[][] {
  const out = new Array<number[] | undefined>(expected).fill(undefined);
  data.forEach((item, position) => {
    const { index, embedding } = (item ?? {}) as { index?: unknown; embedding?: unknown };
    const at = typeof index === "number" ? index : position;
    if (!Number.isInteger(at) || at < 0 || at >= expected || out[at] !== undefined) {
      throw new EmbedderResponseError(
        `embedding answer has a bad or repeated index ${String(index)}`,
      );
    }
    out[at] = decodeVector(embedding);
  });
  const missing = out.indexOf(undefined);
  if (missing !== -1 || data.length !== expected) {
    throw new EmbedderResponseError(
      `embedding answer has ${data.length} vectors for ${expected} texts`,
    );
  }
  return out as number[][];
}

function decodeVector(embedding: unknown): number[] {
  if (typeof embedding === "string") {
    const bytes = Buffer.from(embedding, "base64");
    if (bytes.length % 4 !== 0) {
      throw new EmbedderResponseError("base64 embedding is not a whole number of float32 values");
    }
    // Copy into an aligned buffer: a Buffer's byteOffset need not be a multiple of 4.
    const floats = new Float32Array(new Uint8Array(bytes).buffer);
    return Array.from(floats);
  }
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === "number")) {
    return embedding as number[];
  }
  throw new EmbedderResponseError("embedding is neither a number array nor a base64 string");
}

function isRetryable(sdk: Sdk, error: unknown): boolean {
  if (error instanceof sdk.APIUserAbortError) return false;
  // Covers resets, refused connections and timeouts (APIConnectionTimeoutError is a subclass).
  if (error instanceof sdk.APIConnectionError) return true;
  if (error instanceof sdk.APIError && typeof error.status === "number") {
    return [408, 409, 429].includes(error.status) || error.status >= 500;
  }
  return false;
}

/** The server's Retry-After (ms header first, then seconds or HTTP date), else exponential backoff. */
function retryDelay(sdk: Sdk, error: unknown, tries: number, baseDelay: number): number {
  const headers = error instanceof sdk.APIError ? error.headers : undefined;
  const ms = Number.parseFloat(headers?.get("retry-after-ms") ?? "");
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const retryAfter = headers?.get("retry-after");
  if (retryAfter) {
    const seconds = Number.parseFloat(retryAfter);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(retryAfter);
    if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  }
  // Jitter spreads concurrent clients that failed together.
  return baseDelay * 2 ** (tries - 1) * (0.75 + Math.random() * 0.25);
}

function finalError(sdk: Sdk, error: unknown, tries: number, baseURL: string): Error {
  if (error instanceof EmbedderResponseError) return error;
  const status = error instanceof sdk.APIError ? error.status : undefined;
  const reason = error instanceof Error ? error.message : String(error);
  const retried = tries > 1 ? ` after ${tries} attempts` : "";
  return new EmbeddingRequestError(
    `embedding request to ${baseURL} failed${retried}: ${reason}`,
    typeof status === "number" ? status : undefined,
    tries,
    { cause: error },
  );
}
