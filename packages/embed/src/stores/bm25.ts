// BM25 over a stream of documents, for a store with no full-text index of its own (JSONL): the
// corpus statistics and the matching documents' term counts are gathered in one pass, scores are
// computed at the end, when the document frequencies are known.
import { bm25Idf, lexicalTokens } from "./hybrid-search.ts";

/** BM25's term-frequency saturation; 1.2 as in SQLite FTS5. */
export const BM25_K1 = 1.2;
/** BM25's document-length normalization; 0.75 as in SQLite FTS5. */
export const BM25_B = 0.75;

/** One scored document: the key it was added with and its BM25 relevance (higher is better). */
export interface Bm25Score {
  readonly key: number;
  readonly score: number;
}

/**
 * Scores a stream of documents against a query's terms with Okapi BM25 as SQLite FTS5 defines
 * it (k1 = 1.2, b = 0.75):
 *
 *   score(D) = Σ over query terms t in D of idf(t) · f(t, D) · (k1 + 1) / (f(t, D) + k1 · (1 − b + b · |D| / avgdl))
 *
 * where f(t, D) is how often t occurs in D, |D| is D's length in tokens and avgdl the average
 * length. Documents are tokenized by {@link lexicalTokens}; terms must be tokens of that kind
 * (as `lexicalTerms` makes them). Every document is {@link add}ed once; the statistics (N, avgdl,
 * document frequencies) cover every document added, while only documents holding a query term
 * are remembered, with one count per term: memory grows with the matching documents, never with
 * the whole stream.
 */
export class Bm25Scorer {
  private readonly termIndex = new Map<string, number>();
  private documents = 0;
  private totalLength = 0;
  private readonly documentFrequency: number[];
  /** Matching documents: their keys, lengths, and per-term counts (term count values each). */
  private readonly keys: number[] = [];
  private readonly lengths: number[] = [];
  private readonly counts: number[] = [];

  constructor(readonly terms: readonly string[]) {
    for (const term of terms) {
      if (!this.termIndex.has(term)) this.termIndex.set(term, this.termIndex.size);
    }
    this.documentFrequency = new Array<number>(this.termIndex.size).fill(0);
  }

  /** Counts one document of the corpus, identified by `key`; true when it holds a query term. */
  add(key: number, text: string): boolean {
    const tokens = lexicalTokens(text);
    this.documents += 1;
    this.totalLength += tokens.length;
    let found: number[] | undefined;
    for (const token of tokens) {
      const term = this.termIndex.get(token);
      if (term === undefined) continue;
      found ??= new Array<number>(this.termIndex.size).fill(0);
      found[term] = (found[term] as number) + 1;
    }
    if (found === undefined) return false;
    this.keys.push(key);
    this.lengths.push(tokens.length);
    for (let t = 0; t < found.length; t++) {
      const count = found[t] as number;
      this.counts.push(count);
      if (count > 0) this.documentFrequency[t] = (this.documentFrequency[t] as number) + 1;
    }
    return true;
  }

  /** Documents added so far. */
  get documentCount(): number {
    return this.documents;
  }

  /** How many documents added so far hold each query term, in the order of `terms`. */
  documentFrequencies(): number[] {
    return this.terms.map(
      (term) => this.documentFrequency[this.termIndex.get(term) as number] as number,
    );
  }

  /** Documents added so far that hold a query term. */
  get matchCount(): number {
    return this.keys.length;
  }

  /**
   * The `n` best matching documents, best first; equal scores keep the order `tieBreak` gives
   * their keys (default: the order they were added).
   */
  top(n: number, tieBreak?: (a: number, b: number) => number): Bm25Score[] {
    const termCount = this.termIndex.size;
    if (this.documents === 0 || termCount === 0) return [];
    const averageLength = this.totalLength / this.documents;
    const idf = this.documentFrequency.map((df) => bm25Idf(this.documents, df));
    const scored: (Bm25Score & { order: number })[] = this.keys.map((key, i) => {
      const length = this.lengths[i] as number;
      // A corpus of empty documents has no average length; no document then matches anyway.
      const norm = averageLength === 0 ? 1 : 1 - BM25_B + (BM25_B * length) / averageLength;
      let score = 0;
      for (let t = 0; t < termCount; t++) {
        const f = this.counts[i * termCount + t] as number;
        if (f > 0) score += ((idf[t] as number) * f * (BM25_K1 + 1)) / (f + BM25_K1 * norm);
      }
      return { key, score, order: i };
    });
    scored.sort(
      (a, b) => b.score - a.score || (tieBreak ? tieBreak(a.key, b.key) : 0) || a.order - b.order,
    );
    return scored.slice(0, Math.max(0, n)).map(({ key, score }) => ({ key, score }));
  }
}
