import { afterEach, describe, expect, it } from "vitest";
import { countCl100kTokens } from "../steps/token-count.ts";
import { type EmbeddingServer, startEmbeddingServer } from "./embedding-server.ts";

let server: EmbeddingServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const post = (url: string, input: string[]) =>
  fetch(`${url}/embeddings`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ model: "m", input }),
  });

describe("the embedding server's rate limits", () => {
  it("answers 429 with Retry-After past the requests-per-minute bucket", async () => {
    // 12 a minute, the bucket holding 10 s of it: 2 requests, then 429.
    server = await startEmbeddingServer({ dimensions: 4, rateLimits: { rpm: 12 } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const res = await post(server.url, ["hello world"]);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get("retry-after");
      await res.text();
    }
    expect(statuses).toEqual([200, 200, 429]);
    expect(retryAfter).toBe("1");
    expect(server.rateStats().limited).toBe(1);
    expect(server.rateStats().accepted).toHaveLength(2);
  });

  it("counts cl100k tokens against the tokens-per-minute bucket", async () => {
    const text = "pull-based pipelines keep memory bounded";
    const tokens = countCl100kTokens(text);
    // The bucket holds 10 s of the rate: room for exactly three such texts.
    server = await startEmbeddingServer({
      dimensions: 4,
      rateLimits: { tpm: tokens * 3 * 6, retryAfter: "2" },
    });
    const first = await post(server.url, [text, text]);
    await first.text();
    const second = await post(server.url, [text, text]);
    await second.text();
    expect([first.status, second.status]).toEqual([200, 429]);
    expect(second.headers.get("retry-after")).toBe("2");
    expect(server.rateStats().accepted[0]?.tokens).toBe(tokens * 2);
  });
});
