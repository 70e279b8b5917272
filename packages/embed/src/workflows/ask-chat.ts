import { abortableSleep, backoffDelay, isRetryable, type RetryOptions } from "sluice";
import { redactUrl } from "../redact.ts";
import { parseServerSentEvents } from "./ask-sse.ts";

/** A message of a chat completions request. */
export interface ChatMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** Token counts the server reports for one answer. */
export interface ChatUsage {
  readonly promptTokens: number;
  readonly completionTokens: number;
  readonly totalTokens: number;
}

/** What a streamed answer yields: a piece of text, or its end with the usage if reported. */
export type ChatDelta =
  | { readonly type: "token"; readonly text: string }
  | {
      readonly type: "end";
      readonly finishReason: string | null;
      readonly usage: ChatUsage | undefined;
    };

/** The embed stage's per-batch retry policy, which the chat request reuses by default. */
export const DEFAULT_CHAT_RETRY: RetryOptions = {
  maxAttempts: 3,
  backoffMs: 200,
  maxBackoffMs: 10_000,
};

/** Where and how to ask an OpenAI-compatible chat completions endpoint. */
export interface ChatOptions {
  /** Base URL including `/v1`, e.g. `http://127.0.0.1:8080/v1`. */
  readonly baseUrl: string;
  readonly model: string;
  /** Falls back to the OPENAI_API_KEY environment variable, as the embedder does. */
  readonly apiKey?: string;
  /** Per attempt: most time until the response headers; default 60 s. */
  readonly timeoutMs?: number;
  /** Most time between two pieces of the streamed body; default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Attempts before the stream starts (429, 5xx, network errors, header timeouts), with
   * sluice's retry policy; default {@link DEFAULT_CHAT_RETRY}. Once a token has arrived, nothing
   * is retried: the answer is already on screen.
   */
  readonly retry?: RetryOptions;
  /**
   * Called when an attempt failed and another will follow, before the wait: a caller can say
   * why the answer is late (a timed-out attempt costs `timeoutMs` before the next one).
   */
  readonly onRetry?: (retry: ChatRetry) => void;
  /** Sampling temperature; default the server's. */
  readonly temperature?: number;
  /** Most tokens in the answer; default the server's. */
  readonly maxTokens?: number;
  /** Replaces the global fetch. */
  readonly fetch?: typeof fetch;
}

/** An attempt that failed and will be retried (see {@link ChatOptions.onRetry}). */
export interface ChatRetry {
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly maxAttempts: number;
  /** The wait before the next attempt. */
  readonly delayMs: number;
  /** What went wrong, worded as the final error would be. */
  readonly reason: string;
}

/** Why a chat request failed, as {@link ChatError.code}. */
export type ChatErrorCode =
  | "CHAT_CONFIG"
  | "CHAT_UNREACHABLE"
  | "CHAT_HTTP"
  | "CHAT_TIMEOUT"
  | "CHAT_STALLED"
  | "CHAT_STREAM_ERROR"
  | "CHAT_BAD_RESPONSE";

/** A chat request that failed for good; `code` says how. Messages never show a secret. */
export class ChatError extends Error {
  override readonly name = "ChatError";
  constructor(
    readonly code: ChatErrorCode,
    message: string,
    options: {
      cause?: unknown;
      /** HTTP status of the answer, if there was one. */
      status?: number;
      /** Attempts made, the first included. */
      attempts?: number;
      /** Headers of an error answer (for Retry-After). */
      headers?: Headers;
      retryable?: boolean;
    } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.status = options.status;
    this.attempts = options.attempts ?? 1;
    this.headers = options.headers;
    this.retryable = options.retryable ?? false;
  }
  readonly status: number | undefined;
  readonly attempts: number;
  readonly headers: Headers | undefined;
  readonly retryable: boolean;
}

const UNREACHABLE: Readonly<Record<string, string>> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/**
 * The first error code in an error's cause chain: a system one (`ECONNRESET`), or with
 * `network` also undici's (`UND_ERR_SOCKET`, the code of a connection closed mid-request).
 */
function systemCode(error: unknown, network = false): string | undefined {
  const pattern = network ? /^(E|UND_ERR_)[A-Z_]+$/ : /^E[A-Z_]+$/;
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && typeof current === "object"; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && pattern.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/**
 * An error's message with its causes' (fetch's own says only "fetch failed"; what failed is
 * in its cause, e.g. "other side closed"), each said once.
 */
function messageChain(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; depth < 8 && current !== null && current !== undefined; depth++) {
    const message = current instanceof Error ? current.message : String(current);
    if (message !== "" && !parts.includes(message)) parts.push(message);
    if (!(current instanceof Error)) break;
    current = current.cause;
  }
  return parts.join(": ");
}

/** Checks the options; throws a `CHAT_CONFIG` {@link ChatError} naming the bad one. */
export function checkChatOptions(options: ChatOptions): { apiKey: string; url: URL } {
  const bad = (what: string) => new ChatError("CHAT_CONFIG", what);
  let url: URL;
  try {
    url = new URL(options.baseUrl.replace(/\/*$/, "/chat/completions"));
  } catch {
    throw bad(`chat endpoint ${JSON.stringify(redactUrl(options.baseUrl))} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw bad(`chat endpoint ${redactUrl(options.baseUrl)} must be http:// or https://`);
  }
  if (!options.model) throw bad("chat model must be given (--chat-model)");
  for (const [name, value] of [
    ["timeoutMs", options.timeoutMs],
    ["idleTimeoutMs", options.idleTimeoutMs],
    ["maxTokens", options.maxTokens],
  ] as const) {
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
      throw bad(`chat option ${name} must be a positive integer, got ${value}`);
    }
  }
  const apiKey = options.apiKey ?? process.env.OPENAI_API_KEY;
  if (!apiKey) {
    throw bad(
      "the chat endpoint needs an API key: set OPENAI_API_KEY " +
        "(any placeholder for a server without authentication)",
    );
  }
  return { apiKey, url };
}

/**
 * Asks an OpenAI-compatible `/chat/completions` endpoint with `stream: true` and yields the
 * answer's tokens as they arrive, parsed from server-sent events, then its end (finish reason
 * and usage). Plain `fetch`, not the `openai` client: the client's timeout ends with the
 * headers and its stream parser hides the events, while an answer that stalls mid-stream needs
 * a deadline between pieces of the body (`idleTimeoutMs`, `CHAT_STALLED`), and an `event: error`
 * must surface as itself (`CHAT_STREAM_ERROR`). Until the first byte of the stream, failures are
 * retried with sluice's own retry policy (the one the embed stage uses per batch: Retry-After
 * honoured, waits capped and ended by `signal`). `signal` aborts the request at once.
 */
export async function* streamChatCompletion(
  messages: readonly ChatMessage[],
  options: ChatOptions,
  signal?: AbortSignal,
): AsyncGenerator<ChatDelta> {
  const { apiKey, url } = checkChatOptions(options);
  const endpoint = redactUrl(options.baseUrl);
  const retry = options.retry ?? DEFAULT_CHAT_RETRY;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const idleMs = options.idleTimeoutMs ?? 30_000;
  const doFetch = options.fetch ?? fetch;
  const body = JSON.stringify({
    model: options.model,
    messages,
    stream: true,
    stream_options: { include_usage: true },
    ...(options.temperature === undefined ? {} : { temperature: options.temperature }),
    ...(options.maxTokens === undefined ? {} : { max_tokens: options.maxTokens }),
  });
  // One controller for the whole answer: the caller's signal, a header deadline, an idle stall.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal?.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  let response: Response | undefined;
  try {
    signal?.throwIfAborted();
    for (let attempt = 1; ; attempt++) {
      try {
        response = await attemptRequest(doFetch, url, apiKey, body, controller, timeoutMs, {
          endpoint,
          attempt,
        });
        break;
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        if (attempt >= retry.maxAttempts || !isRetryable(error, retry, attempt)) {
          throw finalError(error, attempt, endpoint);
        }
        const delayMs = backoffDelay(retry, attempt, error);
        options.onRetry?.({
          attempt,
          maxAttempts: retry.maxAttempts,
          delayMs,
          reason: finalError(error, 1, endpoint).message,
        });
        await abortableSleep(delayMs, signal);
      }
    }
    yield* readStream(response, controller, idleMs, endpoint, signal);
  } finally {
    signal?.removeEventListener("abort", onAbort);
    // Whatever ended the answer (done, error, the consumer stopping), the socket goes.
    if (!controller.signal.aborted) controller.abort(new Error("answer over"));
    await response?.body?.cancel().catch(() => undefined);
  }
}

/** One request: resolves with a 2xx event-stream response, throws anything else. */
async function attemptRequest(
  doFetch: typeof fetch,
  url: URL,
  apiKey: string,
  body: string,
  controller: AbortController,
  timeoutMs: number,
  where: { endpoint: string; attempt: number },
): Promise<Response> {
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  try {
    let response: Response;
    try {
      response = await doFetch(url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "text/event-stream",
          authorization: `Bearer ${apiKey}`,
        },
        body,
        signal: AbortSignal.any([controller.signal, deadline.signal]),
      });
    } catch (error) {
      if (deadline.signal.aborted && !controller.signal.aborted) {
        throw new ChatError(
          "CHAT_TIMEOUT",
          `no answer from ${where.endpoint} within ${timeoutMs} ms`,
          { cause: error, retryable: true },
        );
      }
      throw error;
    }
    if (!response.ok) {
      const text = await response.text().catch(() => "");
      const detail = errorMessageOf(text);
      throw new ChatError(
        "CHAT_HTTP",
        `chat endpoint ${where.endpoint} answered HTTP ${response.status}${detail ? `: ${detail}` : ""}`,
        {
          status: response.status,
          headers: response.headers,
          retryable: [408, 409, 425, 429].includes(response.status) || response.status >= 500,
        },
      );
    }
    const type = response.headers.get("content-type") ?? "";
    if (!type.includes("text/event-stream")) {
      const text = await response.text().catch(() => "");
      throw new ChatError(
        "CHAT_BAD_RESPONSE",
        `chat endpoint ${where.endpoint} answered HTTP ${response.status} with ` +
          `${type ? `content type ${type}` : "no content type"}, not an event stream: ${JSON.stringify(text.slice(0, 200))}`,
      );
    }
    return response;
  } finally {
    clearTimeout(timer);
  }
}

/** The `error.message` of an OpenAI-style error body, else the body's start. */
function errorMessageOf(text: string): string {
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string };
    const error = parsed.error;
    if (typeof error === "string") return error;
    if (typeof error?.message === "string") return error.message;
  } catch {
    // not JSON
  }
  return JSON.stringify(text.slice(0, 200)).slice(1, -1);
}

/** The error a failed request ends with: its own, or one saying the endpoint is unreachable. */
function finalError(error: unknown, attempts: number, endpoint: string): ChatError {
  const tries = attempts > 1 ? ` (${attempts} attempts)` : "";
  if (error instanceof ChatError) {
    return new ChatError(error.code, `${error.message}${tries}`, {
      cause: error,
      attempts,
      ...(error.status === undefined ? {} : { status: error.status }),
    });
  }
  const code = systemCode(error);
  if (code !== undefined && code in UNREACHABLE) {
    return new ChatError(
      "CHAT_UNREACHABLE",
      `chat endpoint unreachable: ${UNREACHABLE[code]} at ${endpoint} (${code}${tries}); ` +
        "check that the server is running and that --chat-endpoint is right",
      { cause: error, attempts },
    );
  }
  const shown = systemCode(error, true);
  return new ChatError(
    "CHAT_BAD_RESPONSE",
    `chat request to ${endpoint} failed${tries}: ${messageChain(error)}${shown ? ` (${shown})` : ""}`,
    { cause: error, attempts },
  );
}

/** The body's pieces, each awaited for at most `idleMs`; past it, the request is aborted. */
async function* withIdleTimeout(
  body: ReadableStream<Uint8Array>,
  controller: AbortController,
  idleMs: number,
  endpoint: string,
): AsyncGenerator<Uint8Array> {
  const reader = body.getReader();
  try {
    for (;;) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const stalled = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new ChatError(
            "CHAT_STALLED",
            `the answer from ${endpoint} stalled: nothing came for ${idleMs} ms`,
          );
          controller.abort(error);
          reject(error);
        }, idleMs);
      });
      let next: ReadableStreamReadResult<Uint8Array>;
      try {
        next = await Promise.race([reader.read(), stalled]);
      } finally {
        clearTimeout(timer);
      }
      if (next.done) return;
      yield next.value;
    }
  } finally {
    reader.releaseLock();
  }
}

interface StreamChunk {
  choices?: { delta?: { content?: unknown }; finish_reason?: unknown }[];
  usage?: { prompt_tokens?: unknown; completion_tokens?: unknown; total_tokens?: unknown } | null;
  error?: { message?: unknown } | string;
}

/** Reads the event stream: tokens as they come, then the end. */
async function* readStream(
  response: Response,
  controller: AbortController,
  idleMs: number,
  endpoint: string,
  signal: AbortSignal | undefined,
): AsyncGenerator<ChatDelta> {
  if (response.body === null) {
    throw new ChatError("CHAT_BAD_RESPONSE", `chat endpoint ${endpoint} sent no body`);
  }
  let finishReason: string | null = null;
  let usage: ChatUsage | undefined;
  let done = false;
  try {
    for await (const event of parseServerSentEvents(
      withIdleTimeout(response.body, controller, idleMs, endpoint),
    )) {
      if (event.data === "[DONE]") {
        done = true;
        break;
      }
      let chunk: StreamChunk;
      try {
        chunk = JSON.parse(event.data) as StreamChunk;
      } catch {
        throw new ChatError(
          "CHAT_BAD_RESPONSE",
          `chat endpoint ${endpoint} sent an event that is not JSON: ${JSON.stringify(event.data.slice(0, 200))}`,
        );
      }
      if (event.event === "error" || chunk.error !== undefined) {
        const message =
          typeof chunk.error === "string"
            ? chunk.error
            : typeof chunk.error?.message === "string"
              ? chunk.error.message
              : event.data.slice(0, 200);
        throw new ChatError(
          "CHAT_STREAM_ERROR",
          `chat endpoint ${endpoint} sent an error mid-answer: ${message}`,
        );
      }
      for (const choice of chunk.choices ?? []) {
        const text = choice.delta?.content;
        if (typeof text === "string" && text !== "") yield { type: "token", text };
        if (typeof choice.finish_reason === "string") finishReason = choice.finish_reason;
      }
      if (chunk.usage) usage = usageOf(chunk.usage);
    }
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (controller.signal.reason instanceof ChatError) throw controller.signal.reason;
    if (error instanceof ChatError) throw error;
    throw new ChatError(
      "CHAT_BAD_RESPONSE",
      `the answer from ${endpoint} broke off: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
  if (!done && finishReason === null) {
    throw new ChatError(
      "CHAT_BAD_RESPONSE",
      `the answer from ${endpoint} ended without finishing (no finish reason, no [DONE])`,
    );
  }
  yield { type: "end", finishReason, usage };
}

function usageOf(raw: NonNullable<StreamChunk["usage"]>): ChatUsage {
  const n = (value: unknown) => (typeof value === "number" && Number.isFinite(value) ? value : 0);
  return {
    promptTokens: n(raw.prompt_tokens),
    completionTokens: n(raw.completion_tokens),
    totalTokens: n(raw.total_tokens),
  };
}
