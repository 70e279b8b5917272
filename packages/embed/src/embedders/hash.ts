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

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
const SIGN_SEED = 0x9e3779b9;
const SPACE = 0x20;

/** FNV-1a over the UTF-16 code units of `text`, continuing from state `h`. */
function fnv(h: number, text: string): number {
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, FNV_PRIME);
  }
  return h;
}

/** The murmur3 finalizer, which spreads the low bits of an FNV state. */
function finalize(h: number): number {
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
 *
 * A feature's hash is FNV-1a of its text (a bigram's is "first second") then the murmur3
 * finalizer. Bigrams are counted by the ids of their two words and hashed by continuing the
 * first word's FNV state, so no bigram string is built; features are summed in order of first
 * occurrence, which fixes the floating-point result.
 */
export function hashEmbedding(text: string, dimensions = 384): number[] {
  const tokens = hashTokens(text);
  const wordIds = new Map<string, number>();
  const words: string[] = [];
  /** Per word: its feature's position, and its FNV states for the index and the sign seeds. */
  const wordFeature: number[] = [];
  const indexState: number[] = [];
  const signState: number[] = [];
  const bigramFeature = new Map<number, number>();
  /** Per feature in first-occurrence order: first word, second word (-1 for a unigram), count. */
  const first: number[] = [];
  const second: number[] = [];
  const counts: number[] = [];
  let previous = -1;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i] as string;
    let id = wordIds.get(token);
    if (id === undefined) {
      id = words.length;
      wordIds.set(token, id);
      words.push(token);
      indexState.push(fnv(FNV_OFFSET >>> 0, token));
      signState.push(fnv((FNV_OFFSET ^ SIGN_SEED) >>> 0, token));
      wordFeature.push(counts.length);
      first.push(id);
      second.push(-1);
      counts.push(1);
    } else {
      const at = wordFeature[id] as number;
      counts[at] = (counts[at] as number) + 1;
    }
    if (previous !== -1) {
      // Word ids are below tokens.length, so the key names the ordered pair exactly.
      const key = previous * tokens.length + id;
      const at = bigramFeature.get(key);
      if (at === undefined) {
        bigramFeature.set(key, counts.length);
        first.push(previous);
        second.push(id);
        counts.push(1);
      } else {
        counts[at] = (counts[at] as number) + 1;
      }
    }
    previous = id;
  }
  const vector = new Array<number>(dimensions).fill(0);
  for (let f = 0; f < counts.length; f++) {
    const a = first[f] as number;
    const b = second[f] as number;
    let indexHash = indexState[a] as number;
    let signHash = signState[a] as number;
    if (b !== -1) {
      const word = words[b] as string;
      indexHash = fnv(Math.imul(indexHash ^ SPACE, FNV_PRIME), word);
      signHash = fnv(Math.imul(signHash ^ SPACE, FNV_PRIME), word);
    }
    const index = finalize(indexHash) % dimensions;
    const sign = finalize(signHash) & 1 ? 1 : -1;
    vector[index] = (vector[index] as number) + sign * (1 + Math.log(counts[f] as number));
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
