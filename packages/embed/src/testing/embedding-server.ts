import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { hashEmbedding } from "../embedders/hash.ts";
import { countCl100kTokens } from "../steps/token-count.ts";

/** A failure the server answers the next request with, instead of embeddings. */
export type EmbeddingFault =
  /** An HTTP error status, optionally with `Retry-After` (seconds or an HTTP date) or `retry-after-ms`. */
  | {
      readonly kind: "status";
      readonly status: number;
      readonly retryAfter?: string;
      readonly retryAfterMs?: string;
    }
  /** The connection is destroyed without an answer (the client sees a reset). */
  | { readonly kind: "reset" }
  /** The answer is held back this long (to trip client timeouts). */
  | { readonly kind: "delay"; readonly ms: number }
  /**
   * A 200 with JSON headers and the start of a body that never ends: the connection stays open
   * until the client gives up or the server closes.
   */
  | { readonly kind: "stall" }
  /** A 200 whose JSON body goes on forever, written as fast as the client reads it. */
  | { readonly kind: "flood" }
  /** A raw answer instead of embeddings: e.g. an HTML page or an empty body with status 200. */
  | {
      readonly kind: "body";
      readonly body: string;
      /** Default 200. */
      readonly status?: number;
      /** Sent as is when set; no content-type header otherwise. */
      readonly contentType?: string;
    }
  /** Real embeddings, except that the vector at `index` (default 0) is spoiled. */
  | {
      readonly kind: "vector";
      readonly value: "zero" | "nan" | "infinity";
      readonly index?: number;
    };

/** Options of {@link startEmbeddingServer}. */
export interface EmbeddingServerOptions {
  /** Vector length when the request names none; default 384. */
  readonly dimensions?: number;
  /** Added before every answer, for benchmarks that model network and model time. */
  readonly latencyMs?: number;
  /** When set, requests must carry `Authorization: Bearer <apiKey>`. */
  readonly apiKey?: string;
  /** Most inputs per request, as real APIs limit them; default 2048. */
  readonly maxInputs?: number;
  /**
   * Enforces requests and tokens per minute as a real API does: token buckets holding
   * `burstMs` of each rate (default 10 s), refilling continuously; a request past either is
   * answered 429 with `Retry-After` (default "1"). Tokens are counted with cl100k_base.
   */
  readonly rateLimits?: {
    readonly rpm?: number;
    readonly tpm?: number;
    readonly burstMs?: number;
    readonly retryAfter?: string;
  };
}

/** What the rate limits of a server did: the figures a rate-limit benchmark reports. */
export interface EmbeddingServerRateStats {
  /** Requests answered 429 by the rate limits. */
  readonly limited: number;
  /** Requests the rate limits let through, with when (ms, `performance.now()`) and their tokens. */
  readonly accepted: readonly { readonly at: number; readonly tokens: number }[];
}

/** What the server saw of one embeddings request. */
export interface RecordedRequest {
  readonly model: string;
  readonly input: readonly string[];
  readonly encodingFormat: "float" | "base64";
  readonly dimensions: number | undefined;
  readonly authorization: string | undefined;
  /** The fault answered instead of embeddings, if any. */
  readonly fault: EmbeddingFault["kind"] | undefined;
}

/** How busy a server was: what a benchmark needs to check that requests really overlapped. */
export interface EmbeddingServerLoad {
  /** Embeddings requests answered or failed, faults included. */
  readonly requests: number;
  /** Most embeddings requests being handled at once (latency wait included). */
  readonly maxConcurrent: number;
  /**
   * Mean number of requests being handled at once, from the first request's arrival to the last
   * one's end: the sum of every request's time in the server ÷ that span; 0 before any request.
   */
  readonly meanConcurrent: number;
}

/** A running loopback server speaking the OpenAI `/v1/embeddings` API. */
export interface EmbeddingServer {
  /** Base URL including `/v1`, for an OpenAI client's `baseURL`. */
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  /** Request counts and concurrency so far. */
  load(): EmbeddingServerLoad;
  /** What the rate limits did so far (all zero without `rateLimits`). */
  rateStats(): EmbeddingServerRateStats;
  /** Queues faults; each answers one request, in order, before normal service resumes. */
  injectFaults(...faults: EmbeddingFault[]): void;
  /** Drops the faults still queued (a test that failed early may leave some behind). */
  clearFaults(): void;
  close(): Promise<void>;
}

/**
 * Starts a loopback (127.0.0.1, free port) server that answers `POST /v1/embeddings` like the
 * OpenAI API, with real vectors from the offline hash embedder (a fixed unit vector for a text
 * without words), as float arrays or as base64 of little-endian float32 per `encoding_format`.
 * Queued faults let tests prove retries, timeouts and response checks; tests and benchmarks
 * must `close()` it.
 */
export async function startEmbeddingServer(
  options: EmbeddingServerOptions = {},
): Promise<EmbeddingServer> {
  const defaultDimensions = options.dimensions ?? 384;
  const maxInputs = options.maxInputs ?? 2048;
  const faults: EmbeddingFault[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const busy = { active: 0, requests: 0, max: 0, totalMs: 0, firstAt: 0, lastAt: 0 };
  const limits = options.rateLimits === undefined ? undefined : rateGate(options.rateLimits);
  const rate = { limited: 0, accepted: [] as { at: number; tokens: number }[] };

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      if (ms <= 0) return resolve();
      const timer = setTimeout(() => {
        timers.delete(timer);
        resolve();
      }, ms);
      timers.add(timer);
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path !== "/v1/embeddings" && path !== "/embeddings") {
      return sendError(res, 404, `unknown path ${path}`, "invalid_request_error");
    }
    if (req.method !== "POST") return sendError(res, 405, "use POST", "invalid_request_error");
    const authorization = req.headers.authorization;
    if (options.apiKey !== undefined && authorization !== `Bearer ${options.apiKey}`) {
      return sendError(
        res,
        401,
        "Incorrect API key provided",
        "invalid_request_error",
        "invalid_api_key",
      );
    }
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return sendError(res, 400, "request body is not valid JSON", "invalid_request_error");
    }
    const parsed = parseRequest(body, maxInputs);
    if (typeof parsed === "string") return sendError(res, 400, parsed, "invalid_request_error");

    if (limits !== undefined) {
      const tokens = parsed.input.reduce((sum, text) => sum + countCl100kTokens(text), 0);
      const at = performance.now();
      if (!limits.admit(tokens, at)) {
        rate.limited += 1;
        return sendError(
          res,
          429,
          "Rate limit reached: requests or tokens per minute",
          "requests",
          "rate_limit_exceeded",
          { "retry-after": options.rateLimits?.retryAfter ?? "1" },
        );
      }
      rate.accepted.push({ at, tokens });
    }
    const fault = faults.shift();
    requests.push({ ...parsed, authorization, fault: fault?.kind });
    const arrived = performance.now();
    if (busy.requests === 0) busy.firstAt = arrived;
    busy.requests += 1;
    busy.active += 1;
    busy.max = Math.max(busy.max, busy.active);
    try {
      await answer(req, res, parsed, fault);
    } finally {
      busy.active -= 1;
      const ended = performance.now();
      busy.totalMs += ended - arrived;
      busy.lastAt = Math.max(busy.lastAt, ended);
    }
  };

  const answer = async (
    req: IncomingMessage,
    res: ServerResponse,
    parsed: Omit<RecordedRequest, "authorization" | "fault">,
    fault: EmbeddingFault | undefined,
  ): Promise<void> => {
    if (options.latencyMs) await wait(options.latencyMs);
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined) headers["retry-after"] = fault.retryAfter;
      if (fault.retryAfterMs !== undefined) headers["retry-after-ms"] = fault.retryAfterMs;
      return sendError(
        res,
        fault.status,
        `injected fault ${fault.status}`,
        "server_error",
        null,
        headers,
      );
    }
    if (fault?.kind === "delay") await wait(fault.ms);
    if (fault?.kind === "stall") {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"object":"list","data":[');
      // Never ended: close() destroys the socket.
      return;
    }
    if (fault?.kind === "flood") {
      res.writeHead(200, { "content-type": "application/json" });
      res.write('{"object":"list","data":[{"object":"embedding","index":0,"embedding":[');
      const chunk = Buffer.from("0.125,".repeat(10_000));
      const pump = () => {
        while (!res.destroyed && res.write(chunk)) {
          // Keep writing until the socket pushes back.
        }
      };
      res.on("drain", pump);
      pump();
      return;
    }
    if (fault?.kind === "body") {
      const headers: Record<string, string | number> = {
        "content-length": Buffer.byteLength(fault.body),
      };
      if (fault.contentType !== undefined) headers["content-type"] = fault.contentType;
      res.writeHead(fault.status ?? 200, headers);
      res.end(fault.body);
      return;
    }

    const dimensions = parsed.dimensions ?? defaultDimensions;
    const data = parsed.input.map((text, index) => {
      const vector = serverVector(text, dimensions);
      if (fault?.kind === "vector" && index === (fault.index ?? 0)) spoil(vector, fault.value);
      const embedding =
        parsed.encodingFormat === "base64"
          ? Buffer.from(new Float32Array(vector).buffer).toString("base64")
          : vector;
      return { object: "embedding", index, embedding };
    });
    // Roughly four characters per token, as OpenAI documents for English.
    const tokens = parsed.input.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
    sendJson(res, 200, {
      object: "list",
      data,
      model: parsed.model,
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent && !res.destroyed) sendError(res, 500, String(error), "server_error");
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    load: () => ({
      requests: busy.requests,
      maxConcurrent: busy.max,
      meanConcurrent: busy.lastAt > busy.firstAt ? busy.totalMs / (busy.lastAt - busy.firstAt) : 0,
    }),
    rateStats: () => ({ limited: rate.limited, accepted: rate.accepted }),
    injectFaults: (...more) => {
      faults.push(...more);
    },
    clearFaults: () => {
      faults.length = 0;
    },
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Clients keep connections alive; without this, close() waits for them to time out.
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections();
      await closed;
    },
  };
}

/** Two token buckets (requests, tokens) holding `burstMs` of their per-minute rates. */
function rateGate(limits: NonNullable<EmbeddingServerOptions["rateLimits"]>) {
  const burstMs = limits.burstMs ?? 10_000;
  const bucket = (perMinute: number | undefined) => {
    if (perMinute === undefined) return undefined;
    const capacity = (perMinute * burstMs) / 60_000;
    return { capacity, rate: perMinute / 60_000, level: capacity, last: performance.now() };
  };
  const req = bucket(limits.rpm);
  const tok = bucket(limits.tpm);
  const refill = (b: NonNullable<typeof req>, at: number) => {
    b.level = Math.min(b.capacity, b.level + (at - b.last) * b.rate);
    b.last = at;
  };
  return {
    admit(tokens: number, at: number): boolean {
      if (req !== undefined) refill(req, at);
      if (tok !== undefined) refill(tok, at);
      if ((req !== undefined && req.level < 1) || (tok !== undefined && tok.level < tokens)) {
        return false;
      }
      if (req !== undefined) req.level -= 1;
      if (tok !== undefined) tok.level -= tokens;
      return true;
    },
  };
}

/**
 * The hash embedding of a text, except that a text without any word (which hashes to the zero
 * vector) gets a fixed unit vector: a real model never answers zeros, and embedders reject them.
 */
function serverVector(text: string, dimensions: number): number[] {
  const vector = hashEmbedding(text, dimensions);
  if (!vector.some((x) => x !== 0)) vector[0] = 1;
  return vector;
}

function spoil(vector: number[], value: "zero" | "nan" | "infinity"): void {
  if (value === "zero") vector.fill(0);
  else vector[vector.length - 1] = value === "nan" ? Number.NaN : Number.POSITIVE_INFINITY;
}

function parseRequest(
  body: unknown,
  maxInputs: number,
): Omit<RecordedRequest, "authorization" | "fault"> | string {
  if (body === null || typeof body !== "object") return "request body must be a JSON object";
  const { model, input, encoding_format: format, dimensions } = body as Record<string, unknown>;
  if (typeof model !== "string" || model === "") return "'model' is required";
  const inputs = typeof input === "string" ? [input] : input;
  if (
    !Array.isArray(inputs) ||
    inputs.length === 0 ||
    !inputs.every((i) => typeof i === "string")
  ) {
    return "'input' must be a string or a non-empty array of strings";
  }
  if (inputs.length > maxInputs)
    return `'input' has ${inputs.length} items, more than ${maxInputs}`;
  if (inputs.some((i) => i === "")) return "'input' must not contain empty strings";
  if (format !== undefined && format !== "float" && format !== "base64") {
    return "'encoding_format' must be 'float' or 'base64'";
  }
  if (dimensions !== undefined && !(Number.isInteger(dimensions) && (dimensions as number) > 0)) {
    return "'dimensions' must be a positive integer";
  }
  return {
    model,
    input: inputs as string[],
    encodingFormat: format === "base64" ? "base64" : "float",
    dimensions: dimensions as number | undefined,
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(payload);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  type: string,
  code: string | null = null,
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}
