import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createHashEmbedder } from "../embedders/hash.ts";
import { openJsonlStore } from "../stores/jsonl.ts";
import type { VectorStore } from "../stores/vector-store.ts";
import { type ChatServer, startChatServer } from "../testing/chat-server.ts";
import { record } from "../testing/vector-store-contract.ts";
import { type AskEvent, ask, askFailure, askStreaming, collectAnswer } from "./ask.ts";
import { ChatError, type ChatOptions, type ChatRetry } from "./ask-chat.ts";

const DIMENSIONS = 16;
const embedder = createHashEmbedder({ dimensions: DIMENSIONS });
const identity = {
  embedderId: embedder.id,
  dimensions: DIMENSIONS,
  embedder: { kind: "hash", dimensions: DIMENSIONS },
};
let dir: string;
let store: VectorStore;
let empty: VectorStore;
let server: ChatServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-ask-"));
  const writer = await openJsonlStore({
    path: join(dir, "store.jsonl"),
    access: { mode: "write", identity },
  });
  const texts = [
    "Otters hold hands while they sleep so they do not drift apart.",
    "A sluice gate controls the flow of water in a channel.",
    "Backpressure keeps a fast producer from flooding a slow consumer.",
  ];
  const records = texts.map((text, i) => record(`note-${i}.md`, 0, text, "/notes", DIMENSIONS));
  await writer.upsert(records);
  for (const r of records) await writer.commitFile(r.collection, r.path, `h-${r.path}`, [r.id]);
  await writer.close();
  store = await openJsonlStore({ path: join(dir, "store.jsonl"), access: { mode: "read" } });
  const none = await openJsonlStore({
    path: join(dir, "empty.jsonl"),
    access: { mode: "write", identity },
  });
  await none.close();
  empty = await openJsonlStore({ path: join(dir, "empty.jsonl"), access: { mode: "read" } });
});
afterAll(async () => {
  await store.close();
  await empty.close();
  await rm(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await server?.close();
});

function chat(extra: Partial<ChatOptions> = {}): ChatOptions {
  return {
    baseUrl: server.url,
    model: "test-model",
    apiKey: "sk-test",
    retry: { maxAttempts: 3, backoffMs: 1 },
    ...extra,
  };
}

async function failureOf(run: AsyncIterable<AskEvent>, seen: string[] = []): Promise<unknown> {
  try {
    for await (const event of run) if (event.type === "token") seen.push(event.text);
  } catch (error) {
    return askFailure(error) ?? error;
  }
  throw new Error("expected the run to fail");
}

describe("ask (streaming and batch)", () => {
  it("streams tokens after the numbered sources, with usage, and sends the prompt with them", async () => {
    server = await startChatServer();
    const events: AskEvent[] = [];
    for await (const event of askStreaming("why do otters hold hands?", {
      store,
      embedder,
      chat: chat(),
      k: 2,
    })) {
      events.push(event);
    }
    const [first, ...rest] = events;
    expect(first?.type).toBe("sources");
    const sources = first?.type === "sources" ? first.sources : [];
    expect(sources).toHaveLength(2);
    expect(sources[0]).toMatchObject({ n: 1, path: "note-0.md", lines: { start: 1, end: 5 } });
    const tokens = rest.filter((e) => e.type === "token");
    expect(tokens.length).toBeGreaterThan(3);
    expect(tokens.map((t) => (t.type === "token" ? t.text : "")).join("")).toBe(
      'About "why do otters hold hands?": see [1].',
    );
    expect(rest.at(-1)).toMatchObject({
      type: "end",
      finishReason: "stop",
      usage: { completionTokens: tokens.length },
    });
    const request = server.requests[0];
    expect(request).toMatchObject({ model: "test-model", stream: true, includeUsage: true });
    expect(request?.authorization).toBe("Bearer sk-test");
    const user = request?.messages.find((m) => m.role === "user")?.content ?? "";
    expect(user).toContain("[1] note-0.md:1-5\nOtters hold hands");
    expect(user).toMatch(/Question: why do otters hold hands\?$/);
  });

  it("gives the same answer and sources from the batch pipeline", async () => {
    server = await startChatServer();
    const options = { store, embedder, chat: chat(), k: 2 };
    const streamed = await collectAnswer(askStreaming("sluice gate water", options));
    const whole = await ask("sluice gate water", options);
    expect(whole).toEqual(streamed);
    expect(whole.sources[0]?.path).toBe("note-1.md");
  });

  it("retries a 503 before the stream starts, honouring the policy", async () => {
    server = await startChatServer();
    server.fail({ kind: "status", status: 503 }, { kind: "reset" });
    const retries: ChatRetry[] = [];
    const onRetry = (retry: ChatRetry) => {
      retries.push(retry);
    };
    const answer = await ask("otters", { store, embedder, chat: chat({ onRetry }) });
    expect(answer.answer).toContain("[1]");
    expect(server.requests.map((r) => r.fault)).toEqual(["status", "reset", undefined]);
    // Each failed attempt is told before its wait, with what went wrong.
    expect(retries).toEqual([
      {
        attempt: 1,
        maxAttempts: 3,
        delayMs: expect.any(Number),
        reason: expect.stringMatching(/answered HTTP 503/),
      },
      {
        attempt: 2,
        maxAttempts: 3,
        delayMs: expect.any(Number),
        // fetch's own message says only "fetch failed": the reason carries its cause's.
        reason: expect.stringMatching(/failed: fetch failed: .+ \((UND_ERR_SOCKET|ECONNRESET)\)$/),
      },
    ]);
  });

  it("does not retry a 400, and names the status and the server's message", async () => {
    server = await startChatServer();
    server.fail({ kind: "status", status: 400 });
    const error = await ask("otters", { store, embedder, chat: chat() }).catch((e) => e);
    expect(error).toBeInstanceOf(ChatError);
    expect(error).toMatchObject({ code: "CHAT_HTTP", status: 400 });
    expect(error.message).toMatch(/HTTP 400: fault: HTTP 400/);
    expect(server.requests).toHaveLength(1);
  });

  it("ends a stream that stalls mid-answer after the idle timeout, keeping what came", async () => {
    server = await startChatServer();
    server.fail({ kind: "stall", afterTokens: 2 });
    const seen: string[] = [];
    const started = Date.now();
    const error = await failureOf(
      askStreaming("otters", { store, embedder, chat: chat({ idleTimeoutMs: 300 }) }),
      seen,
    );
    expect(error).toMatchObject({ name: "ChatError", code: "CHAT_STALLED" });
    expect((error as Error).message).toMatch(/stalled: nothing came for 300 ms/);
    expect(seen).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Never retried once tokens were out.
    expect(server.requests).toHaveLength(1);
  });

  it("surfaces an SSE error event with the server's message", async () => {
    server = await startChatServer();
    server.fail({ kind: "error-event", afterTokens: 1, message: "model overloaded" });
    const seen: string[] = [];
    const error = await failureOf(askStreaming("otters", { store, embedder, chat: chat() }), seen);
    expect(error).toMatchObject({ code: "CHAT_STREAM_ERROR" });
    expect((error as Error).message).toMatch(/sent an error mid-answer: model overloaded/);
    expect(seen).toHaveLength(1);
  });

  it("says the endpoint is unreachable when nothing listens there", async () => {
    server = await startChatServer();
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const error = await ask("otters", {
      store,
      embedder,
      chat: chat({ baseUrl: `http://127.0.0.1:${port}/v1` }),
    }).catch((e) => e);
    expect(error).toMatchObject({ code: "CHAT_UNREACHABLE", attempts: 3 });
    expect(error.message).toMatch(/connection refused at http:\/\/127\.0\.0\.1:\d+\/v1/);
  });

  it("aborts the HTTP request at once when the signal aborts mid-answer", async () => {
    server = await startChatServer({ tokenDelayMs: 200 });
    const controller = new AbortController();
    const seen: string[] = [];
    const started = Date.now();
    const error = await failureOf(
      (async function* () {
        for await (const event of askStreaming("otters", {
          store,
          embedder,
          chat: chat(),
          signal: controller.signal,
        })) {
          if (event.type === "token") controller.abort(new Error("stop"));
          yield event;
        }
      })(),
      seen,
    );
    expect(error).toBeDefined();
    expect(seen).toHaveLength(1);
    expect(Date.now() - started).toBeLessThan(5_000);
    await expect.poll(() => server.aborted, { timeout: 2_000 }).toBe(1);
  });

  it("refuses an empty store with a message saying to embed first", async () => {
    server = await startChatServer();
    const error = await ask("otters", { store: empty, embedder, chat: chat() }).catch((e) => e);
    expect(error).toMatchObject({ name: "EmptyStoreError", code: "empty-store" });
    expect(error.message).toMatch(/embed some documents first/);
    expect(server.requests).toHaveLength(0);
  });

  it("rejects bad options before anything runs", () => {
    expect(() =>
      askStreaming("q", { store, chat: { baseUrl: "nope", model: "m", apiKey: "k" } }),
    ).toThrow(/is not a URL/);
    expect(() =>
      askStreaming("q", { store, chat: { baseUrl: "http://x/v1", model: "m", apiKey: "k" }, k: 0 }),
    ).toThrow(/k must be a positive integer/);
  });
});
