import { describe, expect, it } from "vitest";
import { chunkId } from "./chunk-id.ts";
import { prepareChunks } from "./prepare.ts";

const file = {
  relativePath: "./notes/a.md",
  text: "---\ntitle: Notes\ntags: x, y\n---\n# Top\n\nAlpha text.\n\n## Changelog\n\n- removed\n",
};

describe("prepareChunks", () => {
  it("runs frontmatter, cleaning, splitting and ids with real lines", () => {
    const prepared = prepareChunks(file, {
      collection: "/notes",
      removeSections: ["Changelog"],
      split: { maxChunkSize: 200 },
    });
    expect(prepared.path).toBe("notes/a.md");
    expect(prepared.warnings).toEqual([]);
    expect(prepared.chunks).toEqual([
      {
        id: chunkId({
          collection: "/notes",
          path: "notes/a.md",
          ordinal: 0,
          text: "Top\n\nAlpha text.",
        }),
        collection: "/notes",
        path: "notes/a.md",
        ordinal: 0,
        text: "Top\n\nAlpha text.",
        startLine: 5,
        endLine: 7,
        metadata: { title: "Notes", tags: ["x", "y"], headings: ["Top"] },
      },
    ]);
  });

  it("can leave frontmatter in the text", () => {
    const prepared = prepareChunks(file, {
      collection: "/notes",
      frontmatter: false,
      split: { maxChunkSize: 500 },
    });
    // Unparsed, the block reads as a rule (line 1, dropped) and a setext heading (lines 2-4).
    expect(prepared.chunks[0]?.startLine).toBe(2);
    expect(prepared.chunks[0]?.text).toContain("title: Notes");
    expect(prepared.chunks[0]?.metadata).toMatchObject({ tags: [] });
  });
});
