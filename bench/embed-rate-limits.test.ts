import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runRateLimitsBench } from "./embed-rate-limits.ts";

// The bench's own smoke test: a few files through the three cases (the real `sluice` command
// against a rate-limited loopback server), so a change that breaks the script shows here
// rather than on the next on-demand run. Too short to judge the targets.
describe("bench embed-rate-limits", () => {
  it("runs each case to a clean exit and writes its report", async () => {
    const out = await mkdtemp(join(os.tmpdir(), "sluice-rate-limits-smoke-"));
    try {
      const { results, markdown } = await runRateLimitsBench(4, out);
      expect(results.map((r) => r.exitCode)).toEqual([0, 0, 0]);
      for (const r of results) {
        expect(r.failedChunks).toBe(0);
        expect(r.chunks).toBeGreaterThan(0);
        expect(r.requests).toBeGreaterThan(0);
      }
      for (const r of results) expect(markdown).toContain(r.name);
      const saved = JSON.parse(await readFile(join(out, "embed-rate-limits.json"), "utf8"));
      expect(saved.results).toHaveLength(3);
      expect(await readFile(join(out, "embed-rate-limits.md"), "utf8")).toBe(markdown);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
