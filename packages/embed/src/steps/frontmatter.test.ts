import { describe, expect, it } from "vitest";
import {
  FrontmatterTooLargeError,
  MAX_STORED_METADATA_BYTES,
  normalizeTags,
  parseFrontmatter,
} from "./frontmatter.ts";

/** The "billion laughs" YAML bomb: nine levels of nine aliases, about 600 bytes. */
function laughs(): string {
  const lines = ["---", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    lines.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(",")}]`);
  }
  return `${lines.join("\n")}\n---\n# Laughs\n\nBody.\n`;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

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

  it("refuses a billion-laughs alias bomb fast, with a typed error", () => {
    const text = laughs();
    expect(text.length).toBeLessThan(700);
    const started = Date.now();
    const error = (() => {
      try {
        parseFrontmatter(text);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(FrontmatterTooLargeError);
    expect(error).toMatchObject({ code: "FRONTMATTER_TOO_LARGE" });
    expect((error as Error).message).toMatch(/alias/i);
    // Bounded rather than exponential: far inside the 20 s a hang would take.
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("refuses aliases under the alias limit that still expand past the size cap", () => {
    // One 20 KB string referenced 90 times: few aliases, 1.8 MB once expanded.
    expect(() => parseFrontmatter(`---\nbig: "${"x".repeat(300_000)}"\n---\n`)).toThrow(
      /300007 bytes, over the limit of 262144/,
    );
    const text = `---\nbig: &big "${"x".repeat(20_000)}"\nmany: [${Array(90).fill("*big").join(", ")}]\n---\nbody`;
    expect(() => parseFrontmatter(text)).toThrow(FrontmatterTooLargeError);
    // The same under a smaller cap, and a modest use of aliases is fine.
    expect(() => parseFrontmatter("---\na: &a 1\nb: *a\n---\n", { maxBytes: 5 })).toThrow(
      /over the limit of 5 bytes/,
    );
    expect(parseFrontmatter("---\na: &a [1, 2]\nb: *a\n---\nx").metadata).toEqual({
      a: [1, 2],
      b: [1, 2],
    });
  });

  it("reports duplicate keys as malformed YAML, quickly even with many keys", () => {
    const duplicate = parseFrontmatter("---\ntitle: a\nother: b\ntitle: c\n---\nbody");
    expect(duplicate.warnings).toEqual([
      { kind: "malformed-frontmatter", message: expect.stringMatching(/"title"/), line: 4 },
    ]);
    expect(duplicate.body).toBe("body");
    const keys = Array.from({ length: 15_000 }, (_, i) => `k${i}: ${i}`).join("\n");
    const started = Date.now();
    const many = parseFrontmatter(`---\n${keys}\n---\nbody`);
    expect(many.metadata.metadataTruncated).toBeDefined();
    expect(Date.now() - started).toBeLessThan(20_000);
  });

  it("refuses a frontmatter that contains itself or nests past any real use", () => {
    for (const yaml of ["a: &a [*a]", "a: &a {b: *a}"]) {
      expect(() => parseFrontmatter(`---\n${yaml}\n---\nbody`)).toThrow(/contains itself/);
    }
    const deep = `a: ${"[".repeat(300)}${"]".repeat(300)}`;
    expect(() => parseFrontmatter(`---\n${deep}\n---\n`)).toThrow(FrontmatterTooLargeError);
  });

  it("keeps merge keys and timestamps as gray-matter did", () => {
    const result = parseFrontmatter(
      "---\nbase: &base {x: 1}\nderived:\n  <<: *base\n  y: 2\nwhen: 2024-03-04T05:06:07Z\n---\n",
    );
    expect(result.metadata).toEqual({
      base: { x: 1 },
      derived: { x: 1, y: 2 },
      when: "2024-03-04T05:06:07.000Z",
    });
  });

  it("caps the metadata stored with every chunk, dropping the largest fields and naming them", () => {
    const text = [
      "---",
      "title: Kept",
      `description: "${"d".repeat(200_000)}"`,
      `notes: [${Array.from({ length: 2_000 }, (_, i) => `"note ${i}"`).join(", ")}]`,
      "tags: [a, b]",
      "---",
      "body",
    ].join("\n");
    const result = parseFrontmatter(text);
    expect(result.metadata).toEqual({
      title: "Kept",
      metadataTruncated: ["description", "notes"],
    });
    expect(result.tags).toEqual(["a", "b"]);
    expect(jsonBytes({ ...result.metadata, tags: result.tags })).toBeLessThanOrEqual(
      MAX_STORED_METADATA_BYTES,
    );
    expect(result.warnings.map((w) => w.kind)).toEqual(["metadata-truncated"]);
    // Huge tags lists go the same way.
    const manyTags = parseFrontmatter(
      `---\ntitle: t\ntags: [${Array.from({ length: 5_000 }, (_, i) => `tag${i}`).join(", ")}]\n---\n`,
    );
    expect(manyTags.tags).toEqual([]);
    expect(manyTags.metadata).toEqual({ title: "t", metadataTruncated: ["tags"] });
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
