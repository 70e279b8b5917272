import fc from "fast-check";
import { countTokens } from "gpt-tokenizer/encoding/cl100k_base";
import { describe, expect, it } from "vitest";
import { countCl100kTokens, PIECE_MEMO_LIMIT, pieceMemoSize, startsPiece } from "./token-count.ts";

const asText = { disallowedSpecial: new Set<string>() };
/** gpt-tokenizer's own count of the whole text: the reference. */
const reference = (text: string): number => countTokens(text, asText);

// Characters that exercise every branch of cl100k's pre-tokenizer: contractions, letters after
// a non-letter, digit runs, punctuation with trailing newlines, whitespace runs at the end and
// before non-space, CR/LF, and non-ASCII letters, digits and marks.
const pieces = [
  "'s",
  "'T",
  "'re",
  "'LL",
  "'d",
  "'",
  "a",
  "Z",
  "é",
  "ß",
  "漢",
  "д",
  "\u0301",
  "1",
  "23",
  "4567",
  "٣",
  " ",
  "  ",
  "\t",
  "\n",
  "\r\n",
  "\r",
  "\u00a0",
  ".",
  "...",
  "!?",
  "-",
  "`",
  "<|endoftext|>",
  "<|fim_prefix|>",
  "😀",
  "\u{1F3FD}",
  "#",
  "##",
  "*",
  "_",
  "word",
  " word",
  "Word's",
];
const texts = fc
  .array(fc.constantFrom(...pieces), { maxLength: 40 })
  .map((parts) => parts.join(""));

describe("countCl100kTokens", () => {
  it("equals gpt-tokenizer's count of the whole text, for any mix of cl100k's piece kinds", () => {
    fc.assert(
      fc.property(texts, (text) => {
        expect(countCl100kTokens(text)).toBe(reference(text));
      }),
      { numRuns: 2000 },
    );
  });

  it("equals it for arbitrary Unicode text, lone surrogates included", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary", maxLength: 60 }), (text) => {
        expect(countCl100kTokens(text)).toBe(reference(text));
      }),
      { numRuns: 1000 },
    );
  });

  it("equals it on markdown prose, asked twice (the second count comes from the memo)", () => {
    const text =
      "# Title\n\nIt's 2024: the pipeline's 3 stages don't stall.\n\n```ts\nconst x = 1;\n```\n\n- item\n- item 2  \n";
    expect(countCl100kTokens(text)).toBe(reference(text));
    expect(countCl100kTokens(text)).toBe(reference(text));
    expect(countCl100kTokens("")).toBe(0);
  });

  it("treats special-token text as text", () => {
    expect(countCl100kTokens("a <|endoftext|> b")).toBe(reference("a <|endoftext|> b"));
    expect(countCl100kTokens("a <|endoftext|> b")).toBeGreaterThan(3);
  });

  it("keeps its memo bounded however many distinct pieces it meets", () => {
    // Letters only, so each text is one piece (a digit would start a piece of its own).
    const word = (n: number): string =>
      n.toString(26).replace(/./g, (d) => String.fromCharCode(97 + Number.parseInt(d, 26)));
    for (let i = 0; i < PIECE_MEMO_LIMIT * 2 + 10; i += 1) countCl100kTokens(` w${word(i)}`);
    expect(pieceMemoSize()).toBeLessThanOrEqual(PIECE_MEMO_LIMIT);
    expect(countCl100kTokens(" wabcx")).toBe(reference(" wabcx"));
  });

  it("finds a piece starting at every code point, lone surrogates included (the loop relies on it)", () => {
    const missing: number[] = [];
    for (let cp = 0; cp <= 0x10ffff; cp += 1) {
      if (!startsPiece(`${String.fromCodePoint(cp)}x`)) missing.push(cp);
    }
    for (let unit = 0xd800; unit <= 0xdfff; unit += 1) {
      if (!startsPiece(String.fromCharCode(unit))) missing.push(unit);
    }
    expect(missing).toEqual([]);
  });
});
