import type { Collection, SearchHit, SearchMode, SearchQuery } from "./vector-store.ts";
import { VectorStoreError } from "./vector-store.ts";

/** A chunk one ranking found, best first, with that ranking's raw score. */
export interface Candidate {
  readonly hit: Omit<SearchHit, "score" | "signals">;
  /** Cosine similarity (vector) or BM25 relevance (lexical); higher is better. */
  readonly score: number;
}

/**
 * A lexical ranking with the statistics it was computed from: how many chunks were searched and,
 * for each query term (in the order given), how many of them contain it.
 */
export interface LexicalCandidates {
  readonly candidates: Candidate[];
  readonly documents: number;
  readonly documentFrequencies: readonly number[];
}

/** The two rankings a store computes; {@link searchStore} fuses them. */
export interface CandidateSource {
  /** The `n` chunks closest to `vector` by cosine similarity, best first; exact unless documented. */
  vectorCandidates(
    vector: readonly number[],
    n: number,
    collection: Collection | undefined,
  ): Promise<Candidate[]>;
  /**
   * The `n` chunks that contain any of `terms` (as {@link lexicalTerms} makes them), best BM25
   * first, and each term's document frequency among the chunks searched (the whole store, or
   * the collection); chunks without any term are not candidates.
   */
  lexicalCandidates(
    terms: readonly string[],
    n: number,
    collection: Collection | undefined,
  ): Promise<LexicalCandidates>;
}

/** Reciprocal rank fusion's constant: the usual 60 (Cormack et al., 2009). */
export const RRF_K = 60;
/** The lexical weight of a chunk that holds every query term (see {@link fuse}). */
export const LEXICAL_WEIGHT = 2;
/** Most query terms a lexical search uses; the rest are ignored. */
export const MAX_QUERY_TERMS = 64;

/** How many candidates each ranking contributes to a fused result of `k` hits. */
export function fusionWindow(k: number): number {
  return Math.max(50, 2 * k);
}

/**
 * The words of a text as lexical search compares them: lowercased, accents removed, split at
 * anything that is not a letter or a digit (as SQLite FTS5's `unicode61` tokenizer does).
 */
export function lexicalTokens(text: string): string[] {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((token) => token !== "");
}

/** A query's distinct lexical terms, in order of first occurrence, at most {@link MAX_QUERY_TERMS}. */
export function lexicalTerms(query: string): string[] {
  return [...new Set(lexicalTokens(query))].slice(0, MAX_QUERY_TERMS);
}

/** Checks a query against a store of `dimensions`; returns its mode. */
export function validateSearchQuery(query: SearchQuery, dimensions: number): SearchMode {
  const mode = query.mode ?? "hybrid";
  if (mode !== "vector" && mode !== "lexical" && mode !== "hybrid") {
    throw new VectorStoreError("invalid-argument", `unknown search mode ${JSON.stringify(mode)}`);
  }
  if (!Number.isInteger(query.k) || query.k < 1) {
    throw new VectorStoreError("invalid-argument", `k must be a positive integer, got ${query.k}`);
  }
  if (mode !== "lexical") {
    const { vector } = query;
    if (vector === undefined) {
      throw new VectorStoreError("invalid-argument", `a ${mode} search needs a query vector`);
    }
    if (vector.length !== dimensions) {
      throw new VectorStoreError(
        "invalid-argument",
        `query vector has ${vector.length} dimensions, the store has ${dimensions}`,
      );
    }
    if (!vector.every(Number.isFinite)) {
      throw new VectorStoreError("invalid-argument", "query vector has a non-finite number");
    }
  }
  if (mode !== "vector" && typeof query.text !== "string") {
    throw new VectorStoreError("invalid-argument", `a ${mode} search needs the query text`);
  }
  return mode;
}

/**
 * Answers a {@link SearchQuery} from a store's two rankings. Hybrid mode fuses them by reciprocal
 * rank: score = Σ 1 / (60 + rank). A chunk the lexical ranking found but the vector window did
 * not is counted just past that window (it has some similarity, only less), while a chunk with
 * none of the query's words gets nothing from the lexical side. So a word that occurs in one
 * chunk puts that chunk first, whatever the embedder. Ties go to the better vector rank, then id.
 */
export async function searchStore(
  query: SearchQuery,
  dimensions: number,
  source: CandidateSource,
): Promise<SearchHit[]> {
  const mode = validateSearchQuery(query, dimensions);
  const { k, collection } = query;
  // Cosine similarity to the zero vector is undefined: nothing is similar to it.
  const vector =
    mode === "lexical" || (query.vector as readonly number[]).every((x) => x === 0)
      ? undefined
      : (query.vector as readonly number[]);
  const terms = mode === "vector" ? [] : lexicalTerms(query.text ?? "");
  const window = mode === "hybrid" ? fusionWindow(k) : k;
  const [byVector, lexical] = await Promise.all([
    vector === undefined ? [] : source.vectorCandidates(vector, window, collection),
    terms.length === 0 ? undefined : source.lexicalCandidates(terms, window, collection),
  ]);
  const byWords = lexical?.candidates ?? [];
  if (mode === "vector") {
    return byVector.slice(0, k).map((c, i) => ({
      ...c.hit,
      score: c.score,
      signals: { vector: { rank: i + 1, score: c.score } },
    }));
  }
  if (mode === "lexical") {
    return byWords.slice(0, k).map((c, i) => ({
      ...c.hit,
      score: c.score,
      signals: { lexical: { rank: i + 1, score: c.score } },
    }));
  }
  return fuse(byVector, byWords, k, lexical === undefined ? undefined : coverageOf(terms, lexical));
}

/**
 * How much of a query's information a chunk holds, in [0, 1]: the IDF (BM25's, as FTS5 computes
 * it) of the query terms it contains over that of every query term that occurs at all. A chunk
 * holding the query's one rare word holds most of it; one holding only words that are everywhere
 * holds next to nothing.
 */
export function coverageOf(
  terms: readonly string[],
  lexical: LexicalCandidates,
): (hit: Candidate["hit"]) => number {
  const idf = terms.map((_, t) => {
    const df = lexical.documentFrequencies[t] ?? 0;
    return df === 0 ? 0 : bm25Idf(lexical.documents, df);
  });
  const total = idf.reduce((a, b) => a + b, 0);
  const termIndex = new Map(terms.map((term, t) => [term, t]));
  return (hit) => {
    if (total === 0) return 0;
    const seen = new Set<number>();
    for (const token of lexicalTokens(hit.text)) {
      const t = termIndex.get(token);
      if (t !== undefined) seen.add(t);
    }
    let held = 0;
    for (const t of seen) held += idf[t] as number;
    return held / total;
  };
}

/**
 * The inverse document frequency of a term found in `matching` of `documents` documents, as FTS5
 * computes it: ln((N - n + 0.5) / (n + 0.5)), and 1e-6 where that is not positive (a term in half
 * the documents or more), so a match still counts a little and never against the document.
 */
export function bm25Idf(documents: number, matching: number): number {
  const idf = Math.log((documents - matching + 0.5) / (matching + 0.5));
  return idf > 0 ? idf : 1e-6;
}

interface Fused {
  hit: Candidate["hit"];
  vector?: { rank: number; score: number };
  lexical?: { rank: number; score: number };
}

/**
 * Reciprocal rank fusion of a vector and a lexical ranking: score = 1 / (60 + vector rank) +
 * w / (60 + lexical rank). Plain RRF (w = 1) throws away how decisive a lexical match is, so a
 * chunk holding a query's one rare word, first by BM25, loses to chunks that match the common
 * words on both sides. Here w is {@link LEXICAL_WEIGHT} times the chunk's share of the query's
 * information (`coverage`, see {@link coverageOf}; without it, every lexical match counts fully).
 */
export function fuse(
  byVector: readonly Candidate[],
  byWords: readonly Candidate[],
  k: number,
  coverage: (hit: Candidate["hit"]) => number = () => 1,
): SearchHit[] {
  const all = new Map<string, Fused>();
  byVector.forEach((c, i) => {
    all.set(c.hit.id, { hit: c.hit, vector: { rank: i + 1, score: c.score } });
  });
  byWords.forEach((c, i) => {
    const entry = all.get(c.hit.id);
    const lexical = { rank: i + 1, score: c.score };
    if (entry) entry.lexical = lexical;
    else all.set(c.hit.id, { hit: c.hit, lexical });
  });
  const outside = byVector.length + 1;
  const scored = [...all.values()].map((f) => ({
    f,
    vectorRank: f.vector?.rank ?? outside,
    score:
      1 / (RRF_K + (f.vector?.rank ?? outside)) +
      (f.lexical === undefined ? 0 : (LEXICAL_WEIGHT * coverage(f.hit)) / (RRF_K + f.lexical.rank)),
  }));
  scored.sort(
    (a, b) =>
      b.score - a.score ||
      a.vectorRank - b.vectorRank ||
      (a.f.hit.id < b.f.hit.id ? -1 : a.f.hit.id > b.f.hit.id ? 1 : 0),
  );
  return scored.slice(0, k).map(({ f, score }) => ({
    ...f.hit,
    score,
    signals: {
      ...(f.vector ? { vector: f.vector } : {}),
      ...(f.lexical ? { lexical: f.lexical } : {}),
    },
  }));
}
