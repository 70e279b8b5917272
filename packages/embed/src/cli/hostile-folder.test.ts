// The acceptance test for hostile input: one folder holding every hostile file the issue
// names beside ordinary ones, embedded by the real `sluice` command. The run must stay bounded
// (time and memory), store every ordinary file and report every hostile one with its code.
// Ctrl-C on this same folder: interrupt.test.ts.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HOSTILE_FILES,
  isExpectedCode,
  OUTSIDE_SECRET,
  writeHostileFolder,
} from "../testing/hostile-folder.ts";
import { type CliResult, runSluice } from "../testing/sluice-process.ts";

let cwd: string;
let ordinary: number;

/** The real `sluice` command in the test folder, timed. */
async function sluice(...args: string[]): Promise<CliResult & { ms: number }> {
  const began = performance.now();
  const result = await runSluice({ cwd }, ...args);
  return { ...result, ms: performance.now() - began };
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-hostile-"));
  ordinary = await writeHostileFolder(join(cwd, "folder"), join(cwd, "outside"), 40);
}, 60_000);

afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("sluice embed on a folder of hostile files", () => {
  it("stays bounded, stores every ordinary file and reports every hostile one", async () => {
    // The default deadline (10 s) would hold this test up; 3 s is still far above a generated
    // document's few milliseconds.
    const run = await sluice("embed", "folder", "--json", "--parse-timeout", "3000");
    expect(run.code, run.stderr).toBe(1);
    expect(run.ms).toBeLessThan(60_000);
    const summary = JSON.parse(run.stdout);
    expect(summary.peakRssBytes).toBeLessThan(400 * 1024 * 1024);
    const reported = new Map<string, string>(
      summary.errors.map((e: { path: string; code: string }) => [e.path.normalize("NFD"), e.code]),
    );
    for (const file of HOSTILE_FILES) {
      const code = reported.get(file.path.normalize("NFD"));
      expect(isExpectedCode(file, code), `${file.path}: ${code}`).toBe(true);
    }
    expect(summary.errors).toHaveLength(HOSTILE_FILES.length);
    // Every other file was committed: the generated ones and the odd but ordinary names.
    expect(summary.committed).toBe(ordinary);
    // Nothing from outside the folder is searchable, by words or by vector.
    const found = await sluice("search", OUTSIDE_SECRET, "--json", "--k", "50");
    expect(found.code, found.stderr).toBe(0);
    expect(JSON.parse(found.stdout).results.length).toBeGreaterThan(0);
    expect(found.stdout).not.toContain("must never be embedded");
    // A name with an escape sequence is printed escaped, never raw.
    const human = await sluice("search", "An escape sequence in the name", "--k", "3");
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain("red.md");
    expect(human.stdout).not.toContain("\u001b[31m");
  }, 120_000);
});
