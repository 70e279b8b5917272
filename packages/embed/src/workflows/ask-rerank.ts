import { lexicalTerms, lexicalTokens } from "../stores/hybrid-search.ts";
import type { SearchHit } from "../stores/vector-store.ts";

/** How many candidates to retrieve for a rerank that keeps `k`: a wider net than `k`. */
export function rerankWindow(k: number): number {
  return Math.max(3 * k, 10);
}

/**
 * A simple, explainable rerank of retrieved hits, no model needed: each hit scores half its
 * retrieval score (relative to the best) plus half the share of the question's distinct words
 * it holds, so a chunk that answers more of the question moves up; then hits whose lines
 * overlap a better hit of the same file (neighbouring chunks share their overlap) are dropped,
 * so the `k` sources the model sees are not the same text twice. Ties keep retrieval order.
 * The score of each kept hit becomes its rerank score.
 */
export function rerankHits(question: string, hits: readonly SearchHit[], k: number): SearchHit[] {
  const terms = lexicalTerms(question);
  const best = Math.max(...hits.map((h) => h.score), Number.MIN_VALUE);
  const scored = hits.map((hit, order) => {
    const words = new Set(lexicalTokens(hit.text));
    const share = terms.length === 0 ? 0 : terms.filter((t) => words.has(t)).length / terms.length;
    return { hit, order, score: 0.5 * (hit.score / best) + 0.5 * share };
  });
  scored.sort((a, b) => b.score - a.score || a.order - b.order);
  const kept: SearchHit[] = [];
  for (const { hit, score } of scored) {
    if (kept.length === k) break;
    const overlaps = kept.some(
      (other) =>
        other.collection === hit.collection &&
        other.path === hit.path &&
        other.startLine <= hit.endLine &&
        hit.startLine <= other.endLine,
    );
    if (!overlaps) kept.push({ ...hit, score });
  }
  return kept;
}
