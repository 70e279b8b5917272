import { describe, expect, it } from "vitest";
import { createHashEmbedder, hashEmbedding, hashTokens } from "./hash.ts";

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * (b[i] ?? 0), 0);

describe("hash embedder", () => {
  it("tokenizes Unicode words, lowercased, with CJK characters as tokens", () => {
    expect(hashTokens("Héllo, WORLD! don't stop_now 42")).toEqual([
      "héllo",
      "world",
      "don't",
      "stop_now",
      "42",
    ]);
    expect(hashTokens("東京タワー is tall")).toEqual(["東", "京", "タ", "ワ", "ー", "is", "tall"]);
    expect(hashTokens("Ｆｕｌｌｗｉｄｔｈ")).toEqual(["fullwidth"]);
  });

  it("is deterministic, L2-normalized and of the configured dimension", async () => {
    const embedder = createHashEmbedder({ dimensions: 64 });
    const [a, b] = await embedder.embed(["the quick brown fox", "the quick brown fox"]);
    expect(a).toHaveLength(64);
    expect(a).toEqual(b);
    expect(Math.hypot(...(a ?? []))).toBeCloseTo(1, 10);
    expect(embedder.id).toBe("hash-v1:64");
    // Pinned values: a change in hashing would silently invalidate every stored corpus.
    const pinned = hashEmbedding("pinned text", 8).map((x) => Number(x.toFixed(5)));
    expect(pinned).toEqual([0, 0, -0.57735, 0, 0, -0.57735, 0.57735, 0]);
  });

  it("ranks texts sharing words above unrelated ones", () => {
    const query = hashEmbedding("postgres vector search");
    const related = hashEmbedding("vector search in postgres with pgvector");
    const unrelated = hashEmbedding("baking sourdough bread at home");
    expect(cosine(query, related)).toBeGreaterThan(0.3);
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.2);
  });

  it("uses word order through bigrams and damps repeated words", () => {
    const ab = hashEmbedding("alpha beta");
    const ba = hashEmbedding("beta alpha");
    expect(cosine(ab, ba)).toBeLessThan(0.99);
    expect(cosine(ab, ba)).toBeGreaterThan(0.3);
    // Sublinear weight: ten repeats weigh 1 + ln 10 (about 3.3), not 10.
    const v = hashEmbedding("a a a a a a a a a a b", 4096);
    const weights = v
      .filter((x) => x !== 0)
      .map(Math.abs)
      .sort((x, y) => y - x);
    expect((weights[0] ?? 0) / (weights.at(-1) ?? 1)).toBeCloseTo(1 + Math.log(10), 5);
  });

  it("gives the zero vector for text without words and honours abort", async () => {
    expect(hashEmbedding("!!! ---", 4)).toEqual([0, 0, 0, 0]);
    const controller = new AbortController();
    controller.abort(new Error("stop"));
    await expect(createHashEmbedder().embed(["x"], controller.signal)).rejects.toThrow("stop");
    expect(() => createHashEmbedder({ dimensions: 0 })).toThrow(RangeError);
  });
});
