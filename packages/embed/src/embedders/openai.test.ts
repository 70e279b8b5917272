import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { type EmbeddingServer, startEmbeddingServer } from "../testing/embedding-server.ts";
import { EmbedderResponseError } from "./embedder.ts";
import { hashEmbedding } from "./hash.ts";
import {
  createOpenAIEmbedder,
  decodeEmbeddings,
  EmbedderConfigError,
  EmbeddingRequestError,
  type OpenAIEmbedderOptions,
} from "./openai.ts";

let server: EmbeddingServer;
let requestsBefore = 0;

beforeAll(async () => {
  server = await startEmbeddingServer({ dimensions: 32, apiKey: "test-key" });
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  requestsBefore = server.requests.length;
});

const newRequests = () => server.requests.slice(requestsBefore);

function embedder(overrides: Partial<OpenAIEmbedderOptions> = {}) {
  return createOpenAIEmbedder({
    baseUrl: server.url,
    apiKey: "test-key",
    model: "test-model",
    dimensions: 32,
    retryBaseDelayMs: 10,
    ...overrides,
  });
}

function expectCloseVectors(actual: number[][], expected: number[][]) {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((vector, i) => {
    vector.forEach((x, j) => {
      expect(x).toBeCloseTo(expected[i]?.[j] ?? Number.NaN, 6);
    });
  });
}

describe("OpenAI-compatible embedder", () => {
  it("asks for base64 by default and decodes real vectors in order", async () => {
    const texts = ["first text about pipelines", "second text", "third"];
    const vectors = await embedder().embed(texts);
    expectCloseVectors(
      vectors,
      texts.map((t) => hashEmbedding(t, 32)),
    );
    expect(newRequests()).toEqual([
      {
        model: "test-model",
        input: texts,
        encodingFormat: "base64",
        dimensions: undefined,
        authorization: "Bearer test-key",
        fault: undefined,
      },
    ]);
  });

  it("understands float answers too", async () => {
    const vectors = await embedder({ encodingFormat: "float" }).embed(["float please"]);
    expectCloseVectors(vectors, [hashEmbedding("float please", 32)]);
    expect(newRequests()[0]?.encodingFormat).toBe("float");
  });

  it("appends the end-of-text token to the text sent, only there", async () => {
    const texts = ["chunk"];
    const vectors = await embedder({ endOfTextToken: "</s>" }).embed(texts);
    expect(newRequests()[0]?.input).toEqual(["chunk</s>"]);
    expect(texts).toEqual(["chunk"]);
    expectCloseVectors(vectors, [hashEmbedding("chunk</s>", 32)]);
    expect(embedder({ endOfTextToken: "</s>" }).id).toBe("openai:test-model:32:eot");
  });

  it("sends dimensions when asked", async () => {
    await embedder({ sendDimensions: true }).embed(["x"]);
    expect(newRequests()[0]?.dimensions).toBe(32);
  });

  it("makes no request for no texts", async () => {
    expect(await embedder().embed([])).toEqual([]);
    expect(newRequests()).toEqual([]);
  });

  it("retries a 429 after the server's Retry-After seconds", async () => {
    server.injectFaults({ kind: "status", status: 429, retryAfter: "1" });
    const started = performance.now();
    const vectors = await embedder().embed(["rate limited"]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(950);
    expectCloseVectors(vectors, [hashEmbedding("rate limited", 32)]);
    expect(newRequests().map((r) => r.fault)).toEqual(["status", undefined]);
  });

  it("honours retry-after-ms and an HTTP-date Retry-After", async () => {
    server.injectFaults(
      { kind: "status", status: 503, retryAfterMs: "120" },
      { kind: "status", status: 429, retryAfter: new Date(Date.now() + 1500).toUTCString() },
    );
    const started = performance.now();
    await embedder().embed(["x"]);
    // The date has one-second resolution, so it asks for a wait of at least 0.5 s.
    expect(performance.now() - started).toBeGreaterThanOrEqual(500);
    expect(newRequests()).toHaveLength(3);
  });

  it("retries a 500 and a connection reset", async () => {
    server.injectFaults({ kind: "status", status: 500 }, { kind: "reset" });
    const vectors = await embedder().embed(["flaky"]);
    expectCloseVectors(vectors, [hashEmbedding("flaky", 32)]);
    expect(newRequests().map((r) => r.fault)).toEqual(["status", "reset", undefined]);
  });

  it("retries a request that times out", async () => {
    server.injectFaults({ kind: "delay", ms: 2000 });
    const vectors = await embedder({ timeoutMs: 150 }).embed(["slow"]);
    expect(vectors).toHaveLength(1);
    expect(newRequests()).toHaveLength(2);
  });

  it("gives up after maxRetries with a typed error carrying status and attempts", async () => {
    server.injectFaults(
      ...Array.from({ length: 3 }, () => ({ kind: "status" as const, status: 502 })),
    );
    const error = await embedder({ maxRetries: 2 })
      .embed(["doomed"])
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EmbeddingRequestError);
    expect(error).toMatchObject({ status: 502, attempts: 3 });
    expect((error as Error).message).toMatch(/after 3 attempts/);
    expect(newRequests()).toHaveLength(3);
  });

  it("does not retry a client error", async () => {
    server.injectFaults({ kind: "status", status: 400 });
    await expect(embedder().embed(["bad"])).rejects.toMatchObject({ status: 400, attempts: 1 });
    expect(newRequests()).toHaveLength(1);
    await expect(embedder({ apiKey: "wrong" }).embed(["x"])).rejects.toMatchObject({ status: 401 });
  });

  it("stops waiting out a long Retry-After when aborted", async () => {
    server.injectFaults({ kind: "status", status: 429, retryAfter: "30" });
    const controller = new AbortController();
    const started = performance.now();
    const pending = embedder().embed(["x"], controller.signal);
    setTimeout(() => controller.abort(), 200);
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("aborts a request in flight", async () => {
    server.injectFaults({ kind: "delay", ms: 5000 });
    const controller = new AbortController();
    const pending = embedder().embed(["x"], controller.signal);
    setTimeout(() => controller.abort(new Error("cancelled by test")), 100);
    await expect(pending).rejects.toThrow("cancelled by test");
    expect(newRequests()).toHaveLength(1);
  });

  it("rejects vectors of the wrong dimension", async () => {
    await expect(embedder({ dimensions: 16, sendDimensions: false }).embed(["x"])).rejects.toThrow(
      EmbedderResponseError,
    );
  });

  it("requires an API key, naming where to set it", () => {
    const saved = process.env.OPENAI_API_KEY;
    delete process.env.OPENAI_API_KEY;
    try {
      expect(() => createOpenAIEmbedder({ model: "m", dimensions: 3 })).toThrow(
        EmbedderConfigError,
      );
      expect(() => createOpenAIEmbedder({ model: "m", dimensions: 3 })).toThrow(/OPENAI_API_KEY/);
      process.env.OPENAI_API_KEY = "from-env";
      expect(createOpenAIEmbedder({ model: "m", dimensions: 3 }).dimensions).toBe(3);
    } finally {
      if (saved === undefined) delete process.env.OPENAI_API_KEY;
      else process.env.OPENAI_API_KEY = saved;
    }
    expect(() => createOpenAIEmbedder({ model: "m", dimensions: 0, apiKey: "k" })).toThrow(
      /dimensions/,
    );
  });
});

describe("decodeEmbeddings", () => {
  it("orders by index and accepts floats and base64 side by side", () => {
    const b64 = Buffer.from(new Float32Array([0.5, -2]).buffer).toString("base64");
    expect(
      decodeEmbeddings(
        [
          { index: 1, embedding: [1, 2] },
          { index: 0, embedding: b64 },
        ],
        2,
      ),
    ).toEqual([
      [0.5, -2],
      [1, 2],
    ]);
  });

  it("decodes base64 exactly wherever its bytes land, as plain number arrays", () => {
    // Small decodes share Node's buffer pool at any offset; large ones get their own buffer.
    const vectors = Array.from({ length: 40 }, (_, i) =>
      Array.from({ length: 1 + (i % 7) * (i < 20 ? 1 : 300) }, (_, j) =>
        Math.fround(Math.sin(i * 31 + j) * 10 ** ((j % 9) - 4)),
      ),
    );
    const data = vectors.map((v, index) => ({
      index,
      embedding: Buffer.from(new Float32Array(v).buffer).toString("base64"),
    }));
    const decoded = decodeEmbeddings(data, vectors.length);
    expect(decoded).toEqual(vectors);
    for (const v of decoded) expect(Array.isArray(v)).toBe(true);
  });

  it("rejects missing, repeated and malformed entries", () => {
    expect(() => decodeEmbeddings([{ index: 0, embedding: [1] }], 2)).toThrow(/1 vectors for 2/);
    expect(() =>
      decodeEmbeddings(
        [
          { index: 0, embedding: [1] },
          { index: 0, embedding: [1] },
        ],
        2,
      ),
    ).toThrow(/repeated index/);
    expect(() => decodeEmbeddings([{ index: 0, embedding: "AAA" }], 1)).toThrow(/float32/);
    expect(() => decodeEmbeddings([{ index: 0, embedding: { x: 1 } }], 1)).toThrow(/neither/);
  });
});

describe("embedding test server", () => {
  it("answers bad requests the way the API does", async () => {
    const post = (path: string, body: unknown, key = "test-key") =>
      fetch(`${server.url.replace(/\/v1$/, "")}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
    const missingInput = await post("/v1/embeddings", { model: "m" });
    expect(missingInput.status).toBe(400);
    expect(await missingInput.json()).toMatchObject({ error: { type: "invalid_request_error" } });
    expect((await post("/v1/other", {})).status).toBe(404);
    expect((await post("/v1/embeddings", { model: "m", input: "x" }, "nope")).status).toBe(401);
    const single = await post("/v1/embeddings", { model: "m", input: "one" });
    const json = (await single.json()) as { data: { embedding: number[] }[] };
    expect(json.data[0]?.embedding).toHaveLength(32);
  });
});
