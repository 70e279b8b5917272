import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HOSTILE_FILES, isExpectedCode, writeHostileFolder } from "../testing/hostile-folder.ts";
import { storeContents } from "../testing/store-contents.ts";
import { handleInterrupts } from "./interrupt.ts";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
let cwd: string;
/** Files of the folder a run must store: all but the hostile ones. */
let ordinary: number;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** When each stderr line arrived, ms after the spawn. */
  readonly stderrLines: readonly { at: number; text: string }[];
}

/** The real `sluice` command in a child process; `started` resolves at its first stderr output. */
function start(
  args: string[],
  dir = cwd,
): { child: ChildProcess; started: Promise<void>; done: Promise<Run> } {
  const spawned = performance.now();
  const child = spawn(process.execPath, [bin, ...args], {
    cwd: dir,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  const stderrLines: { at: number; text: string }[] = [];
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d: Buffer) => {
    const at = performance.now() - spawned;
    stderr += d;
    for (const text of d.toString().split("\n")) if (text !== "") stderrLines.push({ at, text });
    markStarted();
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => {
      markStarted();
      resolve({ code, stdout, stderr, stderrLines });
    });
  });
  return { child, started, done };
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-interrupt-"));
  // Every hostile file beside ordinary ones. Among them, a table that takes seconds to parse: on
  // the main thread it would hold the process (and Ctrl-C); it must not hold a signal up.
  ordinary = await writeHostileFolder(join(cwd, "folder"), join(cwd, "outside"), 60);
  await writeFile(join(cwd, "sluice.json"), JSON.stringify({ parseTimeoutMs: 3_000 }));
}, 60_000);
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("handleInterrupts", () => {
  it("aborts on the first signal, exits 130 on the second, or after the grace period", async () => {
    const exits: number[] = [];
    const before = process.listenerCount("SIGINT");
    const written: string[] = [];
    const stderr = { write: (s: string) => written.push(s) } as unknown as NodeJS.WritableStream;
    const handling = handleInterrupts({ stderr, graceMs: 50, exit: (c) => exits.push(c) });
    expect(process.listenerCount("SIGINT")).toBe(before + 1);
    process.emit("SIGINT", "SIGINT");
    expect(handling.signal.aborted).toBe(true);
    expect(exits).toEqual([]);
    // A second Ctrl-C during the wind-down exits at once.
    process.emit("SIGINT", "SIGINT");
    expect(exits).toEqual([130]);
    // The grace period is over and the run is still winding down: exit anyway.
    await new Promise((r) => setTimeout(r, 100));
    expect(exits).toEqual([130, 130]);
    // The run has wound down: exit now, whatever handle a library left open.
    handling.dispose();
    await new Promise((r) => setImmediate(r));
    expect(exits).toEqual([130, 130, 130]);
    expect(written.join("")).toMatch(/exiting now/);
    process.removeAllListeners("SIGINT");
    process.removeAllListeners("SIGTERM");
  });

  it("stops listening when the run ends without a signal", () => {
    const before = process.listenerCount("SIGTERM");
    const handling = handleInterrupts({ stderr: process.stderr, exit: () => {} });
    handling.dispose();
    expect(process.listenerCount("SIGTERM")).toBe(before);
    expect(handling.signal.aborted).toBe(false);
  });
});

describe("Ctrl-C on `sluice embed` of a folder with every hostile file", () => {
  const clean = new Map<string, Awaited<ReturnType<typeof storeContents>>>();

  for (const mode of ["streaming", "batch"] as const) {
    for (const store of ["jsonl", "default"] as const) {
      it(`${mode}, ${store} store: exits 130 within 1 s of SIGINT, and a re-run equals a clean run`, async () => {
        const location = `out/${mode}.jsonl`;
        const storeArgs = store === "jsonl" ? ["--store", location] : [];
        // The default store lives in the working folder's .sluice: one folder per case.
        const caseCwd = join(cwd, store === "jsonl" ? "" : `${mode}-case`);
        const args = (extra: string[]) => [
          "embed",
          join(cwd, "folder"),
          "--config",
          join(cwd, "sluice.json"),
          "--mode",
          mode,
          ...storeArgs,
          ...extra,
        ];
        await mkdir(caseCwd, { recursive: true });
        const runIn = (extra: string[]) => start(args(extra), caseCwd);
        const { child, started, done } = runIn([]);
        await started;
        const delay = Math.floor(Math.random() * 1_500);
        await new Promise((r) => setTimeout(r, delay));
        expect(child.exitCode, `the run ended before the signal (delay ${delay} ms)`).toBe(null);
        const signalled = performance.now();
        child.kill("SIGINT");
        const run = await done;
        const stopMs = performance.now() - signalled;
        expect(run.code, `${run.stderr} (delay ${delay} ms)`).toBe(130);
        // Measured from the signal to the exit; it took 9.8–51 s before.
        expect(stopMs, `delay ${delay} ms`).toBeLessThan(1_000);

        // The re-run resumes: it ends like a clean run (the hostile files reported, exit 1)
        // and leaves the same store.
        const again = await runIn(["--json"]).done;
        expect(again.code, again.stderr).toBe(1);
        const summary = JSON.parse(again.stdout);
        const codes = new Map<string, string>(
          summary.errors.map((e: { path: string; code: string }) => [
            e.path.normalize("NFD"),
            e.code,
          ]),
        );
        expect(codes.size).toBe(HOSTILE_FILES.length);
        for (const file of HOSTILE_FILES) {
          const code = codes.get(file.path.normalize("NFD"));
          expect(isExpectedCode(file, code), `${file.path}: ${code}`).toBe(true);
        }
        expect(summary.committed + summary.unchanged).toBe(ordinary);

        const resumedAt = join(caseCwd, store === "jsonl" ? location : ".sluice/store.db");
        let reference = clean.get(mode);
        if (reference === undefined) {
          const cleanRun = await start([
            "embed",
            join(cwd, "folder"),
            "--config",
            join(cwd, "sluice.json"),
            "--mode",
            mode,
            "--store",
            `out/clean-${mode}.jsonl`,
            "--json",
          ]).done;
          expect(cleanRun.code, cleanRun.stderr).toBe(1);
          reference = await storeContents(join(cwd, `out/clean-${mode}.jsonl`));
          clean.set(mode, reference);
        }
        const resumed = await storeContents(resumedAt);
        expect(resumed.chunks).toEqual(reference.chunks);
        expect(resumed.files).toEqual(reference.files);
      }, 120_000);
    }
  }

  it("batch mode keeps its progress cadence (a line every 2 s) while a file parses for seconds", async () => {
    const run = await start([
      "embed",
      join(cwd, "folder"),
      "--config",
      join(cwd, "sluice.json"),
      "--mode",
      "batch",
      "--store",
      "out/cadence.jsonl",
    ]).done;
    expect(run.code, run.stderr).toBe(1);
    const progress = run.stderrLines.filter((l) => l.text.startsWith("[sluice]"));
    expect(progress.length).toBeGreaterThanOrEqual(2);
    const gaps = progress.slice(1).map((l, i) => l.at - (progress[i]?.at ?? 0));
    // Promised: one line every 2 s; before, lines stopped for 16–29 s. Slack for a loaded machine.
    expect(Math.max(...gaps)).toBeLessThan(4_000);
  }, 120_000);
});
