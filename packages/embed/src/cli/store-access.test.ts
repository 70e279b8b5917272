// One writer at a time, readers never write: concurrent `sluice` processes on one store.
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { type CliResult, runSluice } from "../testing/sluice-process.ts";
import { storeContents } from "../testing/store-contents.ts";
import {
  runSluiceFrom,
  type WorldReadableCopy,
  worldReadableCopy,
} from "../testing/world-readable-copy.ts";

let cwd: string;
const sluice = (...args: string[]) => runSluice({ cwd }, ...args);
const json = (stdout: string) => JSON.parse(stdout);

/** Everything a store holds, with a check that it holds something. */
async function dump(location: string) {
  const contents = await storeContents(location);
  expect(contents.chunks.length).toBeGreaterThan(0);
  return contents;
}

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-access-"));
  await chmod(cwd, 0o755);
  await generateCorpus(join(cwd, "corpus"), { files: 100, seed: 9 });
  await mkdir(join(cwd, "docs"));
  await writeFile(join(cwd, "docs", "a.md"), "# A\n\nSome text.\n");
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

// `nobody` cannot reach into a checkout that sits in a private folder: it runs a copy.
let copy: Promise<WorldReadableCopy> | undefined;
const nobodysCopy = () => (copy ??= worldReadableCopy());
afterAll(async () => {
  await copy?.then(
    (c) => c.remove(),
    () => {},
  );
});

describe.each(["store.db", "store.jsonl"])("one writer, many readers (%s)", (name) => {
  it("two embeds at once: one exits 2 naming the lock, the store equals a single run's", async () => {
    const store = `concurrent-${name}`;
    const [one, two] = await Promise.all([
      sluice("embed", "corpus", "--store", store, "--json"),
      sluice("embed", "corpus", "--store", store, "--json"),
    ]);
    const codes = [one.code, two.code].sort();
    expect(codes).toEqual([0, 2]);
    const loser = (one.code === 2 ? one : two) as CliResult;
    expect(loser.stderr).toMatch(/store .* is locked by pid \d+/);
    const single = await sluice("embed", "corpus", "--store", `single-${name}`, "--json");
    expect(single.code).toBe(0);
    const [got, want] = await Promise.all([
      dump(join(cwd, store)),
      dump(join(cwd, `single-${name}`)),
    ]);
    expect(got).toEqual(want);
  }, 180_000);

  it("search and stats during an embed lose nothing", async () => {
    const store = `busy-${name}`;
    const embed = sluice("embed", "corpus", "--store", store, "--json", "--batch-size", "4");
    let done = false;
    void embed.then(() => {
      done = true;
    });
    const readers: CliResult[] = [];
    while (!done) {
      readers.push(
        ...(await Promise.all([
          sluice("stats", "--store", store, "--json"),
          sluice("search", "stream backpressure", "--store", store, "--json"),
        ])),
      );
    }
    const result = await embed;
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    // Some readers ran while the embed was writing, and read a store in the making.
    expect(readers.some((r) => r.code === 0)).toBe(true);
    for (const r of readers) {
      // Before the store exists a reader says so (exit 2); once it does, readers succeed.
      expect([0, 2]).toContain(r.code);
      if (r.code === 2) expect(r.stderr).toMatch(/no store/);
    }
    const single = await sluice("embed", "corpus", "--store", `clean-${name}`, "--json");
    expect(single.code).toBe(0);
    expect(await dump(join(cwd, store))).toEqual(await dump(join(cwd, `clean-${name}`)));
  }, 180_000);

  it("a store the user cannot write is still searchable (run as nobody)", async () => {
    const dir = join(cwd, `readonly-${name}`);
    await mkdir(dir);
    await chmod(dir, 0o755);
    const store = join(dir, name);
    const embed = await sluice("embed", "corpus", "--store", store, "--json");
    expect(embed.code).toBe(0);
    const before = await readdir(dir);
    const readable = await nobodysCopy();
    const asNobody = (...args: string[]) =>
      runSluiceFrom(
        readable,
        { cwd, uid: 65534, gid: 65534, env: { ...readable.env, HOME: "/tmp" } },
        ...args,
      );
    const search = await asNobody("search", "stream backpressure", "--store", store, "--json");
    expect(search.stderr).toBe("");
    expect(search.code).toBe(0);
    expect(json(search.stdout).results.length).toBeGreaterThan(0);
    const stats = await asNobody("stats", "--store", store, "--json");
    expect(stats.code).toBe(0);
    expect(await readdir(dir)).toEqual(before);
  }, 120_000);
});

describe("store locations", () => {
  it("a store path of the wrong kind exits 2 with a clear message", async () => {
    await writeFile(join(cwd, "notes.txt"), "not a database at all\n");
    await mkdir(join(cwd, "a-folder.db"));
    const cases: [string[], RegExp][] = [
      [["embed", "docs", "--store", "notes.txt"], /notes\.txt.*not an SQLite database/],
      [["embed", "docs", "--store", "a-folder.db"], /a-folder\.db.*is a folder/],
      [["embed", "docs", "--store", "notes.txt/store.db"], /notes\.txt.*not a folder/],
      [["search", "x", "--store", "a-folder.db"], /a-folder\.db.*is a folder/],
      [
        ["embed", "docs", "--store", "notes.txt", "--store-kind", "pglite"],
        /notes\.txt.*not a folder/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await sluice(...args);
      expect(run.code, args.join(" ")).toBe(2);
      expect(run.stderr, args.join(" ")).toMatch(message);
      expect(run.stderr, args.join(" ")).not.toMatch(/EEXIST|ENOTDIR/);
    }
  }, 60_000);

  it("uses PGlite only with --store-kind pglite, and says so when it is left out", async () => {
    const embed = await sluice(
      "embed",
      "docs",
      "--store",
      "pg",
      "--store-kind",
      "pglite",
      "--json",
    );
    expect(embed.stderr).toBe("");
    expect(embed.code).toBe(0);
    const search = await sluice(
      "search",
      "text",
      "--store",
      "pg",
      "--store-kind",
      "pglite",
      "--json",
    );
    expect(search.code).toBe(0);
    expect(json(search.stdout).results[0]).toMatchObject({ path: "a.md" });
    const inferred = await sluice("stats", "--store", "pg");
    expect(inferred.code).toBe(2);
    expect(inferred.stderr).toMatch(/pg is a folder.*--store-kind pglite/);
  }, 120_000);

  it("notes the old PGlite default store once", async () => {
    const old = await mkdtemp(join(tmpdir(), "sluice-legacy-"));
    try {
      await mkdir(join(old, ".sluice", "store"), { recursive: true });
      await writeFile(join(old, ".sluice", "store", "PG_VERSION"), "17\n");
      await mkdir(join(old, "docs"));
      await writeFile(join(old, "docs", "a.md"), "# A\n\nSome text.\n");
      const run = await runSluice({ cwd: old }, "embed", "docs", "--json");
      expect(run.code).toBe(0);
      const notes = run.stderr.split("\n").filter((l) => l.includes(".sluice/store.db"));
      expect(notes).toHaveLength(1);
      // The old store has no collections (schema 1): no flag opens it, so the note says to move.
      expect(notes[0]).toMatch(/re-embed .*then delete \.sluice\/store/);
      expect(notes[0]).not.toMatch(/--store-kind pglite/);
    } finally {
      await rm(old, { recursive: true, force: true });
    }
  }, 60_000);
});
