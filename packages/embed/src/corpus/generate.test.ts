import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { cleanMarkdown } from "../steps/clean.ts";
import { discoverFiles } from "../steps/discover.ts";
import { parseFrontmatter } from "../steps/frontmatter.ts";
import { corpusDocument, corpusDocuments, generateCorpus } from "./generate.ts";

describe("synthetic corpus", () => {
  it("is deterministic per seed and document", () => {
    expect(corpusDocument(42, 7)).toEqual(corpusDocument(42, 7));
    expect(corpusDocument(42, 7).content).not.toBe(corpusDocument(42, 8).content);
    expect(corpusDocument(42, 7).content).not.toBe(corpusDocument(43, 7).content);
    const streamed = [...corpusDocuments({ files: 5, seed: 7 })];
    expect(streamed.map((d) => d.index)).toEqual([0, 1, 2, 3, 4]);
    expect(streamed[3]).toEqual(corpusDocument(3, 7));
  });

  it("produces parseable documents with frontmatter, tags and varied markdown", () => {
    const docs = [...corpusDocuments({ files: 200 })];
    const all = docs.map((d) => d.content).join("\n");
    for (const feature of ["```", "| --- |", "\n- ", "\n1. ", "](https://", "**", "\n### "]) {
      expect(all).toContain(feature);
    }
    expect(docs.some((d) => d.hasChangelog)).toBe(true);
    for (const doc of docs.slice(0, 50)) {
      const fm = parseFrontmatter(doc.content);
      expect(fm.warnings).toEqual([]);
      expect(fm.metadata.title).toBe(doc.title);
      expect(fm.tags).toEqual(doc.tags);
      const cleaned = cleanMarkdown(fm.body, { lineOffset: fm.lineOffset });
      expect(cleaned.blocks[0]).toMatchObject({
        kind: "heading",
        depth: 1,
        startLine: fm.lineOffset + 2,
      });
      expect(cleaned.text).toContain(doc.marker);
    }
  });

  it("streams: a 100,000-file corpus yields its first document without building the rest", () => {
    const started = performance.now();
    const iterator = corpusDocuments({ files: 100_000 });
    const first = iterator.next();
    expect(first.value?.index).toBe(0);
    expect(performance.now() - started).toBeLessThan(200);
    expect(corpusDocument(99_999).relativePath).toBe("part-9/group-99/doc-099999.md");
  });

  it("writes nested folders that discovery finds, in order", async () => {
    const root = await mkdtemp(join(tmpdir(), "sluice-corpus-"));
    try {
      const summary = await generateCorpus(root, { files: 250, seed: 3 });
      expect(summary.files).toBe(250);
      const files = await discoverFiles({ root });
      expect(files).toHaveLength(250);
      expect(files[0]?.relativePath).toBe("part-0/group-00/doc-000000.md");
      expect(files.at(-1)?.relativePath).toBe("part-0/group-02/doc-000249.md");
      const text = await readFile(join(root, "part-0", "group-01", "doc-000100.md"), "utf8");
      expect(text).toBe(corpusDocument(100, 3).content);
      expect(summary.bytes).toBeGreaterThan(250 * 500);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("rejects a bad count", () => {
    expect(() => [...corpusDocuments({ files: -1 })]).toThrow(RangeError);
    expect(() => corpusDocument(1.5)).toThrow(RangeError);
  });
});
