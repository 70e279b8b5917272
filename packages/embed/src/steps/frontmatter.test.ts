import { describe, expect, it } from "vitest";
import { normalizeTags, parseFrontmatter } from "./frontmatter.ts";

describe("parseFrontmatter", () => {
  it("splits fields, tags and body and counts the frontmatter lines", () => {
    const text = [
      "---",
      "title: Guide",
      "tags: alpha, beta , alpha",
      "date: 2024-01-02",
      "draft: false",
      "---",
      "# Heading",
      "Body text.",
    ].join("\n");
    const result = parseFrontmatter(text);
    expect(result.body).toBe("# Heading\nBody text.");
    expect(result.lineOffset).toBe(6);
    expect(result.tags).toEqual(["alpha", "beta"]);
    expect(result.metadata).toEqual({
      title: "Guide",
      date: "2024-01-02T00:00:00.000Z",
      draft: false,
    });
    expect(result.warnings).toEqual([]);
    // The body's first line is file line 7.
    expect(text.split("\n")[result.lineOffset]).toBe("# Heading");
  });

  it("accepts tags as a YAML list and keeps nested metadata", () => {
    const result = parseFrontmatter("---\ntags:\n  - x\n  - 3\nmeta:\n  a: [1, 2]\n...\nbody");
    expect(result.tags).toEqual(["x", "3"]);
    expect(result.metadata).toEqual({ meta: { a: [1, 2] } });
    expect(result.body).toBe("body");
    expect(result.lineOffset).toBe(7);
  });

  it("reports malformed YAML but still returns the body and the real line offset", () => {
    const result = parseFrontmatter("---\ntitle: ok\nbad: [unclosed\n---\nStill here\n");
    expect(result.body).toBe("Still here\n");
    expect(result.lineOffset).toBe(4);
    expect(result.metadata).toEqual({});
    expect(result.warnings).toHaveLength(1);
    expect(result.warnings[0]?.kind).toBe("malformed-frontmatter");
    expect(result.warnings[0]?.message).toMatch(/invalid YAML/);
    expect(result.warnings[0]?.line).toBeGreaterThanOrEqual(3);
  });

  it("warns about a frontmatter that is not a mapping and about bad tags", () => {
    expect(parseFrontmatter("---\n- a\n- b\n---\nx").warnings[0]?.kind).toBe("not-a-mapping");
    const badTags = parseFrontmatter("---\ntags: {a: 1}\ntitle: t\n---\nx");
    expect(badTags.warnings.map((w) => w.kind)).toEqual(["invalid-tags"]);
    expect(badTags.tags).toEqual([]);
    expect(badTags.metadata).toEqual({ title: "t" });
  });

  it("leaves a document without frontmatter untouched", () => {
    const text = "# Title\n\n---\n\nafter a rule";
    expect(parseFrontmatter(text)).toEqual({
      body: text,
      lineOffset: 0,
      tags: [],
      metadata: {},
      warnings: [],
    });
  });

  it("keeps everything when a leading rule is never closed", () => {
    const result = parseFrontmatter("---\nJust a rule then text\n");
    expect(result.body).toBe("---\nJust a rule then text\n");
    expect(result.lineOffset).toBe(0);
    expect(result.warnings[0]?.kind).toBe("unclosed-frontmatter");
  });

  it("never evaluates code in a ---js block", () => {
    const text = '---js\n{ title: (() => { throw new Error("ran") })() }\n---\nbody';
    const result = parseFrontmatter(text);
    expect(result.body).toBe(text);
    expect(result.metadata).toEqual({});
  });

  it("can be switched off", () => {
    const text = "---\ntitle: x\n---\nbody";
    expect(parseFrontmatter(text, { enabled: false }).body).toBe(text);
  });

  it("handles an empty block", () => {
    expect(parseFrontmatter("---\n---\nbody")).toMatchObject({ body: "body", lineOffset: 2 });
  });
});

describe("normalizeTags", () => {
  it("normalizes the accepted shapes and rejects others", () => {
    expect(normalizeTags(" a ,, b,")).toEqual(["a", "b"]);
    expect(normalizeTags(["a", " a", 7, true])).toEqual(["a", "7", "true"]);
    expect(normalizeTags(undefined)).toEqual([]);
    expect(normalizeTags({ a: 1 })).toBeUndefined();
    expect(normalizeTags([["nested"]])).toBeUndefined();
  });
});
