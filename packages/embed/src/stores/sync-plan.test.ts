import { describe, expect, it } from "vitest";
import { fileVersionHash, planSync } from "./sync-plan.ts";

describe("planSync", () => {
  it("sorts files into added, changed, unchanged and removed", () => {
    const current = new Map([
      ["b.md", "h2"],
      ["a.md", "h1"],
      ["new.md", "h9"],
    ]);
    const stored = new Map([
      ["a.md", "h1"],
      ["b.md", "old"],
      ["gone.md", "h3"],
    ]);
    expect(planSync(current, stored, ["half-written.md", "a.md"])).toEqual({
      added: ["new.md"],
      changed: ["b.md"],
      unchanged: ["a.md"],
      removed: ["gone.md", "half-written.md"],
    });
  });

  it("has nothing to do for an unchanged folder", () => {
    const files = new Map([["a.md", "h"]]);
    expect(planSync(files, new Map(files))).toEqual({
      added: [],
      changed: [],
      unchanged: ["a.md"],
      removed: [],
    });
  });
});

describe("fileVersionHash", () => {
  it("depends on both the content and the settings", () => {
    const base = fileVersionHash("c1", "f1");
    expect(fileVersionHash("c1", "f1")).toBe(base);
    expect(fileVersionHash("c2", "f1")).not.toBe(base);
    expect(fileVersionHash("c1", "f2")).not.toBe(base);
  });
});
