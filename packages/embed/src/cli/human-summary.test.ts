import { describe, expect, it } from "vitest";
import type { EmbedSummary } from "../workflows/session.ts";
import { humanSummary } from "./main.ts";

const base: EmbedSummary = {
  mode: "streaming",
  collection: "/docs",
  files: 3,
  unchanged: 1,
  chunks: 8,
  embedded: 8,
  skipped: 0,
  failed: 0,
  failedChunks: 0,
  removed: 0,
  committed: 2,
  durationMs: 1200,
  setupMs: 100,
  throughput: 6.7,
  timeToFirstStoredChunkMs: 300,
  peakRssBytes: 150 * 1024 * 1024,
  errors: [],
  warnings: [],
};

describe("humanSummary (the end-of-run summary of sluice embed)", () => {
  it("lists the store's warnings after the counts, as text a terminal shows as such", () => {
    const text = humanSummary(
      {
        ...base,
        warnings: [
          "the SQLite writer thread could not start (no threads); writing on the caller's thread",
          "a warning with a \u001b[31mcontrol sequence\nand a line break",
        ],
      },
      "/tmp/store.db",
    );
    const lines = text.trimEnd().split("\n");
    const at = lines.indexOf("Warnings (nothing lost):");
    expect(at).toBeGreaterThan(lines.findIndex((l) => l.startsWith("  peak memory")));
    expect(lines.slice(at + 1)).toEqual([
      "  the SQLite writer thread could not start (no threads); writing on the caller's thread",
      "  a warning with a \\x1b[31mcontrol sequence\\nand a line break",
    ]);
  });

  it("has no warnings section when there were none", () => {
    expect(humanSummary(base, "/tmp/store.db")).not.toContain("Warnings");
  });
});
