import { describe, expect, it } from "vitest";
import { chunkMetadata, MAX_HEADING_CHARS } from "./chunk-metadata.ts";

describe("chunkMetadata", () => {
  it("combines fields, tags and headings, cutting long headings", () => {
    const long = "h".repeat(MAX_HEADING_CHARS + 50);
    const metadata = chunkMetadata({ title: "T", tags: "overridden" }, ["a"], ["Intro", long]);
    expect(metadata).toEqual({
      title: "T",
      tags: ["a"],
      headings: ["Intro", `${"h".repeat(MAX_HEADING_CHARS)}…`],
    });
  });
});
