import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createHashEmbedder, hashEmbedding, hashTokens } from "./hash.ts";

/**
 * The first implementation (bigram strings in one Map, each feature hashed from its text): the
 * oracle that the faster one must match bit for bit, since stores hold its vectors.
 */
function referenceEmbedding(text: string, dimensions: number): number[] {
  const hash32 = (feature: string, seed: number) => {
    let h = (0x811c9dc5 ^ seed) >>> 0;
    for (let i = 0; i < feature.length; i++) {
      h ^= feature.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  };
  const counts = new Map<string, number>();
  const tokens = hashTokens(text);
  tokens.forEach((unigram, i) => {
    counts.set(unigram, (counts.get(unigram) ?? 0) + 1);
    if (i > 0) {
      const bigram = `${tokens[i - 1]} ${unigram}`;
      counts.set(bigram, (counts.get(bigram) ?? 0) + 1);
    }
  });
  const vector = new Array<number>(dimensions).fill(0);
  for (const [feature, count] of counts) {
    const index = hash32(feature, 0) % dimensions;
    const sign = hash32(feature, 0x9e3779b9) & 1 ? 1 : -1;
    vector[index] = (vector[index] as number) + sign * (1 + Math.log(count));
  }
  let norm = 0;
  for (const value of vector) norm += value * value;
  if (norm === 0) return vector;
  const scale = 1 / Math.sqrt(norm);
  return vector.map((value) => value * scale);
}

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

  it("gives exactly the first implementation's vectors, bit for bit", () => {
    const word = fc.constantFrom("a", "b", "ab", "the", "Über", "東京", "x_1", "don't", "😀", "");
    const text = fc.oneof(
      fc.array(word, { maxLength: 60 }).map((words) => words.join(" ")),
      fc.string({ unit: "grapheme", maxLength: 80 }),
    );
    fc.assert(
      fc.property(text, fc.integer({ min: 1, max: 512 }), (t, dimensions) => {
        expect(hashEmbedding(t, dimensions)).toStrictEqual(referenceEmbedding(t, dimensions));
      }),
      { numRuns: 500 },
    );
    const long = Array.from({ length: 5000 }, (_, i) => `w${i % 97} v${i % 13}`).join(" ");
    expect(hashEmbedding(long, 384)).toStrictEqual(referenceEmbedding(long, 384));
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
