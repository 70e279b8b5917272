// The `sluice` command's conventions: --version, which files a run includes, config files,
// and names that must never reach the terminal raw.
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSluice } from "../testing/sluice-process.ts";
import { runSluiceFrom, worldReadableCopy } from "../testing/world-readable-copy.ts";
import { terminalText } from "./terminal-text.ts";

let cwd: string;
const sluice = (...args: string[]) => runSluice({ cwd }, ...args);
const json = (stdout: string) => JSON.parse(stdout);
const paths = async (store: string) => {
  const list = await sluice(
    "search",
    "note",
    "--store",
    store,
    "--json",
    "--k",
    "50",
    "--mode",
    "lexical",
  );
  return [...new Set(json(list.stdout).results.map((h: { path: string }) => h.path))].sort();
};

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-conventions-"));
  const docs = join(cwd, "docs");
  for (const dir of ["", "node_modules/pkg", ".hidden", "drafts", ".git"]) {
    await mkdir(join(docs, dir), { recursive: true });
  }
  await writeFile(join(docs, "a.md"), "# A\n\nA note.\n");
  await writeFile(join(docs, "node_modules/pkg/README.md"), "# Pkg\n\nA note from a package.\n");
  await writeFile(join(docs, ".hidden/b.md"), "# B\n\nA hidden note.\n");
  await writeFile(join(docs, "drafts/c.md"), "# C\n\nA draft note.\n");
  await writeFile(join(docs, ".git/d.md"), "# D\n\nA git note.\n");
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("CLI conventions", () => {
  it("--version prints the package version", async () => {
    const { version } = JSON.parse(
      await readFile(new URL("../../package.json", import.meta.url), "utf8"),
    );
    const run = await sluice("--version");
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  }, 30_000);

  it("--ignore adds ignores, --include-hidden adds dot folders, --no-default-ignores drops the defaults", async () => {
    expect((await sluice("embed", "docs", "--store", "plain.jsonl", "--quiet")).code).toBe(0);
    expect(await paths("plain.jsonl")).toEqual(["a.md", "drafts/c.md"]);

    const ignore = await sluice(
      "embed",
      "docs",
      "--store",
      "ign.jsonl",
      "--ignore",
      "drafts/**",
      "--quiet",
    );
    expect(ignore.code).toBe(0);
    expect(await paths("ign.jsonl")).toEqual(["a.md"]);

    const hidden = await sluice(
      "embed",
      "docs",
      "--store",
      "hid.jsonl",
      "--include-hidden",
      "--quiet",
    );
    expect(hidden.code).toBe(0);
    // .git stays ignored: it is one of the default ignores.
    expect(await paths("hid.jsonl")).toEqual([".hidden/b.md", "a.md", "drafts/c.md"]);

    const all = await sluice(
      "embed",
      "docs",
      "--store",
      "all.jsonl",
      "--include-hidden",
      "--no-default-ignores",
      "--quiet",
    );
    expect(all.code).toBe(0);
    expect(await paths("all.jsonl")).toEqual([
      ".git/d.md",
      ".hidden/b.md",
      "a.md",
      "drafts/c.md",
      "node_modules/pkg/README.md",
    ]);
  }, 120_000);

  it("resolves relative paths in a --config file from the file's folder", async () => {
    await mkdir(join(cwd, "conf"), { recursive: true });
    await writeFile(
      join(cwd, "conf", "sluice.json"),
      JSON.stringify({ root: "../docs", store: { location: "out/conf.jsonl" } }),
    );
    const elsewhere = join(cwd, "elsewhere");
    await mkdir(elsewhere, { recursive: true });
    const run = await runSluice(
      { cwd: elsewhere },
      "embed",
      "../docs",
      "--config",
      "../conf/sluice.json",
      "--json",
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const stats = await sluice("stats", "--store", "conf/out/conf.jsonl", "--json");
    expect(stats.code).toBe(0);
    expect(json(stats.stdout)).toMatchObject({ files: 2 });
  }, 60_000);

  it("escapes control characters in names on the terminal", async () => {
    const evil = join(cwd, "evil");
    await mkdir(evil, { recursive: true });
    const name = "bad\u001b[2Jname\u0007.md";
    await writeFile(join(evil, name), Buffer.from([0x00, 0x01]));
    await writeFile(join(evil, "ok\u001b]0;title\u0007.md"), "# OK\n\nA note about escapes.\n");
    const run = await sluice("embed", "evil", "--store", "evil.jsonl");
    expect(run.code).toBe(1);
    const all = run.stdout + run.stderr;
    expect(all).not.toContain("\u001b");
    expect(all).not.toContain("\u0007");
    expect(all).toContain("bad\\x1b[2Jname\\x07.md");
    const search = await sluice("search", "escapes", "--store", "evil.jsonl");
    expect(search.code).toBe(0);
    expect(search.stdout).not.toContain("\u001b");
    expect(search.stdout).toContain("ok\\x1b]0;title\\x07.md");
    const asJson = await sluice("search", "escapes", "--store", "evil.jsonl", "--json");
    // JSON output is for programs: the name is exact there (JSON escapes control characters).
    expect(JSON.parse(asJson.stdout).results[0].path).toBe("ok\u001b]0;title\u0007.md");
  }, 60_000);

  it("does not follow a link out of the folder unless --follow-symlinks", async () => {
    const outside = join(cwd, "outside");
    await mkdir(outside, { recursive: true });
    await writeFile(join(outside, "secret.md"), "# Secret\n\nA secret note.\n");
    const linked = join(cwd, "linked");
    await mkdir(linked, { recursive: true });
    await writeFile(join(linked, "own.md"), "# Own\n\nAn own note.\n");
    await symlink(join(outside, "secret.md"), join(linked, "secret.md"));
    const run = await sluice("embed", "linked", "--store", "link.jsonl", "--json");
    expect(await paths("link.jsonl")).toEqual(["own.md"]);
    expect(json(run.stdout).errors).toEqual([
      expect.objectContaining({ path: "secret.md", code: "OUTSIDE_ROOT" }),
    ]);
    const follow = await sluice(
      "embed",
      "linked",
      "--store",
      "follow.jsonl",
      "--follow-symlinks",
      "--json",
    );
    expect(follow.code).toBe(0);
    expect(await paths("follow.jsonl")).toEqual(["own.md", "secret.md"]);
  }, 60_000);

  it("keeps the stored files of a folder that cannot be listed, and reports the folder", async () => {
    // Root may list any folder: the runs go as `nobody`, in folders nobody may use.
    const base = join(cwd, "unreadable");
    await mkdir(join(base, "docs", "sub"), { recursive: true });
    await writeFile(join(base, "docs", "a.md"), "# A\n\nA note.\n");
    await writeFile(join(base, "docs", "sub", "b.md"), "# B\n\nA note below.\n");
    await Promise.all(
      [cwd, base, join(base, "docs"), join(base, "docs", "sub")].map((d) => chmod(d, 0o755)),
    );
    await mkdir(join(base, "out"));
    await chmod(join(base, "out"), 0o777);
    // `nobody` cannot reach into a checkout that sits in a private folder: it runs a copy.
    const copy = await worldReadableCopy();
    const asNobody = (...args: string[]) =>
      runSluiceFrom(
        copy,
        { cwd: base, uid: 65534, gid: 65534, env: { ...copy.env, HOME: "/tmp" } },
        ...args,
      );
    try {
      const first = await asNobody("embed", "docs", "--store", "out/s.jsonl", "--json");
      expect(first.stderr).toBe("");
      expect(json(first.stdout)).toMatchObject({ files: 2, committed: 2 });
      await chmod(join(base, "docs", "sub"), 0o000);
      const second = await asNobody("embed", "docs", "--store", "out/s.jsonl", "--json");
      expect(second.code).toBe(1);
      const summary = json(second.stdout);
      expect(summary.errors).toEqual([
        expect.objectContaining({ path: "sub", kind: "failed", code: "UNREADABLE_FOLDER" }),
      ]);
      expect(summary.removed).toBe(0);
      const stats = await asNobody("stats", "--store", "out/s.jsonl", "--json");
      expect(json(stats.stdout)).toMatchObject({ files: 2 });
    } finally {
      await chmod(join(base, "docs", "sub"), 0o755);
      await copy.remove();
    }
  }, 60_000);

  it("terminalText leaves ordinary names alone and makes control characters visible", () => {
    expect(terminalText("docs/ünïcode back\\slash.md")).toBe("docs/ünïcode back\\slash.md");
    expect(terminalText("a\u001b[31mb\nc\u202ed\u009b")).toBe("a\\x1b[31mb\\nc\\u202ed\\x9b");
  });
});
