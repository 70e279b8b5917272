import { createRequire } from "node:module";
import type OpenAI from "openai";
import { abortableSleep } from "sluice";
import { redactUrl } from "../redact.ts";
import { parseAnswerBytes } from "./answer-json.ts";
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
  /** Per-attempt limit on the whole answer, headers and body; default 60 s. */
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
  /**
   * Connection failures in a row (refused, unknown host, unreachable host or network), over
   * all calls, after which the endpoint counts as unreachable: from then on every call fails at
   * once with {@link EndpointUnreachableError}; default 3. Any answer from the server resets it.
   */
  readonly unreachableAfter?: number;
  /**
   * Retry a 429 or 503 answer here, after its Retry-After (default true). False throws it at
   * once, as an {@link EmbeddingRequestError} with its `status` and `retryAfterMs`, for a
   * caller that paces itself: the embed pipeline's adaptive concurrency pauses every request
   * on one clock, where retries here would each wait alone.
   */
  readonly retryOverload?: boolean;
}

/** Thrown when the options cannot make a working embedder (no API key, bad numbers). */
export class EmbedderConfigError extends Error {
  override readonly name = "EmbedderConfigError";
}

/** Thrown when embedding fails for good: not retryable, or retries exhausted. */
export class EmbeddingRequestError extends Error {
  override readonly name = "EmbeddingRequestError";
  /** `EMBED_TIMEOUT` when the last attempt timed out, else `EMBED_FAILED`. */
  readonly code: string;
  /** Whether the last failure was of a kind that a later attempt may get past (429, 5xx, timeout…). */
  readonly retryable: boolean;
  /** The wait the server asked for (Retry-After), when it asked for one. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    /** HTTP status of the last answer, if there was one. */
    readonly status: number | undefined,
    /** Attempts made, the first included. */
    readonly attempts: number,
    options?: { cause?: unknown; code?: string; retryable?: boolean; retryAfterMs?: number },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = options?.code ?? "EMBED_FAILED";
    this.retryable = options?.retryable ?? false;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/**
 * One attempt got no complete answer (headers and whole body) within `timeoutMs`. Retryable:
 * the embedder retries it, and a pipeline's retry policy may too.
 */
export class EmbeddingTimeoutError extends Error {
  override readonly name = "EmbeddingTimeoutError";
  readonly code = "EMBED_TIMEOUT";
  readonly retryable = true;
  constructor(
    /** The endpoint, secrets redacted. */
    readonly endpoint: string,
    readonly timeoutMs: number,
    options?: { cause?: unknown },
  ) {
    super(
      `no complete answer from ${endpoint} within ${timeoutMs} ms (the timeout covers the headers and the whole body)`,
      options,
    );
  }
}

/** What each connection failure code means, in words. */
const UNREACHABLE_CAUSES: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  BAD_PORT: "port blocked by fetch",
};

/**
 * Nothing answers at the endpoint: connections failed `unreachableAfter` times in a row. Every
 * later call of the same embedder fails at once with this same error, so a run can stop with
 * one message instead of one per batch. Not retryable.
 */
export class EndpointUnreachableError extends Error {
  override readonly name = "EndpointUnreachableError";
  readonly code = "ENDPOINT_UNREACHABLE";
  readonly retryable = false;
  constructor(
    /** The endpoint, secrets redacted. */
    readonly endpoint: string,
    /** The system error code of the last failure, e.g. `ECONNREFUSED`. */
    readonly reason: string,
    /** Connection failures in a row that led to giving up. */
    readonly failures: number,
    options?: { cause?: unknown },
  ) {
    super(
      `embedding endpoint unreachable: ${UNREACHABLE_CAUSES[reason] ?? reason} at ${endpoint} ` +
        `(${reason}, ${failures} connection attempts in a row failed); check that the server is ` +
        "running and that the endpoint URL is right",
      options,
    );
  }
}

const requireHere = createRequire(import.meta.url);
type Sdk = typeof import("openai");
let sdkLoad: Promise<Sdk> | undefined;

/**
 * The client library, loaded on first use: a run with another embedder never pays for it.
 * Through `require` (the package ships CommonJS too), not `import()`: run from TypeScript
 * sources, every ES module the client is made of (over a hundred) is resolved and loaded through
 * tsx's hooks on a thread of their own, ~370 ms of CPU against ~150 ms for `require`, taken from
 * the worker that prepares the first files (docs/performance.md). A microtask later, so that
 * a failure rejects here rather than throwing from the embedder's constructor.
 */
function loadSdk(): Promise<Sdk> {
  sdkLoad ??= Promise.resolve().then(() => requireHere("openai") as Sdk);
  return sdkLoad;
}

/**
 * An embedder for any OpenAI-compatible `/v1/embeddings` endpoint through the official client.
 *
 * Retries are done here, with the client's own retries off: the client does honour Retry-After,
 * but its wait between attempts ignores the abort signal and has no upper bound, so a cancelled
 * run could hang for as long as a server asks. Here each wait is capped and ends on abort.
 *
 * The body is read here too (the client's timeout ends with the headers): `timeoutMs` covers
 * the whole answer, its size is capped, and anything but an embeddings list of finite, non-zero
 * vectors is an {@link EmbedderResponseError}. Connection failures in a row make the endpoint
 * unreachable for good (see {@link EndpointUnreachableError}).
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
  const retryOverload = options.retryOverload ?? true;
  const baseDelay = options.retryBaseDelayMs ?? 500;
  const maxDelay = options.maxRetryDelayMs ?? 60_000;
  checkInteger("timeoutMs", timeoutMs, 1);
  checkInteger("maxRetries", maxRetries, 0);
  checkInteger("retryBaseDelayMs", baseDelay, 0);
  checkInteger("maxRetryDelayMs", maxDelay, 0);
  const unreachableAfter = options.unreachableAfter ?? 3;
  checkInteger("unreachableAfter", unreachableAfter, 1);
  const encodingFormat = options.encodingFormat ?? "base64";
  const suffix = options.endOfTextToken ?? "";
  const baseURL = options.baseUrl ?? "https://api.openai.com/v1";
  const endpoint = redactUrl(baseURL);

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
  // Loading the client takes a few hundred ms: begun now, it overlaps reading and splitting the
  // first files instead of delaying the first request. A failure shows on that request. So does
  // Node's fetch (undici), which Node loads on first use: a Headers object loads it now.
  connect()
    .then(() => new Headers())
    .catch(() => undefined);

  // Shared by every call: connection failures in a row, and the verdict once they are too many.
  let connectionFailures = 0;
  let unreachable: EndpointUnreachableError | undefined;
  /** Calls waiting to retry: woken when the endpoint is declared unreachable. */
  const waiting = new Set<AbortController>();
  const giveUp = (error: EndpointUnreachableError) => {
    unreachable ??= error;
    for (const waiter of waiting) waiter.abort(unreachable);
    waiting.clear();
    return unreachable;
  };
  const pause = async (ms: number, signal: AbortSignal | undefined) => {
    const waiter = new AbortController();
    const onAbort = () => waiter.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    waiting.add(waiter);
    try {
      await abortableSleep(ms, waiter.signal);
    } finally {
      waiting.delete(waiter);
      signal?.removeEventListener("abort", onAbort);
    }
  };

  /**
   * One request, with its own deadline over the whole answer: the client's timeout stops at the
   * headers, so a body that never ends would hang without it. The caller's signal aborts it too.
   */
  const attempt = async (
    client: OpenAI,
    sdk: Sdk,
    input: string[],
    signal: AbortSignal | undefined,
  ): Promise<number[][]> => {
    const deadline = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      deadline.abort();
    }, timeoutMs);
    const onAbort = () => deadline.abort(signal?.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    try {
      const response = await client.embeddings
        .create(
          {
            model: options.model,
            input,
            encoding_format: encodingFormat,
            ...(options.sendDimensions ? { dimensions: options.dimensions } : {}),
          },
          { timeout: timeoutMs, maxRetries: 0, signal: deadline.signal },
        )
        .asResponse();
      connectionFailures = 0;
      const limit = answerLimit(input.length, options.dimensions);
      const body = await readBody(response, limit, endpoint);
      return decodeAnswer(response, body, input.length, endpoint);
    } catch (error) {
      if (signal?.aborted) throw error;
      if (timedOut || error instanceof sdk.APIConnectionTimeoutError) {
        throw new EmbeddingTimeoutError(endpoint, timeoutMs, { cause: error });
      }
      throw error;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  };

  return {
    id: `openai:${options.model}:${options.dimensions}${suffix ? ":eot" : ""}`,
    dimensions: options.dimensions,
    async embed(texts, signal) {
      signal?.throwIfAborted();
      if (unreachable) throw unreachable;
      if (texts.length === 0) return [];
      const input = texts.map((text) => text + suffix);
      const { sdk, client } = await connect();
      for (let tries = 1; ; tries++) {
        let vectors: number[][];
        try {
          vectors = await attempt(client, sdk, input, signal);
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (unreachable) throw unreachable;
          const reason = unreachableReason(sdk, error);
          if (reason !== undefined) {
            connectionFailures += 1;
            if (connectionFailures >= unreachableAfter) {
              throw giveUp(
                new EndpointUnreachableError(endpoint, reason, connectionFailures, {
                  cause: error,
                }),
              );
            }
          } else {
            // Something answered (even with an error or too slowly): the endpoint is reachable.
            connectionFailures = 0;
          }
          if (
            !isRetryable(sdk, error) ||
            tries > maxRetries ||
            (!retryOverload && isOverloadAnswer(sdk, error))
          ) {
            throw finalError(sdk, error, tries, endpoint);
          }
          const wait = Math.min(retryDelay(sdk, error, tries, baseDelay), maxDelay);
          try {
            await pause(wait, signal);
          } catch (woken) {
            if (signal?.aborted) throw signal.reason;
            throw woken;
          }
          continue;
        }
        assertVectors(
          vectors,
          texts.length,
          options.dimensions,
          `embedding model ${options.model}`,
        );
        return vectors;
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

/**
 * Reads a 2xx answer's body: it must be JSON with a `data` list. Anything else (an HTML page
 * from a proxy, an empty or cut-off body) is an {@link EmbedderResponseError} naming the
 * status, the content type and an escaped excerpt of the body.
 */
export function decodeAnswer(
  response: { readonly status: number; readonly headers: { get(name: string): string | null } },
  bytes: Uint8Array,
  expected: number,
  endpoint: string,
): number[][] {
  const scanned = parseAnswerBytes(bytes);
  if (scanned !== undefined) return decodeEmbeddings(scanned.data as unknown[], expected);
  // TextDecoder, like Response.text(), drops a byte-order mark and replaces invalid bytes.
  const body = new TextDecoder().decode(bytes);
  const contentType = response.headers.get("content-type");
  const bad = (what: string) =>
    new EmbedderResponseError(
      `embedding endpoint ${endpoint} answered HTTP ${response.status} with ` +
        `${contentType ? `content type ${contentType}` : "no content type"} and ${what}`,
    );
  if (body.trim() === "") throw bad(`an empty body${body === "" ? "" : " (only white space)"}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw bad(`a body that is not valid JSON: ${excerpt(body)}`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw bad(`no "data" list in its body: ${excerpt(body)}`);
  return decodeEmbeddings(data, expected);
}

/**
 * Most bytes an answer for `count` vectors may take: 64 per number (a float in JSON, with room
 * for pretty-printing) plus 1 MiB for the rest. A body past it is not an embeddings answer.
 */
function answerLimit(count: number, dimensions: number): number {
  return 1024 * 1024 + count * dimensions * 64;
}

/** The body's bytes, failing as soon as they grow past `limit`. */
async function readBody(response: Response, limit: number, endpoint: string): Promise<Buffer> {
  const tooLarge = () =>
    new EmbedderResponseError(
      `embedding endpoint ${endpoint} answered HTTP ${response.status} with a body larger than ${limit} bytes, more than any answer to this request`,
    );
  const declared = Number(response.headers.get("content-length") ?? Number.NaN);
  if (declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (response.body === null) return Buffer.alloc(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The start of a body, quoted, with control and invisible characters escaped as `\uXXXX`: a
 * body is whatever a server sent, and it goes to a terminal.
 */
function excerpt(body: string, max = 200): string {
  let out = "";
  let count = 0;
  for (const char of body) {
    if (count++ === max) break;
    const code = char.codePointAt(0) ?? 0;
    out += isInvisible(code) ? `\\u${code.toString(16).padStart(4, "0")}` : char;
  }
  const more = count > max ? ` … (${body.length} characters)` : "";
  return `"${out}"${more}`;
}

/** C0 and C1 controls, DEL, line and paragraph separators, bidi overrides and isolates, lone surrogates. */
function isInvisible(code: number): boolean {
  return (
    code < 0x20 ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069) ||
    (code >= 0xd800 && code <= 0xdfff)
  );
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
    // A view where the bytes are aligned (a large decode gets a buffer of its own), else a
    // copy: a pooled Buffer's byteOffset need not be a multiple of 4. Then a plain loop:
    // Array.from over a typed array goes through the iterator, about 6 times slower here.
    const floats =
      bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4)
        : new Float32Array(new Uint8Array(bytes).buffer);
    const vector = new Array<number>(floats.length);
    for (let i = 0; i < floats.length; i++) vector[i] = floats[i] as number;
    return vector;
  }
  if (Array.isArray(embedding) && embedding.every((x) => typeof x === "number")) {
    return embedding as number[];
  }
  throw new EmbedderResponseError("embedding is neither a number array nor a base64 string");
}

/** A 429 or 503 answer: the server is overloaded or rate-limiting. */
function isOverloadAnswer(sdk: Sdk, error: unknown): boolean {
  return error instanceof sdk.APIError && (error.status === 429 || error.status === 503);
}

/** The server's Retry-After of an answer, in milliseconds, if it sent one. */
function requestedWait(sdk: Sdk, error: unknown): number | undefined {
  const headers = error instanceof sdk.APIError ? error.headers : undefined;
  if (!headers?.get("retry-after-ms") && !headers?.get("retry-after")) return undefined;
  return retryDelay(sdk, error, 1, 0);
}

function isRetryable(sdk: Sdk, error: unknown): boolean {
  if (error instanceof EmbeddingTimeoutError) return true;
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

/** The code of a failure to connect at all (see {@link UNREACHABLE_CAUSES}), found in its causes. */
function unreachableReason(sdk: Sdk, error: unknown): string | undefined {
  if (
    !(error instanceof sdk.APIConnectionError) ||
    error instanceof sdk.APIConnectionTimeoutError
  ) {
    return undefined;
  }
  return (
    systemCode(error, (code) => code in UNREACHABLE_CAUSES) ??
    // fetch refuses some ports outright (e.g. 9, 25, 6000), with a message and no code.
    (causes(error).some((e) => (e as { message?: unknown }).message === "bad port")
      ? "BAD_PORT"
      : undefined)
  );
}

/** The first system error code in an error's causes that fits. */
function systemCode(error: unknown, fits: (code: string) => boolean): string | undefined {
  for (const current of causes(error)) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && fits(code)) return code;
  }
  return undefined;
}

/** An error, its causes and an AggregateError's errors, breadth first, at most 20. */
function causes(error: unknown): object[] {
  const found: object[] = [];
  const queue: unknown[] = [error];
  while (queue.length > 0 && found.length < 20) {
    const current = queue.shift();
    if (current === null || typeof current !== "object" || found.includes(current)) continue;
    found.push(current);
    const { cause, errors } = current as { cause?: unknown; errors?: unknown };
    queue.push(cause);
    if (Array.isArray(errors)) queue.push(...errors);
  }
  return found;
}

function finalError(sdk: Sdk, error: unknown, tries: number, endpoint: string): Error {
  if (error instanceof EmbedderResponseError) return error;
  const status = error instanceof sdk.APIError ? error.status : undefined;
  let reason = error instanceof Error ? error.message : String(error);
  // The client says only "Connection error."; the system code says what went wrong.
  const code =
    error instanceof sdk.APIConnectionError
      ? systemCode(error, (c) => /^E[A-Z_]+$/.test(c))
      : undefined;
  if (code !== undefined) reason += ` (${UNREACHABLE_CAUSES[code] ?? code}, ${code})`;
  const retried = tries > 1 ? ` after ${tries} attempts` : "";
  return new EmbeddingRequestError(
    `embedding request to ${endpoint} failed${retried}: ${reason}`,
    typeof status === "number" ? status : undefined,
    tries,
    {
      cause: error,
      ...(error instanceof EmbeddingTimeoutError ? { code: error.code } : {}),
      retryable: isRetryable(sdk, error),
      ...(isOverloadAnswer(sdk, error) ? { retryAfterMs: requestedWait(sdk, error) } : {}),
    },
  );
}
