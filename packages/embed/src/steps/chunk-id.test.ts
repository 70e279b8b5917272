import { sep } from "node:path";
import { describe, expect, it } from "vitest";
import { ChunkPathError, chunkId, normalizeRelativePath } from "./chunk-id.ts";
import { sha256Hex } from "./sha256.ts";

describe("chunkId", () => {
  it("is stable for the same input and a 32-hex string", () => {
    const a = chunkId({ path: "docs/a.md", ordinal: 0, text: "hello" });
    expect(a).toMatch(/^[0-9a-f]{32}$/);
    expect(chunkId({ path: "docs/a.md", ordinal: 0, text: "hello" })).toBe(a);
    // A known value pins the derivation: changing it silently would re-embed every corpus.
    expect(a).toBe(sha256Hex(`docs/a.md\u00000\u0000${sha256Hex("hello")}`).slice(0, 32));
  });

  it("changes with path, ordinal and content", () => {
    const base = chunkId({ path: "a.md", ordinal: 1, text: "x" });
    expect(chunkId({ path: "b.md", ordinal: 1, text: "x" })).not.toBe(base);
    expect(chunkId({ path: "a.md", ordinal: 2, text: "x" })).not.toBe(base);
    expect(chunkId({ path: "a.md", ordinal: 1, text: "y" })).not.toBe(base);
  });

  it("treats equivalent spellings of a path as one path", () => {
    const id = chunkId({ path: "dir/caf\u00e9.md", ordinal: 0, text: "t" });
    expect(chunkId({ path: "./dir//cafe\u0301.md", ordinal: 0, text: "t" })).toBe(id);
    expect(chunkId({ path: "dir/caf\u00e9.md", ordinal: 0, contentHash: sha256Hex("t") })).toBe(id);
  });

  it("keeps a backslash as a name character on POSIX, where it is not a separator", () => {
    const slash = chunkId({ path: "back/slash.md", ordinal: 0, text: "t" });
    const backslash = chunkId({ path: "back\\slash.md", ordinal: 0, text: "t" });
    if (sep === "/") {
      expect(backslash).not.toBe(slash);
      expect(normalizeRelativePath("back\\slash.md")).toBe("back\\slash.md");
    } else {
      expect(backslash).toBe(slash);
    }
  });

  it("gives unique ids over many chunks", () => {
    const ids = new Set<string>();
    for (let f = 0; f < 50; f++) {
      for (let o = 0; o < 40; o++) ids.add(chunkId({ path: `f${f}.md`, ordinal: o, text: "same" }));
    }
    expect(ids.size).toBe(2000);
  });

  it("rejects bad input with typed errors", () => {
    expect(() => chunkId({ path: "/abs.md", ordinal: 0, text: "" })).toThrow(ChunkPathError);
    expect(() => chunkId({ path: "../up.md", ordinal: 0, text: "" })).toThrow(
      /leave the corpus root/,
    );
    expect(() => chunkId({ path: "C:/x.md", ordinal: 0, text: "" })).toThrow(ChunkPathError);
    expect(() => chunkId({ path: "a.md", ordinal: -1, text: "" })).toThrow(RangeError);
    expect(() => chunkId({ path: "a.md", ordinal: 0 })).toThrow(TypeError);
    expect(() => normalizeRelativePath("./")).toThrow(/is empty/);
  });
});
