// The acceptance test for hostile input: one folder holding every hostile file the issue
// names beside ordinary ones, embedded by the real `sluice` command. The run must stay bounded
// (time and memory), store every ordinary file, report every hostile one with its code, and stop
// promptly on Ctrl-C. The hostile files are generated here, never committed.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";

const bin = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));
let cwd: string;
let outside: string;

const NORMAL_FILES = 40;

/** Every hostile file: its relative path, how to make it, and the code it must be reported with. */
const HOSTILE: { path: string; code: string; write: (path: string) => Promise<void> }[] = [
  {
    // "Billion laughs": nine levels of nine aliases, about 600 bytes.
    path: "hostile/laughs.md",
    code: "FRONTMATTER_TOO_LARGE",
    write: (path) => {
      const lines = ["---", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 9; i++) {
        const refs = Array.from({ length: 9 }, () => `*a${i - 1}`).join(",");
        lines.push(`a${i}: &a${i} [${refs}]`);
      }
      lines.push("---", "", "# Laughs", "", "Body text.");
      return writeFile(path, `${lines.join("\n")}\n`);
    },
  },
  {
    // micromark's super-linear case: minutes to parse at 100 KB.
    path: "hostile/emphasis.md",
    code: "PARSE_TIMEOUT",
    write: (path) => writeFile(path, `# Emphasis\n\n${"*a_".repeat(33_000)}\n`),
  },
  {
    path: "hostile/binary.md",
    code: "BINARY_FILE",
    write: (path) => writeFile(path, Buffer.from([0x23, 0x20, 0x00, 0x01, 0x02])),
  },
  {
    path: "hostile/latin1.md",
    code: "INVALID_UTF8",
    write: (path) => writeFile(path, Buffer.from([0x23, 0x20, 0xe9, 0x74, 0xe9, 0x0a])),
  },
  {
    path: "hostile/huge.md",
    code: "FILE_TOO_LARGE",
    write: (path) => writeFile(path, `# Huge\n\n${"word ".repeat(230_000)}\n`),
  },
  {
    // A link out of the folder: never embedded under an inside path.
    path: "hostile/passwd.md",
    code: "OUTSIDE_ROOT",
    write: (path) => symlink(join(outside, "secret.md"), path),
  },
  {
    // The same name in NFD beside its NFC spelling: two files on Linux, one identity.
    path: "hostile/cafe\u0301.md",
    code: "PATH_COLLISION",
    write: (path) => writeFile(path, "# Café (NFD)\n\nThe decomposed spelling.\n"),
  },
];

/** Ordinary files beside the hostile ones, which must all be stored. */
const ORDINARY_EXTRA: { path: string; text: string }[] = [
  { path: "hostile/café.md", text: "# Café (NFC)\n\nThe composed spelling wins.\n" },
  { path: "hostile/back\\slash.md", text: "# Backslash\n\nA backslash in a file name.\n" },
  { path: "hostile/back/slash.md", text: "# Slash\n\nA file in a folder named back.\n" },
  { path: "hostile/\u001b[31mred.md", text: "# Red\n\nAn escape sequence in the name.\n" },
];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function start(args: string[]): { child: ChildProcess; done: Promise<Run> } {
  const began = performance.now();
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (d) => {
    stdout += d;
  });
  child.stderr?.on("data", (d) => {
    stderr += d;
  });
  const done = new Promise<Run>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({ code, stdout, stderr, ms: performance.now() - began }),
    );
  });
  return { child, done };
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-hostile-"));
  outside = join(cwd, "outside");
  await mkdir(outside);
  await writeFile(join(outside, "secret.md"), "# Secret\n\nroot:x:0:0 must never be embedded\n");
  const root = join(cwd, "folder");
  await generateCorpus(root, { files: NORMAL_FILES, seed: 5 });
  await mkdir(join(root, "hostile", "back"), { recursive: true });
  for (const file of HOSTILE) await file.write(join(root, file.path));
  for (const file of ORDINARY_EXTRA) await writeFile(join(root, file.path), file.text);
}, 60_000);

afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("sluice embed on a folder of hostile files", () => {
  it("stays bounded, stores every ordinary file and reports every hostile one", async () => {
    const { done } = start(["embed", "folder", "--json", "--store", "out/hostile.db"]);
    const run = await done;
    expect(run.code, run.stderr).toBe(1);
    expect(run.ms).toBeLessThan(60_000);
    const summary = JSON.parse(run.stdout);
    expect(summary.peakRssBytes).toBeLessThan(400 * 1024 * 1024);
    const reported = new Map<string, string>(
      summary.errors.map((e: { path: string; code: string }) => [e.path.normalize("NFD"), e.code]),
    );
    for (const file of HOSTILE) {
      expect(reported.get(file.path.normalize("NFD")), file.path).toBe(file.code);
    }
    // Every other file was committed: the generated ones and the odd but ordinary names.
    expect(summary.committed).toBe(NORMAL_FILES + ORDINARY_EXTRA.length);
    expect(summary.errors).toHaveLength(HOSTILE.length);
    // Nothing from outside the folder is searchable.
    const search = start(["search", "root:x:0:0", "--json", "--store", "out/hostile.db"]);
    const found = await search.done;
    expect(found.code, found.stderr).toBe(0);
    expect(found.stdout).not.toContain("must never be embedded");
    // No raw escape sequence reaches a terminal-bound stream.
    const human = await start(["embed", "folder", "--store", "out/human.db"]).done;
    expect(human.stdout + human.stderr).not.toContain("\u001b[31m");
  }, 120_000);

  for (const mode of ["streaming", "batch"]) {
    it(`${mode}: Ctrl-C at a random moment exits 130 within 1 s, and a re-run completes`, async () => {
      const store = `out/interrupted-${mode}.db`;
      const { child, done } = start(["embed", "folder", "--mode", mode, "--store", store]);
      // Progress goes to stderr once the run has started; interrupt somewhere after that.
      await new Promise<void>((resolve) => {
        const onData = () => {
          child.stderr?.off("data", onData);
          resolve();
        };
        child.stderr?.on("data", onData);
      });
      const delay = Math.floor(Math.random() * 1500);
      await new Promise((resolve) => setTimeout(resolve, delay));
      expect(child.exitCode, `the run ended before the signal (delay ${delay} ms)`).toBe(null);
      const signalled = performance.now();
      child.kill("SIGINT");
      const run = await done;
      const stopMs = performance.now() - signalled;
      expect(run.code, `${run.stderr} (delay ${delay} ms)`).toBe(130);
      expect(stopMs, `delay ${delay} ms`).toBeLessThan(1000);
      const again = await start(["embed", "folder", "--json", "--store", store]).done;
      expect(again.code, again.stderr).toBe(1);
      const summary = JSON.parse(again.stdout);
      expect(summary.committed + summary.unchanged).toBe(NORMAL_FILES + ORDINARY_EXTRA.length);
      const report = await readFile(join(cwd, store)).catch(() => undefined);
      expect(report).toBeDefined();
    }, 120_000);
  }
});
