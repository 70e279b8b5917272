import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";

/** A failure the server answers the next request with, instead of a clean stream. */
export type ChatFault =
  /** An HTTP error status with a JSON error body, optionally with `Retry-After` (seconds). */
  | { readonly kind: "status"; readonly status: number; readonly retryAfter?: string }
  /** The connection is destroyed without an answer (the client sees a reset). */
  | { readonly kind: "reset" }
  /** `afterTokens` tokens are streamed, then nothing more: the connection stays open. */
  | { readonly kind: "stall"; readonly afterTokens: number }
  /**
   * `afterTokens` tokens are streamed, then an SSE `event: error` with an OpenAI-style error
   * object, and the stream ends.
   */
  | { readonly kind: "error-event"; readonly afterTokens: number; readonly message: string };

/** One message of a chat request. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** What the server saw of one chat completions request. */
export interface RecordedChatRequest {
  readonly model: string;
  readonly messages: readonly ChatMessage[];
  readonly stream: boolean;
  readonly includeUsage: boolean;
  readonly authorization: string | undefined;
  /** The fault answered instead of a clean stream, if any. */
  readonly fault: ChatFault["kind"] | undefined;
}

/** Options of {@link startChatServer}. */
export interface ChatServerOptions {
  /**
   * The answer's tokens for a request; default a short sentence that cites source [1] and
   * repeats the last user message's first line.
   */
  readonly answer?: (messages: readonly ChatMessage[]) => readonly string[];
  /** Wait before each token, to model generation time; default 0. */
  readonly tokenDelayMs?: number;
  /** Wait before the response headers, to model time to first token; default 0. */
  readonly firstTokenDelayMs?: number;
}

/** A running loopback server speaking the OpenAI `/v1/chat/completions` streaming API. */
export interface ChatServer {
  /** Base URL including `/v1`. */
  readonly url: string;
  /** Every chat request so far, in arrival order. */
  readonly requests: readonly RecordedChatRequest[];
  /** Queues faults: each answers one later request, in order. */
  fail(...faults: ChatFault[]): void;
  /** Resolves once a request is being answered with a stall (its tokens sent). */
  stalled(): Promise<void>;
  /** Requests whose connection the client closed before the answer ended (aborts). */
  readonly aborted: number;
  /** Stops listening and destroys every open connection; idempotent. */
  close(): Promise<void>;
}

/** The default answer: cites [1] and echoes the question's first line, a token per word. */
function defaultAnswer(messages: readonly ChatMessage[]): string[] {
  const user = [...messages].reverse().find((m) => m.role === "user")?.content ?? "";
  const question = /Question:\s*(.*)/.exec(user)?.[1] ?? user.split("\n")[0] ?? "";
  return `About "${question.trim()}": see [1].`.split(/(?<= )/);
}

function chunkLine(id: string, model: string, delta: object, finish: string | null): string {
  const body = {
    id,
    object: "chat.completion.chunk",
    created: 0,
    model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
  return `data: ${JSON.stringify(body)}\n\n`;
}

/**
 * Starts a loopback server (127.0.0.1, a free port) that answers `POST /v1/chat/completions`
 * with `stream: true` as server-sent events, as OpenAI does: a role delta, one delta per token,
 * a final chunk with `finish_reason: "stop"`, a usage chunk when `stream_options.include_usage`
 * is set, then `data: [DONE]`. Faults queued with `fail` make it stall mid-answer, send an error
 * event, answer an HTTP error, or reset the connection. Without `stream`, it answers one JSON
 * completion. For tests and benchmarks.
 */
export async function startChatServer(options: ChatServerOptions = {}): Promise<ChatServer> {
  const requests: RecordedChatRequest[] = [];
  const faults: ChatFault[] = [];
  const sockets = new Set<Socket>();
  const stallWaiters: (() => void)[] = [];
  let stalls = 0;
  let aborted = 0;
  const answerOf = options.answer ?? defaultAnswer;
  const pause = (ms: number) =>
    ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `no route ${req.method} ${req.url}` } }));
      return;
    }
    let raw = "";
    for await (const chunk of req) raw += chunk;
    let body: {
      model?: unknown;
      messages?: unknown;
      stream?: unknown;
      stream_options?: { include_usage?: unknown };
    };
    try {
      body = JSON.parse(raw);
    } catch {
      res.writeHead(400, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "body is not JSON" } }));
      return;
    }
    const fault = faults.shift();
    const model = typeof body.model === "string" ? body.model : "";
    const messages = Array.isArray(body.messages) ? (body.messages as ChatMessage[]) : [];
    const stream = body.stream === true;
    requests.push({
      model,
      messages,
      stream,
      includeUsage: body.stream_options?.include_usage === true,
      authorization: req.headers.authorization,
      fault: fault?.kind,
    });
    if (fault?.kind === "reset") {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === "status") {
      res.writeHead(fault.status, {
        "content-type": "application/json",
        ...(fault.retryAfter === undefined ? {} : { "retry-after": fault.retryAfter }),
      });
      res.end(JSON.stringify({ error: { message: `fault: HTTP ${fault.status}` } }));
      return;
    }
    const tokens = answerOf(messages);
    const promptTokens = messages.reduce((n, m) => n + m.content.split(/\s+/).length, 0);
    const usage = {
      prompt_tokens: promptTokens,
      completion_tokens: tokens.length,
      total_tokens: promptTokens + tokens.length,
    };
    await pause(options.firstTokenDelayMs ?? 0);
    if (!stream) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          id: "chatcmpl-test",
          object: "chat.completion",
          model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: tokens.join("") },
              finish_reason: "stop",
            },
          ],
          usage,
        }),
      );
      return;
    }
    res.writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.flushHeaders();
    const id = `chatcmpl-${requests.length}`;
    res.write(chunkLine(id, model, { role: "assistant", content: "" }, null));
    const cut =
      fault?.kind === "stall" || fault?.kind === "error-event" ? fault.afterTokens : Infinity;
    for (const [i, token] of tokens.entries()) {
      if (i >= cut) break;
      await pause(options.tokenDelayMs ?? 0);
      if (res.destroyed) return;
      res.write(chunkLine(id, model, { content: token }, null));
    }
    if (fault?.kind === "stall") {
      stalls += 1;
      for (const wake of stallWaiters.splice(0)) wake();
      return; // left open: the client must give up
    }
    if (fault?.kind === "error-event") {
      const error = { error: { message: fault.message, type: "server_error", code: null } };
      res.end(`event: error\ndata: ${JSON.stringify(error)}\n\n`);
      return;
    }
    res.write(chunkLine(id, model, {}, "stop"));
    if (body.stream_options?.include_usage === true) {
      res.write(
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", choices: [], usage })}\n\n`,
      );
    }
    res.end("data: [DONE]\n\n");
  };

  const server = createServer((req, res) => {
    res.on("close", () => {
      if (!res.writableFinished) aborted += 1;
    });
    handle(req, res).catch(() => req.socket.destroy());
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    get aborted() {
      return aborted;
    },
    fail(...more) {
      faults.push(...more);
    },
    stalled() {
      if (stalls > 0) return Promise.resolve();
      return new Promise((resolve) => stallWaiters.push(resolve));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      if (!server.listening) return;
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
