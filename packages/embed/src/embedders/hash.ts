import type { Embedder } from "./embedder.ts";

/** Options of {@link createHashEmbedder}. */
export interface HashEmbedderOptions {
  /** Vector length; default 384. */
  readonly dimensions?: number;
}

// Ideographic and kana scripts do not separate words with spaces: each character is a token.
const TOKEN =
  /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}]|(?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{M}\p{N}_])+(?:['’](?:(?![\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}])[\p{L}\p{M}\p{N}_])+)*/gu;

/** Lowercased, NFKC-normalized word tokens of a text, Unicode-aware. */
export function hashTokens(text: string): string[] {
  return text.normalize("NFKC").toLowerCase().match(TOKEN) ?? [];
}

/** FNV-1a over UTF-16 code units followed by the murmur3 finalizer, which spreads the low bits. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The feature-hashed vector of one text: word unigrams and bigrams, each weighted 1 + ln(count),
 * added at a hashed index with a hashed sign (so collisions cancel out on average rather than
 * pile up), then L2-normalized. A text without any word gives the zero vector.
 */
export function hashEmbedding(text: string, dimensions = 384): number[] {
  const counts = new Map<string, number>();
  const tokens = hashTokens(text);
  for (let i = 0; i < tokens.length; i++) {
    const unigram = tokens[i] as string;
    counts.set(unigram, (counts.get(unigram) ?? 0) + 1);
    if (i > 0) {
      // A space cannot occur inside a token, so bigram keys never equal unigram keys.
      const bigram = `${tokens[i - 1]} ${unigram}`;
      counts.set(bigram, (counts.get(bigram) ?? 0) + 1);
    }
  }
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

/**
 * The default embedder: deterministic feature hashing, fully offline, no model download.
 *
 * It is lexical, not semantic: texts are similar when they share words and word pairs, so it
 * finds passages that use the query's words but not paraphrases or synonyms ("car" does not
 * match "automobile"). Use an OpenAI-compatible embedder for semantic search.
 */
export function createHashEmbedder(options: HashEmbedderOptions = {}): Embedder {
  const dimensions = options.dimensions ?? 384;
  if (!Number.isInteger(dimensions) || dimensions < 1) {
    throw new RangeError(`hash embedder dimensions must be a positive integer, got ${dimensions}`);
  }
  return {
    id: `hash-v1:${dimensions}`,
    dimensions,
    async embed(texts, signal) {
      signal?.throwIfAborted();
      return texts.map((text) => hashEmbedding(text, dimensions));
    },
  };
}
