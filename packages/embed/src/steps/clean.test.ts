import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { cleanMarkdown, normalizeHeading, tidyInlineLine } from "./clean.ts";

const doc = [
  "# Title with *emphasis*", // 1
  "", // 2
  "Some **bold** text with a [link](https://example.com/x) and `code`.", // 3
  "Second line of the paragraph.", // 4
  "", // 5
  "## Install", // 6
  "", // 7
  "```bash", // 8
  "npm install sluice", // 9
  "```", // 10
  "", // 11
  "## Changelog", // 12
  "", // 13
  "- v1 released", // 14
  "", // 15
  "### Details", // 16
  "", // 17
  "Nested under the changelog.", // 18
  "", // 19
  "## Table", // 20
  "", // 21
  "| Name | Value |", // 22
  "| ---- | ----- |", // 23
  "| a    | *1*   |", // 24
  "| b    | 2     |", // 25
  "", // 26
  "> quoted ~~old~~ text", // 27
  "", // 28
  "- item one", // 29
  "  - nested [x](http://y)", // 30
  "- [ ] task", // 31
  "", // 32
  "<div>html <b>block</b></div>", // 33
  "", // 34
  "![alt text](img.png)", // 35
  "", // 36
  "[ref]: https://example.com", // 37
  "", // 38
  "***", // 39
  "", // 40
  "    indented code", // 41
].join("\n");

describe("cleanMarkdown", () => {
  const result = cleanMarkdown(doc, { removeSections: ["changelog"] });
  const byText = (needle: string) => result.blocks.find((b) => b.text.includes(needle));

  it("unwraps inline markup, keeps link text and drops URLs", () => {
    expect(result.blocks[0]).toEqual({
      kind: "heading",
      depth: 1,
      text: "Title with emphasis",
      startLine: 1,
      endLine: 1,
      lines: [1],
    });
    const paragraph = byText("Some bold");
    expect(paragraph?.text).toBe(
      "Some bold text with a link and `code`.\nSecond line of the paragraph.",
    );
    expect(paragraph).toMatchObject({ kind: "paragraph", startLine: 3, endLine: 4, lines: [3, 4] });
    expect(result.text).not.toContain("https://");
    expect(result.text).not.toContain("http://y");
  });

  it("keeps fenced code as code with its fence lines", () => {
    expect(byText("npm install")).toMatchObject({
      kind: "code",
      text: "```bash\nnpm install sluice\n```",
      startLine: 8,
      endLine: 10,
      lines: [8, 9, 10],
    });
    expect(byText("indented code")).toMatchObject({
      kind: "code",
      text: "```\nindented code\n```",
      startLine: 41,
    });
  });

  it("removes a whole section up to the next heading of the same level", () => {
    expect(result.text).not.toContain("Changelog");
    expect(result.text).not.toContain("v1 released");
    expect(result.text).not.toContain("Nested under the changelog");
    expect(byText("Table")).toMatchObject({ kind: "heading", depth: 2, startLine: 20 });
  });

  it("renders tables as text rows with their own lines", () => {
    expect(byText("Name | Value")).toMatchObject({
      kind: "table",
      text: "Name | Value\na | 1\nb | 2",
      startLine: 22,
      endLine: 25,
      lines: [22, 24, 25],
    });
  });

  it("renders blockquotes, lists, task items, html text and image alt text", () => {
    expect(byText("quoted")?.text).toBe("quoted old text");
    expect(byText("item one")).toMatchObject({
      kind: "list",
      text: "- item one\n  - nested x\n- [ ] task",
      lines: [29, 30, 31],
    });
    expect(byText("html")).toMatchObject({ kind: "html", text: "html block", startLine: 33 });
    expect(byText("alt text")?.text).toBe("alt text");
  });

  it("drops link definitions and rules, and separates blocks by a blank line", () => {
    expect(result.text).not.toContain("[ref]");
    expect(result.text).not.toContain("***");
    expect(result.text.split("\n\n")).toHaveLength(result.blocks.length);
    expect(result.text).toContain("Title with emphasis\n\nSome bold");
  });

  it("shifts every line by the frontmatter offset", () => {
    const shifted = cleanMarkdown("para one\n\n# H\n", { lineOffset: 5 });
    expect(shifted.blocks.map((b) => [b.startLine, b.endLine])).toEqual([
      [6, 6],
      [8, 8],
    ]);
  });

  it("matches section headings loosely and stops at a higher-level heading", () => {
    const md = "# A\n\n## Remove  ME\n\ngone\n\n### deeper\n\ngone too\n\n# B\n\nkept\n";
    const cleaned = cleanMarkdown(md, { removeSections: ["remove me"] });
    expect(cleaned.text).toBe("A\n\nB\n\nkept");
    expect(normalizeHeading("  Remove\tME ")).toBe("remove me");
  });

  it("keeps multi-line html comments out without shifting lines", () => {
    const cleaned = cleanMarkdown("<!--\nhidden\n-->\n<p>\nshown\n</p>\n");
    expect(cleaned.blocks).toEqual([
      { kind: "html", text: "shown", startLine: 5, endLine: 5, lines: [5] },
    ]);
  });

  it("returns nothing for an empty document", () => {
    expect(cleanMarkdown("")).toEqual({ blocks: [], text: "" });
  });

  it("credits each line of a paragraph to its own file line, also past a code span over a line break", () => {
    const cleaned = cleanMarkdown("one `code\nspan` two\nthree\n");
    expect(cleaned.blocks[0]).toMatchObject({
      text: "one `code\nspan` two\nthree",
      lines: [1, 2, 3],
      endLine: 3,
    });
  });

  it("reads CRLF files without carriage returns and with the same lines", () => {
    const crlf = cleanMarkdown("# T\r\n\r\n```js\r\na\r\nb\r\n```\r\n");
    const lf = cleanMarkdown("# T\n\n```js\na\nb\n```\n");
    expect(crlf).toEqual(lf);
    expect(crlf.text).not.toContain("\r");
  });

  it("drops footnote references and keeps footnote text with its lines", () => {
    const cleaned = cleanMarkdown("Claim[^1] here.\n\n[^1]: The source.\n");
    expect(cleaned.blocks.map((b) => [b.text, b.startLine])).toEqual([
      ["Claim here.", 1],
      ["The source.", 3],
    ]);
  });

  it("stays linear on input that made the previous parser take minutes", () => {
    // Each took remark/micromark from seconds to minutes (100 KB of `*a_`: minutes).
    for (const hostile of ["*a_".repeat(33_000), "> ".repeat(50_000), "[".repeat(100_000)]) {
      const started = performance.now();
      cleanMarkdown(hostile);
      // A generous bound that fails only on super-linear behaviour (it takes ~0.2 s here).
      expect(performance.now() - started).toBeLessThan(10_000);
    }
  });
});

describe("tidyInlineLine", () => {
  it("equals collapsing every run of spaces and tabs, then trimming, for any line", () => {
    const blanks = fc.constantFrom(
      " ",
      "  ",
      "\t",
      " \t ",
      "\u00a0",
      "\u2003",
      "\r",
      "\v",
      "\f",
      "a",
      "b c",
      "é",
      "😀",
    );
    fc.assert(
      fc.property(fc.array(blanks, { maxLength: 20 }), (parts) => {
        const line = parts.join("");
        expect(tidyInlineLine(line)).toBe(
          line
            .trimEnd()
            .replace(/[ \t]+/g, " ")
            .trim(),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
