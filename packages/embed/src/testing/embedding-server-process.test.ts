import { describe, expect, it } from "vitest";
import { EmbedderResponseError } from "../embedders/embedder.ts";
import { hashEmbedding } from "../embedders/hash.ts";
import { createOpenAIEmbedder } from "../embedders/openai.ts";
import { startEmbeddingServer } from "./embedding-server.ts";
import { startEmbeddingServerProcess } from "./embedding-server-process.ts";

const processAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe("startEmbeddingServer load", () => {
  it("counts requests and how many were handled at once", async () => {
    // Long enough for the four requests to overlap on a loaded machine (see below).
    const server = await startEmbeddingServer({ dimensions: 8, latencyMs: 300 });
    try {
      expect(server.load()).toEqual({ requests: 0, maxConcurrent: 0, meanConcurrent: 0 });
      const embedder = createOpenAIEmbedder({
        baseUrl: server.url,
        apiKey: "k",
        model: "m",
        dimensions: 8,
      });
      await Promise.all(Array.from({ length: 4 }, (_, i) => embedder.embed([`text ${i}`])));
      const load = server.load();
      expect(load.requests).toBe(4);
      expect(load.maxConcurrent).toBe(4);
      expect(load.meanConcurrent).toBeGreaterThan(2);
      expect(load.meanConcurrent).toBeLessThanOrEqual(4);
    } finally {
      await server.close();
    }
  });
});

describe("startEmbeddingServerProcess", () => {
  it("serves embeddings from a child process on loopback and ends it on close", async () => {
    // Long enough for all six requests to be in flight at once on a loaded machine (at 20 ms,
    // two CPU hogs beside it made the child see at most 4 at once).
    const server = await startEmbeddingServerProcess({ dimensions: 16, latencyMs: 500 });
    expect(server.pid).not.toBe(process.pid);
    expect(new URL(server.url).hostname).toBe("127.0.0.1");
    try {
      const embedder = createOpenAIEmbedder({
        baseUrl: server.url,
        apiKey: "k",
        model: "m",
        dimensions: 16,
      });
      const texts = Array.from({ length: 6 }, (_, i) => `sluice gate ${i}`);
      const vectors = await Promise.all(texts.map((t) => embedder.embed([t])));
      vectors.forEach(([vector], i) => {
        const expected = hashEmbedding(texts[i] as string, 16);
        for (const [j, x] of (vector ?? []).entries()) {
          expect(x).toBeCloseTo(expected[j] as number, 6);
        }
      });
      const load = await server.load();
      expect(load).toMatchObject({ requests: 6, maxConcurrent: 6 });
      expect(load.cpuMs).toBeGreaterThan(0);
    } finally {
      const final = await server.close();
      expect(final.requests).toBe(6);
    }
    expect(processAlive(server.pid)).toBe(false);
    // Closing twice is harmless.
    await expect(server.close()).resolves.toMatchObject({ requests: 6 });
  }, 60_000);
});

describe("startEmbeddingServerProcess faults", () => {
  it("answers queued faults from the child, in order, then serves again", async () => {
    const server = await startEmbeddingServerProcess({ dimensions: 8 });
    try {
      const embedder = createOpenAIEmbedder({
        baseUrl: server.url,
        apiKey: "k",
        model: "m",
        dimensions: 8,
        timeoutMs: 300,
        maxRetries: 0,
      });
      await server.injectFaults(
        { kind: "stall" },
        { kind: "body", body: "<html>login</html>", contentType: "text/html" },
      );
      await expect(embedder.embed(["a"])).rejects.toMatchObject({ code: "EMBED_TIMEOUT" });
      await expect(embedder.embed(["b"])).rejects.toThrow(EmbedderResponseError);
      expect(await embedder.embed(["c"])).toHaveLength(1);
      expect((await server.load()).requests).toBe(3);
    } finally {
      await server.close();
    }
  }, 60_000);
});
