import { createServer } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EmbeddingServer, startEmbeddingServer } from "../testing/embedding-server.ts";
import { EmbedderResponseError } from "./embedder.ts";
import { createOpenAIEmbedder, type OpenAIEmbedderOptions } from "./openai.ts";

let server: EmbeddingServer;
let requestsBefore = 0;

beforeAll(async () => {
  server = await startEmbeddingServer({ dimensions: 8 });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  server.clearFaults();
  requestsBefore = server.requests.length;
});

const newRequests = () => server.requests.slice(requestsBefore);

function embedder(overrides: Partial<OpenAIEmbedderOptions> = {}) {
  return createOpenAIEmbedder({
    baseUrl: server.url,
    apiKey: "test-key",
    model: "test-model",
    dimensions: 8,
    retryBaseDelayMs: 10,
    ...overrides,
  });
}

/** A loopback port nothing listens on: bound by the OS, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error & Record<string, unknown>,
  );

describe("a response whose body never ends", () => {
  it("times out after timeoutMs with a retryable error naming the endpoint and the time", async () => {
    server.injectFaults({ kind: "stall" });
    const started = performance.now();
    const error = await failure(embedder({ timeoutMs: 300, maxRetries: 0 }).embed(["stalled"]));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(error.message).toContain(server.url);
    expect(error.message).toMatch(/300 ms/);
    expect(error).toMatchObject({ code: "EMBED_TIMEOUT", retryable: true });
  }, 10_000);

  it("is retried, and the retry's answer is used", async () => {
    server.injectFaults({ kind: "stall" });
    const vectors = await embedder({ timeoutMs: 300, maxRetries: 1 }).embed(["stalled once"]);
    expect(vectors).toHaveLength(1);
    expect(newRequests().map((r) => r.fault)).toEqual(["stall", undefined]);
  }, 10_000);

  it("stops at once when aborted while the body trickles", async () => {
    server.injectFaults({ kind: "stall" });
    const controller = new AbortController();
    const started = performance.now();
    const pending = embedder({ timeoutMs: 30_000 }).embed(["x"], controller.signal);
    setTimeout(() => controller.abort(new Error("cancelled by test")), 200);
    await expect(pending).rejects.toThrow("cancelled by test");
    expect(performance.now() - started).toBeLessThan(3000);
  }, 10_000);
});

describe("a response whose body is endless", () => {
  it("stops reading past a size limit instead of filling memory until the timeout", async () => {
    server.injectFaults({ kind: "flood" });
    const started = performance.now();
    const error = await failure(embedder({ timeoutMs: 60_000, maxRetries: 0 }).embed(["x"]));
    expect(performance.now() - started).toBeLessThan(10_000);
    expect(error).toBeInstanceOf(EmbedderResponseError);
    expect(error.message).toContain(server.url);
    expect(error.message).toMatch(/larger than \d+ bytes/);
  }, 20_000);
});

describe("an unreachable endpoint", () => {
  it("fails fast with one error naming the endpoint and the cause, then fails every call at once", async () => {
    const port = await closedPort();
    const url = `http://127.0.0.1:${port}/v1`;
    let fetches = 0;
    const counting: typeof fetch = (input, init) => {
      fetches += 1;
      return fetch(input, init);
    };
    const unreachable = embedder({ baseUrl: url, fetch: counting, retryBaseDelayMs: 50 });
    const started = performance.now();
    const first = await failure(unreachable.embed(["a"]));
    expect(performance.now() - started).toBeLessThan(5000);
    expect(first).toMatchObject({
      name: "EndpointUnreachableError",
      code: "ENDPOINT_UNREACHABLE",
      retryable: false,
      endpoint: url,
      cause: expect.anything(),
    });
    expect(first.message).toContain(`connection refused at ${url}`);
    const attempted = fetches;
    expect(attempted).toBeGreaterThanOrEqual(1);

    const later = await Promise.all(
      Array.from({ length: 5 }, (_, i) => failure(unreachable.embed([`t${i}`]))),
    );
    for (const error of later) {
      expect(error).toMatchObject({ code: "ENDPOINT_UNREACHABLE" });
      expect(error.message).toBe(first.message);
    }
    expect(fetches).toBe(attempted);
  }, 20_000);

  it("gives up on concurrent calls together, while they wait to retry", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const unreachable = embedder({ baseUrl: url, retryBaseDelayMs: 2000, maxRetries: 5 });
    const started = performance.now();
    const errors = await Promise.all(
      Array.from({ length: 4 }, (_, i) => failure(unreachable.embed([`c${i}`]))),
    );
    // Four calls failing at once are three consecutive connection failures: nobody waits 2 s.
    expect(performance.now() - started).toBeLessThan(1500);
    for (const error of errors) expect(error).toMatchObject({ code: "ENDPOINT_UNREACHABLE" });
  }, 20_000);

  it("says what went wrong when a call gives up before the endpoint counts as unreachable", async () => {
    const url = `http://127.0.0.1:${await closedPort()}/v1`;
    const error = await failure(embedder({ baseUrl: url, maxRetries: 0 }).embed(["x"]));
    expect(error).toMatchObject({ name: "EmbeddingRequestError", retryable: true });
    expect(error.message).toContain(url);
    expect(error.message).toMatch(/connection refused, ECONNREFUSED/);
  });

  it("a failure that is not a connection failure does not count towards it", async () => {
    server.injectFaults(
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
      { kind: "status", status: 503 },
    );
    const vectors = await embedder({ maxRetries: 3 }).embed(["busy"]);
    expect(vectors).toHaveLength(1);
  });
});

describe("a malformed 200 answer", () => {
  it("names the status, the content type and an escaped excerpt of an HTML page", async () => {
    server.injectFaults({
      kind: "body",
      contentType: "text/html; charset=utf-8",
      body: `<html><body>Proxy login \u001b[31mrequired</body></html>${"x".repeat(2000)}`,
    });
    const error = await failure(embedder().embed(["x"]));
    expect(error).toBeInstanceOf(EmbedderResponseError);
    expect(error.message).toContain(server.url);
    expect(error.message).toContain("HTTP 200");
    expect(error.message).toContain("text/html");
    expect(error.message).toContain("<html><body>Proxy login");
    expect(error.message).toContain("\\u001b[31m");
    expect(error.message).not.toContain("\u001b");
    expect(error.message.length).toBeLessThan(600);
    expect(error.message).not.toMatch(/forEach/);
    expect(newRequests()).toHaveLength(1);
  });

  it("says so for an empty body, with or without a content type", async () => {
    server.injectFaults(
      { kind: "body", body: "", contentType: "application/json" },
      { kind: "body", body: "" },
    );
    const json = await failure(embedder().embed(["x"]));
    expect(json).toBeInstanceOf(EmbedderResponseError);
    expect(json.message).toMatch(/HTTP 200/);
    expect(json.message).toMatch(/application\/json/);
    expect(json.message).toMatch(/empty body/);
    const none = await failure(embedder().embed(["x"]));
    expect(none.message).toMatch(/no content type/);
    expect(none.message).toMatch(/empty body/);
  });

  it("rejects JSON that is not an embeddings list, and truncated JSON", async () => {
    server.injectFaults(
      { kind: "body", body: '{"object":"list"}', contentType: "application/json" },
      { kind: "body", body: '{"data":[{"embedding":[0.1,', contentType: "application/json" },
    );
    const noData = await failure(embedder().embed(["x"]));
    expect(noData).toBeInstanceOf(EmbedderResponseError);
    expect(noData.message).toMatch(/no "data" list/);
    expect(noData.message).toContain('{"object":"list"}');
    const truncated = await failure(embedder().embed(["x"]));
    expect(truncated).toBeInstanceOf(EmbedderResponseError);
    expect(truncated.message).toMatch(/not valid JSON/);
  });
});

describe("vectors that could never be found", () => {
  it("rejects an all-zero vector, naming its index", async () => {
    server.injectFaults({ kind: "vector", value: "zero", index: 1 });
    const error = await failure(embedder().embed(["first", "second"]));
    expect(error).toBeInstanceOf(EmbedderResponseError);
    expect(error.message).toMatch(/all-zero vector at index 1/);
  });

  it("rejects NaN and infinite components, naming the index", async () => {
    server.injectFaults(
      { kind: "vector", value: "nan", index: 0 },
      { kind: "vector", value: "infinity", index: 2 },
    );
    await expect(embedder().embed(["a"])).rejects.toThrow(/non-finite number at index 0/);
    await expect(embedder().embed(["a", "b", "c"])).rejects.toThrow(/non-finite number at index 2/);
  });
});

describe("retryOverload: false", () => {
  it("throws a 429 at once with its status and Retry-After, for a caller that paces itself", async () => {
    server.injectFaults({ kind: "status", status: 429, retryAfter: "2" });
    const error = await failure(embedder({ retryOverload: false }).embed(["limited"]));
    expect(newRequests()).toHaveLength(1);
    expect(error).toMatchObject({ status: 429, retryAfterMs: 2000, retryable: true });
  });

  it("still retries other transient failures, and 429s by default", async () => {
    server.injectFaults({ kind: "status", status: 500 });
    await embedder({ retryOverload: false }).embed(["once"]);
    server.injectFaults({ kind: "status", status: 429, retryAfterMs: "5" });
    await embedder().embed(["twice"]);
    expect(newRequests()).toHaveLength(4);
  });
});
