import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { runSluice } from "../testing/sluice-process.ts";
import { dumpSqliteStore } from "../testing/store-dump.ts";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-reembed-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("sluice reembed", () => {
  it("equals `sluice embed` into SQLite after `sluice embed` into JSONL, and refuses bad stores", async () => {
    const work = dir;
    await generateCorpus(join(work, "docs"), { files: 15, seed: 9 });
    const sluice = (...args: string[]) => runSluice({ cwd: work }, ...args);
    expect((await sluice("embed", "docs", "--store", "a.jsonl", "--quiet")).code).toBe(0);
    expect((await sluice("embed", "docs", "--store", "clean.db", "--quiet")).code).toBe(0);
    const moved = await sluice("reembed", "--from", "a.jsonl", "--to", "b.db");
    expect(moved.code).toBe(0);
    expect(moved.stdout).toMatch(
      /^Re-embedded 15 files of 1 collection into .*b\.db \(sqlite\): 15 stored/,
    );
    expect(await dumpSqliteStore(join(work, "b.db"))).toEqual(
      await dumpSqliteStore(join(work, "clean.db")),
    );
    const same = await sluice("reembed", "--from", "a.jsonl", "--to", "a.jsonl");
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/the source and the target are the same store/);
    const missing = await sluice("reembed", "--from", "none.jsonl", "--to", "c.db");
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/--from .*none\.jsonl: no store there/);
  }, 60_000);
});
