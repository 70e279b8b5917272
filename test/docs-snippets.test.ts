/**
 * Every TypeScript block in README.md and docs/ is compiled, and run unless marked: a
 * renamed API breaks this test, not the reader. Mark a block with an HTML comment on the
 * line before its fence: `<!-- snippet: no-run -->` compiles it only (it needs a network,
 * a server, or runs forever); `<!-- snippet: skip -->` leaves it out (a fragment shown for
 * shape, not meant to compile on its own — use sparingly).
 *
 * A block that prints what the page claims shows it in an output block: `<!-- snippet: output -->`
 * on the line before a ```` ```text ```` fence right after a run block (blank lines between are
 * fine). The run's `console.log` lines must then equal that block, so the page cannot claim
 * another output than the code gives.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { format, promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "test", ".snippets");

interface Snippet {
  file: string;
  line: number;
  code: string;
  run: boolean;
  name: string;
  /** What the block must print (its output block), when it has one. */
  output?: string;
}

const OUTPUT_MARKER = /^<!--\s*snippet:\s*output\s*-->\s*$/;
/** Output markers not attached to a run block: reported, or a check would silently vanish. */
const strayOutputs: string[] = [];

function markdownFiles(): string[] {
  const files = [join(root, "README.md")];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (entry === "api") continue;
      if (statSync(path).isDirectory()) walk(path);
      else if (entry.endsWith(".md")) files.push(path);
    }
  };
  walk(join(root, "docs"));
  return files;
}

function extract(file: string): Snippet[] {
  const lines = readFileSync(file, "utf8").split("\n");
  const out: Snippet[] = [];
  const attached = new Set<number>();
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript)\s*$/.exec(lines[i] ?? "");
    if (!fence) continue;
    const marker = /<!--\s*snippet:\s*([\w-]+)\s*-->/.exec(lines[i - 1] ?? "")?.[1];
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? "")) end++;
    // Only a block that runs can be held to an output.
    const output = marker === undefined ? outputAfter(lines, end + 1) : undefined;
    if (output !== undefined) attached.add(output.markerLine);
    if (marker !== "skip") {
      const rel = relative(root, file).replace(/[^\w]+/g, "-");
      out.push({
        file: relative(root, file),
        line: start,
        code: lines.slice(start, end).join("\n"),
        run: marker !== "no-run",
        name: `${rel}-L${start}`,
        ...(output === undefined ? {} : { output: output.text }),
      });
    }
    i = end;
  }
  lines.forEach((line, n) => {
    if (OUTPUT_MARKER.test(line) && !attached.has(n))
      strayOutputs.push(`${relative(root, file)}:${n + 1}`);
  });
  return out;
}

/** The output block that follows a code block ending before line `from`, if there is one. */
function outputAfter(
  lines: readonly string[],
  from: number,
): { text: string; markerLine: number } | undefined {
  let next = from;
  while (next < lines.length && (lines[next] ?? "").trim() === "") next++;
  if (!OUTPUT_MARKER.test(lines[next] ?? "") || !/^```(text)?\s*$/.test(lines[next + 1] ?? ""))
    return undefined;
  let close = next + 2;
  while (close < lines.length && !/^```\s*$/.test(lines[close] ?? "")) close++;
  return { text: lines.slice(next + 2, close).join("\n"), markerLine: next };
}

const snippets = markdownFiles().flatMap(extract);

// Written once, compiled once: one tsc run over every block is far faster than one per block.
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const s of snippets) {
  // A module of its own, so top-level names in one block never clash with another's.
  const body = /^\s*(import|export)\s/m.test(s.code) ? s.code : `${s.code}\nexport {};`;
  writeFileSync(join(outDir, `${s.name}.ts`), body);
}
writeFileSync(
  join(outDir, "tsconfig.json"),
  JSON.stringify({
    extends: "../../tsconfig.base.json",
    compilerOptions: { types: ["node"], noUnusedLocals: false, baseUrl: "../.." },
    include: ["*.ts"],
  }),
);

describe("documentation code blocks", () => {
  it("exist", () => {
    expect(snippets.length).toBeGreaterThan(0);
  });

  it("compile", async () => {
    const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
    const run = promisify(execFile);
    const result = await run(process.execPath, [tsc, "-p", join(outDir, "tsconfig.json")], {
      cwd: root,
    }).then(
      () => "",
      (e: { stdout?: string }) => e.stdout ?? String(e),
    );
    // Map generated names back to the doc and line they came from.
    const readable = result.replace(
      /test\/\.snippets\/([\w-]+)-L(\d+)\.ts\((\d+)/g,
      (_m, n, l, r) => {
        const s = snippets.find((x) => x.name === `${n}-L${l}`);
        return `${s?.file ?? n}:${Number(l) + Number(r) - 1}`;
      },
    );
    expect(readable).toBe("");
  }, 120_000);

  it("have an output block only right after a block that runs", () => {
    expect(strayOutputs).toEqual([]);
  });

  for (const s of snippets.filter((x) => x.run)) {
    it(`run: ${s.file}:${s.line}`, async () => {
      const log = console.log;
      const printed: string[] = [];
      console.log = (...args: unknown[]) => {
        printed.push(format(...args));
      };
      try {
        await import(pathToFileURL(join(outDir, `${s.name}.ts`)).href);
      } finally {
        console.log = log;
      }
      if (s.output !== undefined) expect(printed.join("\n")).toBe(s.output);
    });
  }
});
