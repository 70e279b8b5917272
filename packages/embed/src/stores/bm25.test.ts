import Database from "better-sqlite3";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Bm25Scorer } from "./bm25.ts";
import { bm25Idf, lexicalTerms } from "./hybrid-search.ts";

const CORPUS = [
  "apple banana apple", // 3 tokens
  "banana cherry", // 2
  "date elderberry fig grape", // 4
  "cherry", // 1
];

function score(corpus: readonly string[], query: string, n = 100) {
  const scorer = new Bm25Scorer(lexicalTerms(query));
  corpus.forEach((text, i) => {
    scorer.add(i, text);
  });
  return scorer.top(n);
}

describe("bm25Idf", () => {
  it("is FTS5's ln((N - n + 0.5) / (n + 0.5)), floored at 1e-6", () => {
    expect(bm25Idf(4, 1)).toBeCloseTo(Math.log(3.5 / 1.5), 12);
    expect(bm25Idf(4, 2)).toBe(1e-6); // ln(1) = 0
    expect(bm25Idf(4, 4)).toBe(1e-6);
  });
});

describe("Bm25Scorer", () => {
  it("gives the hand-computed scores", () => {
    // N = 4, avgdl = 10 / 4 = 2.5. apple: df 1, idf ln(3.5/1.5); cherry: df 2, idf 1e-6.
    // Doc 0: f(apple) = 2, |D| = 3: 0.8473 · 2 · 2.2 / (2 + 1.2 · (0.25 + 0.75 · 3 / 2.5)).
    const idfApple = Math.log(3.5 / 1.5);
    const doc0 = (idfApple * 2 * 2.2) / (2 + 1.2 * 1.15);
    const doc3 = (1e-6 * 2.2) / (1 + 1.2 * 0.55);
    const doc1 = (1e-6 * 2.2) / (1 + 1.2 * 0.85);
    const hits = score(CORPUS, "Apple cherry");
    expect(hits.map((h) => h.key)).toEqual([0, 3, 1]);
    expect(hits[0]?.score).toBeCloseTo(doc0, 12);
    expect(hits[0]?.score).toBeCloseTo(1.102991297545472, 12);
    expect(hits[1]?.score).toBeCloseTo(doc3, 18);
    expect(hits[2]?.score).toBeCloseTo(doc1, 18);
  });

  it("matches whole tokens only, folding case and accents, and keeps only matches", () => {
    const scorer = new Bm25Scorer(lexicalTerms("CAFÉ"));
    expect(scorer.add(0, "un café, s'il vous plaît")).toBe(true);
    expect(scorer.add(1, "cafeteria caf")).toBe(false);
    expect(scorer.add(2, "Cafe au lait")).toBe(true);
    expect(scorer.documentCount).toBe(3);
    expect(scorer.matchCount).toBe(2);
    expect(
      scorer
        .top(10)
        .map((h) => h.key)
        .sort(),
    ).toEqual([0, 2]);
  });

  it("cuts to n, breaks ties as asked, and scores nothing without terms or documents", () => {
    const scorer = new Bm25Scorer(["x"]);
    for (const key of [5, 3, 9]) scorer.add(key, "x y");
    expect(scorer.top(2).map((h) => h.key)).toEqual([5, 3]);
    expect(scorer.top(2, (a, b) => a - b).map((h) => h.key)).toEqual([3, 5]);
    expect(new Bm25Scorer(["x"]).top(5)).toEqual([]);
    const none = new Bm25Scorer([]);
    none.add(0, "x");
    expect(none.top(5)).toEqual([]);
  });

  it("agrees with SQLite FTS5's bm25() on any small corpus and query", () => {
    const word = fc.constantFrom("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta");
    const doc = fc.array(word, { minLength: 0, maxLength: 12 }).map((w) => w.join(" "));
    fc.assert(
      fc.property(
        fc.array(doc, { minLength: 1, maxLength: 15 }),
        fc.array(word, { minLength: 1, maxLength: 3 }),
        (corpus, query) => {
          const db = new Database(":memory:");
          try {
            db.exec(
              "CREATE VIRTUAL TABLE t USING fts5(x, tokenize='unicode61 remove_diacritics 2')",
            );
            const insert = db.prepare("INSERT INTO t (rowid, x) VALUES (?, ?)");
            corpus.forEach((text, i) => {
              insert.run(i, text);
            });
            const match = [...new Set(query)].map((w) => `"${w}"`).join(" OR ");
            const expected = db
              .prepare("SELECT rowid AS key, -bm25(t) AS score FROM t WHERE t MATCH ?")
              .all(match) as { key: number; score: number }[];
            const got = score(corpus, query.join(" "));
            expect(got.map((h) => h.key).sort((a, b) => a - b)).toEqual(
              expected.map((h) => h.key).sort((a, b) => a - b),
            );
            const byKey = new Map(expected.map((h) => [h.key, h.score]));
            for (const hit of got) {
              expect(hit.score).toBeCloseTo(byKey.get(hit.key) as number, 9);
            }
          } finally {
            db.close();
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
