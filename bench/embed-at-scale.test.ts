import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { embedAtScale, type ModeRun, renderScaleReport, scaleReport } from "./embed-at-scale.ts";
import { machineInfo } from "./machine.ts";
import { renderMarkdown } from "./report.ts";

const run = (mode: ModeRun["mode"], over: Partial<ModeRun> = {}): ModeRun => ({
  mode,
  command: `sluice embed --mode ${mode}`,
  wallMs: 1000,
  files: 10,
  chunks: 60,
  embedded: 60,
  skipped: 0,
  failed: 0,
  durationMs: 900,
  throughput: 66,
  timeToFirstStoredChunkMs: 400,
  peakRssBytes: 100e6,
  records: 70,
  contentDigest: "d1",
  ...over,
});

describe("embed at scale (bench/embed-at-scale.ts)", () => {
  it("runs both modes alone on a generated corpus and finds the same store content", async () => {
    const out = await mkdtemp(join(os.tmpdir(), "sluice-embed-at-scale-test-"));
    try {
      const report = await embedAtScale({ files: 12, out, log: () => {} });
      const [streaming, batch] = report.runs;
      expect(streaming?.mode).toBe("streaming");
      expect(batch?.mode).toBe("batch");
      expect(streaming?.files).toBe(12);
      expect(streaming?.chunks).toBeGreaterThan(12);
      // The store's meta line, one line per chunk and one commit line per file.
      expect(streaming?.records).toBe(1 + (streaming?.chunks ?? 0) + 12);
      expect(report.sameOutput).toBe(true);
      expect(report.verdicts[0]).toMatchObject({
        target: "same output, nothing failed or skipped",
        met: true,
      });
      const written = JSON.parse(await readFile(join(out, "embed-12.json"), "utf8"));
      expect(written.runs[1].contentDigest).toBe(batch?.contentDigest);
      expect(await readFile(join(out, "embed-12.md"), "utf8")).toBe(renderScaleReport(report));
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 60_000);

  it("judges each target from the two runs, and different content or a failure fails the first", () => {
    const machine = machineInfo();
    const met = scaleReport(
      10,
      run("streaming", { peakRssBytes: 9e6, throughput: 70, timeToFirstStoredChunkMs: 999 }),
      run("batch"),
      machine,
      "d",
    );
    expect(met.verdicts.map((v) => v.met)).toEqual([true, true, true, true]);
    const missed = scaleReport(
      10,
      run("streaming", { peakRssBytes: 11e6, throughput: 65, timeToFirstStoredChunkMs: 1000 }),
      run("batch"),
      machine,
      "d",
    );
    expect(missed.verdicts.map((v) => v.met)).toEqual([true, false, false, false]);
    expect(renderScaleReport(missed)).toContain(
      "| streaming peak RSS ≤ 0.1× batch | 0.110× (10 MB ÷ 95 MB) | **not met** |",
    );
    const differ = scaleReport(
      10,
      run("streaming", { contentDigest: "d2" }),
      run("batch"),
      machine,
      "d",
    );
    expect(differ.sameOutput).toBe(false);
    const failed = scaleReport(10, run("streaming", { failed: 1 }), run("batch"), machine, "d");
    expect(failed.sameOutput).toBe(false);
  });

  it("puts the at-scale verdicts into BENCHMARKS.md after the target table, with their date", () => {
    const machine = machineInfo();
    const scale = scaleReport(
      100_000,
      run("streaming", { peakRssBytes: 9e6, throughput: 70 }),
      run("batch"),
      machine,
      "2026-01-02T03:04:05Z",
    );
    const main = {
      schema: 1 as const,
      date: "2026-01-01",
      mode: "full" as const,
      rounds: 1,
      durationS: 1,
      machine,
      cases: [],
      targets: [],
    };
    const link = "bench/results/embed-100k.md";
    const text = renderMarkdown(main, "latest.json", { report: scale, link });
    const section = text.slice(text.indexOf("## embed-workflow at 100,000 files"));
    expect(text.indexOf("## Targets")).toBeLessThan(text.indexOf("## embed-workflow at"));
    expect(section).toContain(`[${link}](${link})`);
    expect(section).toContain("2026-01-02T03:04:05Z");
    expect(section).toContain(
      "| streaming throughput ≥ 1× batch | 1.061× (70 ÷ 66 chunks/s) | met |",
    );
    expect(renderMarkdown(main, "latest.json")).not.toContain("## embed-workflow at");
  });
});
