import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanMarkdown } from "./clean.ts";
import { parseFrontmatter } from "./frontmatter.ts";
import { type SplitOptions, SplitOptionsError, splitBlocks } from "./split.ts";
import { countCl100kTokens } from "./token-count.ts";

function split(markdown: string, options: SplitOptions) {
  return splitBlocks(cleanMarkdown(markdown).blocks, options);
}

const sentence = (i: number) => `Sentence number ${i} talks about pipelines and vectors.`;
const paragraph = (from: number, count: number) =>
  Array.from({ length: count }, (_, i) => sentence(from + i)).join(" ");

describe("splitBlocks", () => {
  it("keeps a small document as one chunk with its line range", () => {
    const chunks = split("# Title\n\nHello world.\n", { maxChunkSize: 100 });
    expect(chunks).toEqual([
      {
        index: 0,
        text: "Title\n\nHello world.",
        startLine: 1,
        endLine: 3,
        size: 19,
        headings: ["Title"],
      },
    ]);
  });

  it("cuts at headings before anything else", () => {
    const sections = ["Alpha", "Beta", "Gamma"].map((h) => `## ${h}\n\n${paragraph(0, 4)}`);
    const chunks = split(`# Doc\n\n${sections.join("\n\n")}\n`, {
      maxChunkSize: 300,
      chunkOverlap: 20,
    });
    // Each section fits, so each is one chunk; the lone title packs with the first section.
    expect(chunks.map((c) => c.text.split("\n\n").slice(0, 2).join("/"))).toEqual([
      "Doc/Alpha",
      "Beta/Sentence number 0 talks about pipelines and vectors. Sentence number 1 talks about pipelines and vectors. Sentence number 2 talks about pipelines and vectors. Sentence number 3 talks about pipelines and vectors.",
      "Gamma/Sentence number 0 talks about pipelines and vectors. Sentence number 1 talks about pipelines and vectors. Sentence number 2 talks about pipelines and vectors. Sentence number 3 talks about pipelines and vectors.",
    ]);
    expect(chunks.map((c) => c.headings)).toEqual([["Doc"], ["Doc", "Beta"], ["Doc", "Gamma"]]);
    expect(chunks.map((c) => [c.startLine, c.endLine])).toEqual([
      [1, 5],
      [7, 9],
      [11, 13],
    ]);
    // A cut at a heading carries no overlap: no chunk repeats the previous section.
    for (const chunk of chunks) expect(chunk.text.match(/Sentence number 0 /g)).toHaveLength(1);
  });

  it("keeps a code block whole when it fits and splits it by lines when it does not", () => {
    const code = Array.from({ length: 8 }, (_, i) => `const value${i} = compute(${i});`).join("\n");
    const md = `Intro paragraph.\n\n\`\`\`ts\n${code}\n\`\`\`\n\nOutro paragraph.\n`;
    const whole = split(md, { maxChunkSize: 300 });
    expect(whole.some((c) => c.text.includes("```ts\n") && c.text.includes("value7"))).toBe(true);

    const small = split(md, { maxChunkSize: 80 });
    for (const chunk of small) expect(chunk.size).toBeLessThanOrEqual(80);
    // Line cuts inside code: no chunk starts or ends in the middle of a code line.
    const codeLines = new Set(code.split("\n"));
    for (const chunk of small.filter((c) => c.text.includes("compute"))) {
      for (const line of chunk.text.split("\n").filter((l) => l.includes("compute"))) {
        expect(codeLines.has(line)).toBe(true);
      }
    }
  });

  it("splits a long paragraph by sentences with overlap taken at word boundaries", () => {
    const md = `${paragraph(0, 30)}\n`;
    const chunks = split(md, { maxChunkSize: 200, chunkOverlap: 40 });
    expect(chunks.length).toBeGreaterThan(5);
    for (const [i, chunk] of chunks.entries()) {
      expect(chunk.size).toBeLessThanOrEqual(200);
      const previous = chunks[i - 1];
      if (!previous) continue;
      // The chunk begins with a tail of the previous one of at most 40 characters.
      let shared = 0;
      for (let n = 1; n <= 40; n++) {
        if (previous.text.endsWith(chunk.text.slice(0, n))) shared = n;
      }
      expect(shared).toBeGreaterThan(0);
      expect(previous.text.endsWith(chunk.text.slice(0, shared))).toBe(true);
      expect(/\s/.test(previous.text[previous.text.length - shared - 1] ?? " ")).toBe(true);
    }
  });

  it("merges small neighbours when together they fit, and only then", () => {
    const md = "# A\n\nx1\n\n# B\n\ny2\n\n# C\n\nz3\n";
    const tight = split(md, { maxChunkSize: 8, minChunkSize: 0 });
    expect(tight.map((c) => c.text)).toEqual(["A\n\nx1", "B\n\ny2", "C\n\nz3"]);
    const merged = split(md, { maxChunkSize: 8, minChunkSize: 7 });
    expect(merged.map((c) => c.text)).toEqual(["A\n\nx1", "B\n\ny2", "C\n\nz3"]);
    const roomy = split(`${md}\n${"w".repeat(30)}\n`, { maxChunkSize: 20, minChunkSize: 10 });
    expect(roomy[0]?.text).toBe("A\n\nx1\n\nB\n\ny2\n\nC\n\nz3");
  });

  it("hard-cuts a single overlong word without breaking a surrogate pair", () => {
    const word = "😀".repeat(30);
    const chunks = split(word, { maxChunkSize: 11 });
    expect(chunks.map((c) => c.text).join("")).toBe(word);
    for (const chunk of chunks) {
      expect(chunk.size).toBeLessThanOrEqual(11);
      expect(chunk.text.length % 2).toBe(0);
    }
  });

  it("measures tokens with cl100k_base and treats special-token text as text", () => {
    expect(countCl100kTokens("hello world")).toBe(2);
    expect(countCl100kTokens("a <|endoftext|> b")).toBeGreaterThan(3);
    const chunks = split(`${paragraph(0, 40)}\n`, {
      unit: "tokens",
      maxChunkSize: 50,
      chunkOverlap: 10,
    });
    expect(chunks.length).toBeGreaterThan(5);
    for (const chunk of chunks) {
      expect(chunk.size).toBe(countCl100kTokens(chunk.text));
      expect(chunk.size).toBeLessThanOrEqual(50);
    }
  });

  it("reports real file lines, frontmatter included", () => {
    const file = [
      "---", // 1
      "title: x", // 2
      "---", // 3
      "# Heading", // 4
      "", // 5
      "first paragraph line one", // 6
      "first paragraph line two", // 7
      "", // 8
      "second paragraph", // 9
    ].join("\n");
    const fm = parseFrontmatter(file);
    const blocks = cleanMarkdown(fm.body, { lineOffset: fm.lineOffset }).blocks;
    const chunks = splitBlocks(blocks, { maxChunkSize: 30 });
    const lines = file.split("\n");
    for (const chunk of chunks) {
      const chunkLines = chunk.text.split("\n").filter((l) => l !== "");
      expect(lines[chunk.startLine - 1]).toContain(chunkLines[0]?.split(" ")[0]);
      expect(lines[chunk.endLine - 1]).toContain(chunkLines.at(-1)?.split(" ").at(-1));
    }
    expect(chunks[0]?.startLine).toBe(4);
    expect(chunks.at(-1)?.endLine).toBe(9);
  });

  it("has no cap on chunks per file", () => {
    const md = Array.from({ length: 1100 }, (_, i) => `Paragraph ${i} with words.`).join("\n\n");
    const chunks = split(md, { maxChunkSize: 30 });
    expect(chunks).toHaveLength(1100);
    expect(chunks.at(-1)).toMatchObject({ index: 1099, startLine: 2199, endLine: 2199 });
  });

  it("returns no chunk for an empty document", () => {
    expect(splitBlocks([], { maxChunkSize: 10 })).toEqual([]);
  });

  it("rejects impossible options with a typed error naming the option", () => {
    expect(() => splitBlocks([], { maxChunkSize: 0 })).toThrow(SplitOptionsError);
    expect(() => splitBlocks([], { maxChunkSize: 10, chunkOverlap: 10 })).toThrow(
      /chunkOverlap = 10/,
    );
    expect(() => splitBlocks([], { maxChunkSize: 10, minChunkSize: 11 })).toThrow(/minChunkSize/);
  });

  it("covers every word, stays within the size limit and is deterministic (property)", () => {
    const word = fc.stringMatching(/^[a-z]{1,12}$/);
    const para = fc.array(word, { minLength: 1, maxLength: 40 }).map((w) => `${w.join(" ")}.`);
    const section = fc.tuple(
      fc.integer({ min: 1, max: 3 }),
      word,
      fc.array(para, { maxLength: 4 }),
    );
    fc.assert(
      fc.property(
        fc.array(section, { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 20, max: 200 }),
        fc.integer({ min: 0, max: 19 }),
        fc.integer({ min: 0, max: 20 }),
        (sections, max, overlap, min) => {
          const md = sections
            .map(([depth, title, paras]) =>
              [`${"#".repeat(depth)} ${title}`, ...paras].join("\n\n"),
            )
            .join("\n\n");
          const options = {
            maxChunkSize: max,
            chunkOverlap: overlap,
            minChunkSize: Math.min(min, max),
          };
          const chunks = split(md, options);
          const sourceLines = md.split("\n");
          for (const chunk of chunks) {
            expect(chunk.size).toBeLessThanOrEqual(max);
            expect(chunk.startLine).toBeLessThanOrEqual(chunk.endLine);
            expect(chunk.endLine).toBeLessThanOrEqual(sourceLines.length);
          }
          const covered = chunks.map((c) => c.text).join(" ");
          for (const token of md.replace(/#/g, " ").split(/\s+/).filter(Boolean)) {
            expect(covered).toContain(token);
          }
          expect(split(md, options)).toEqual(chunks);
        },
      ),
      { numRuns: 100 },
    );
  });
});
