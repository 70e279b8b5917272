/**
 * Every TypeScript block in README.md and docs/ is compiled, and run unless marked: a
 * renamed API breaks this test, not the reader. Mark a block with an HTML comment on the
 * line before its fence: `<!-- snippet: no-run -->` compiles it only (it needs a network,
 * a server, or runs forever); `<!-- snippet: skip -->` leaves it out (a fragment shown for
 * shape, not meant to compile on its own — use sparingly).
 */
import { execFile } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const outDir = join(root, "test", ".snippets");

interface Snippet {
  file: string;
  line: number;
  code: string;
  run: boolean;
  name: string;
}

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
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(ts|typescript)\s*$/.exec(lines[i] ?? "");
    if (!fence) continue;
    const marker = /<!--\s*snippet:\s*([\w-]+)\s*-->/.exec(lines[i - 1] ?? "")?.[1];
    const start = i + 1;
    let end = start;
    while (end < lines.length && !/^```\s*$/.test(lines[end] ?? "")) end++;
    if (marker !== "skip") {
      const rel = relative(root, file).replace(/[^\w]+/g, "-");
      out.push({
        file: relative(root, file),
        line: start,
        code: lines.slice(start, end).join("\n"),
        run: marker !== "no-run",
        name: `${rel}-L${start}`,
      });
    }
    i = end;
  }
  return out;
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

  for (const s of snippets.filter((x) => x.run)) {
    it(`run: ${s.file}:${s.line}`, async () => {
      const log = console.log;
      console.log = () => {};
      try {
        await import(pathToFileURL(join(outDir, `${s.name}.ts`)).href);
      } finally {
        console.log = log;
      }
    });
  }
});
