// The `sluice` command on real folders: a store holds several folders (collections) and never
// loses one by surprise; search and stats read what the store records.
import { mkdir, mkdtemp, readdir, realpath, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { runSluice } from "../testing/sluice-process.ts";

let cwd: string;
const sluice = (...args: string[]) => runSluice({ cwd }, ...args);
const json = (stdout: string) => JSON.parse(stdout);

beforeAll(async () => {
  cwd = await mkdtemp(join(tmpdir(), "sluice-collections-"));
  await mkdir(join(cwd, "docsA"));
  await writeFile(
    join(cwd, "docsA", "otters.md"),
    "# Otters\n\nOtters hold hands while sleeping.\n",
  );
  await writeFile(join(cwd, "docsA", "kelp.md"), "# Kelp\n\nKelp forests shelter otters.\n");
  await mkdir(join(cwd, "docsB"));
  await writeFile(join(cwd, "docsB", "bees.md"), "# Bees\n\nHoneybees dance to give directions.\n");
  await mkdir(join(cwd, "empty"));
});
afterAll(async () => {
  await rm(cwd, { recursive: true, force: true });
});

describe("collections", () => {
  it("embedding B after A keeps A; search spans both or one; remove drops one", async () => {
    const a = await sluice("embed", "docsA", "--json");
    expect(a.stderr).toBe("");
    expect(a.code).toBe(0);
    expect(json(a.stdout)).toMatchObject({ files: 2, committed: 2, removed: 0 });
    const b = await sluice("embed", "docsB", "--json");
    expect(b.code).toBe(0);
    expect(json(b.stdout)).toMatchObject({ files: 1, committed: 1, removed: 0 });

    const realA = (await realpath(join(cwd, "docsA"))).replace(/\\/g, "/");
    const realB = (await realpath(join(cwd, "docsB"))).replace(/\\/g, "/");
    const list = await sluice("collections", "--json");
    expect(list.code).toBe(0);
    expect(json(list.stdout).collections).toEqual([
      expect.objectContaining({ collection: realA, files: 2 }),
      expect.objectContaining({ collection: realB, files: 1 }),
    ]);

    const otters = await sluice("search", "otters sleeping", "--json", "--k", "10");
    expect(otters.code).toBe(0);
    const hits = json(otters.stdout).results;
    expect(hits[0]).toMatchObject({ path: "otters.md", collection: realA });
    expect(hits[0].signals.lexical.rank).toBe(1);
    expect(hits.map((h: { path: string }) => h.path)).toContain("bees.md");
    const bees = await sluice("search", "honeybees", "--json");
    expect(json(bees.stdout).results[0]).toMatchObject({ path: "bees.md", collection: realB });

    const onlyB = await sluice("search", "otters", "--json", "--collection", "docsB");
    expect(onlyB.code).toBe(0);
    expect(json(onlyB.stdout).results.map((h: { path: string }) => h.path)).toEqual(["bees.md"]);
    const lexical = await sluice("search", "otters", "--json", "--mode", "lexical");
    const lexicalHits = json(lexical.stdout).results;
    expect(lexicalHits.map((h: { path: string }) => h.path).sort()).toEqual([
      "kelp.md",
      "otters.md",
    ]);
    expect(lexicalHits[0].signals.vector).toBeUndefined();
    const human = await sluice("search", "otters", "--mode", "hybrid");
    expect(human.stdout).toMatch(/otters\.md:\d+-\d+ .*lexical #\d/);
    expect(human.stdout).toContain(realA);

    const stats = await sluice("stats", "--json");
    expect(json(stats.stdout)).toMatchObject({ files: 3, collections: 2 });

    const missing = await sluice("remove", "no-such-collection");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no-such-collection/);
    const removed = await sluice("remove", "docsA");
    expect(removed.code).toBe(0);
    expect(removed.stdout).toContain(realA);
    const after = await sluice("collections", "--json");
    expect(json(after.stdout).collections).toEqual([
      expect.objectContaining({ collection: realB, files: 1 }),
    ]);
    const again = await sluice("search", "otters", "--json", "--k", "10");
    expect(json(again.stdout).results.map((h: { path: string }) => h.path)).toEqual(["bees.md"]);
  }, 120_000);

  it("a named collection keeps two runs of one folder apart; an empty name is refused", async () => {
    const store = "named.db";
    const one = await sluice("embed", "docsB", "--store", store, "--collection", "first", "--json");
    expect(one.code).toBe(0);
    const two = await sluice(
      "embed",
      "docsB",
      "--store",
      store,
      "--collection",
      "second",
      "--json",
    );
    expect(two.code).toBe(0);
    const list = await sluice("collections", "--store", store, "--json");
    expect(json(list.stdout).collections.map((c: { collection: string }) => c.collection)).toEqual([
      "first",
      "second",
    ]);
    const empty = await sluice("embed", "docsB", "--store", store, "--collection", "");
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/collection/);
  }, 60_000);

  it("an empty folder or a pattern matching nothing exits 2 and removes nothing (both modes)", async () => {
    const store = "keep.jsonl";
    const first = await sluice("embed", "docsA", "--store", store, "--json");
    expect(first.code).toBe(0);
    for (const mode of ["streaming", "batch"]) {
      const typo = await sluice(
        "embed",
        "docsA",
        "--store",
        store,
        "--pattern",
        "*.MD",
        "--mode",
        mode,
      );
      expect(typo.code, mode).toBe(2);
      expect(typo.stderr).toContain(join(cwd, "docsA"));
      expect(typo.stderr).toContain('"*.MD"');
      const empty = await sluice("embed", "empty", "--store", store, "--mode", mode);
      expect(empty.code, mode).toBe(2);
      expect(empty.stderr).toMatch(/no files to embed.*empty/);
    }
    const stats = await sluice("stats", "--store", store, "--json");
    expect(json(stats.stdout)).toMatchObject({ files: 2 });
  }, 60_000);

  it("a folder that does not exist, or holds nothing to embed, exits 2 and creates no store", async () => {
    const run = await sluice("embed", "no-such-folder");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/no-such-folder/);
    const fresh = await mkdtemp(join(tmpdir(), "sluice-nofolder-"));
    try {
      const inFresh = await runSluice({ cwd: fresh }, "embed", "missing", "--store", "s.jsonl");
      expect(inFresh.code).toBe(2);
      const inFreshDefault = await runSluice({ cwd: fresh }, "embed", "missing");
      expect(inFreshDefault.code).toBe(2);
      expect(await readdir(fresh)).toEqual([]);
      // A folder that exists but holds nothing to embed is refused the same way: no store is
      // left behind for a later search to find empty.
      await mkdir(join(fresh, "nothing"));
      await writeFile(join(fresh, "nothing", "notes.txt"), "not markdown\n");
      for (const mode of ["streaming", "batch"]) {
        for (const args of [
          ["embed", "nothing", "--mode", mode],
          ["embed", "nothing", "--mode", mode, "--store", "s.jsonl"],
          ["embed", "nothing", "--mode", mode, "--store", "s.db"],
          ["embed", "nothing", "--mode", mode, "--pattern", "**/*.MD"],
        ]) {
          const run = await runSluice({ cwd: fresh }, ...args);
          expect(run.code, args.join(" ")).toBe(2);
          expect(run.stderr).toMatch(/no files to embed/);
          expect(await readdir(fresh), args.join(" ")).toEqual(["nothing"]);
        }
      }
      const search = await runSluice({ cwd: fresh }, "search", "anything");
      expect(search.code).toBe(2);
      expect(search.stderr).toMatch(/no store there/);
    } finally {
      await rm(fresh, { recursive: true, force: true });
    }
  }, 60_000);

  it("search and stats need no embedder flags; a contradicting flag names the right ones", async () => {
    const store = "dims.db";
    const embed = await sluice("embed", "docsA", "--store", store, "--dimensions", "64", "--json");
    expect(embed.code).toBe(0);
    const stats = await sluice("stats", "--store", store, "--json");
    expect(stats.code).toBe(0);
    expect(json(stats.stdout)).toMatchObject({ dimensions: 64, embedderId: "hash-v1:64" });
    const search = await sluice("search", "kelp", "--store", store, "--json");
    expect(search.code).toBe(0);
    expect(json(search.stdout).results[0]).toMatchObject({ path: "kelp.md" });
    // Re-embedding without flags uses the store's embedder.
    const again = await sluice("embed", "docsA", "--store", store, "--json");
    expect(again.code).toBe(0);
    expect(json(again.stdout)).toMatchObject({ unchanged: 2 });
    const wrong = await sluice("search", "kelp", "--store", store, "--dimensions", "32");
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toContain("--dimensions 64");
    expect(wrong.stderr).not.toMatch(/delete the store/i);
    const wrongEmbed = await sluice("embed", "docsA", "--store", store, "--dimensions", "32");
    expect(wrongEmbed.code).toBe(2);
    expect(wrongEmbed.stderr).toContain("--dimensions 64");
  }, 60_000);

  it("a rare word finds its one file first with the hash embedder (sqlite and jsonl)", async () => {
    const corpus = join(cwd, "rare");
    await generateCorpus(corpus, { files: 40, seed: 5 });
    await writeFile(
      join(corpus, "needle.md"),
      "# Field notes\n\nThe report mentions a quokkaberry once, in passing, among other fruit.\n",
    );
    for (const store of ["rare.db", "rare.jsonl"]) {
      const embed = await sluice("embed", "rare", "--store", store, "--json");
      expect(embed.code, store).toBe(0);
      const search = await sluice("search", "quokkaberry", "--store", store, "--json");
      expect(json(search.stdout).results[0], store).toMatchObject({ path: "needle.md" });
    }
  }, 120_000);

  it("the summary's first line says what happened, not 'Embedded N files'", async () => {
    const store = "summary.jsonl";
    const first = await sluice("embed", "docsA", "--store", store);
    expect(first.code).toBe(0);
    expect(first.stdout.split("\n")[0]).toMatch(/^Found 2 files: 2 stored, 0 unchanged/);
    const second = await sluice("embed", "docsA", "--store", store);
    expect(second.stdout.split("\n")[0]).toMatch(/^Found 2 files: 0 stored, 2 unchanged/);
    expect(second.stdout).not.toMatch(/Embedded/);
  }, 60_000);
});
