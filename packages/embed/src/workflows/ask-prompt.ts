import type { Collection, SearchHit } from "../stores/vector-store.ts";
import type { ChatMessage } from "./ask-chat.ts";

/** A retrieved chunk as the answer cites it: numbered from 1, in the order the prompt lists them. */
export interface AskSource {
  /** The number the prompt gives it, `[n]` in the answer. */
  readonly n: number;
  readonly id: string;
  readonly collection: Collection;
  /** Relative to its collection's folder. */
  readonly path: string;
  /** 1-based file lines. */
  readonly lines: { readonly start: number; readonly end: number };
  /** The retrieval (or rerank) score, higher is better. */
  readonly score: number;
  readonly text: string;
}

/** The hits as numbered sources, best first. */
export function sourcesOf(hits: readonly SearchHit[]): AskSource[] {
  return hits.map((hit, i) => ({
    n: i + 1,
    id: hit.id,
    collection: hit.collection,
    path: hit.path,
    lines: { start: hit.startLine, end: hit.endLine },
    score: hit.score,
    text: hit.text,
  }));
}

/** What the model is told to do with the sources. */
export const SYSTEM_PROMPT =
  "Answer the question using only the numbered sources. Cite every source you use by its " +
  "number in square brackets, like [1] or [2][3]. If the sources do not hold the answer, say " +
  "so instead of guessing.";

/**
 * The chat messages for a question: the instructions, then one user message listing every
 * source as `[n] path:start-end` and its text, then the question.
 */
export function buildPrompt(question: string, sources: readonly AskSource[]): ChatMessage[] {
  const listed = sources
    .map((s) => `[${s.n}] ${s.path}:${s.lines.start}-${s.lines.end}\n${s.text.trim()}`)
    .join("\n\n");
  return [
    { role: "system", content: SYSTEM_PROMPT },
    { role: "user", content: `Sources:\n\n${listed}\n\nQuestion: ${question}` },
  ];
}

/** The source numbers an answer cites (`[2]`, `[1, 3]`, `[1][4]`), each once, in order of first citation. */
export function citedNumbers(answer: string, count: number): number[] {
  const cited = new Set<number>();
  for (const match of answer.matchAll(/\[(\d+(?:\s*,\s*\d+)*)\]/g)) {
    for (const part of (match[1] as string).split(",")) {
      const n = Number(part.trim());
      if (n >= 1 && n <= count) cited.add(n);
    }
  }
  return [...cited];
}
