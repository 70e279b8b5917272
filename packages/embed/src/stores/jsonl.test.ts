import { appendFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { record, vectorStoreContract } from "../testing/vector-store-contract.ts";
import { openJsonlStore } from "./jsonl.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-jsonl-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const identity = { embedderId: "hash-v1:16", dimensions: 16 };
const lines = async (path: string) =>
  (await readFile(path, "utf8"))
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { type: string; text?: string });

describe("JSONL store", () => {
  vectorStoreContract((name, id) =>
    openJsonlStore({ path: join(dir, "contract", `${name}.jsonl`), ...id }),
  );

  it("appends while open and compacts to one line per live chunk on close", async () => {
    const path = join(dir, "compact.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    const a = record("a.md", 0, "first");
    await store.upsert([a]);
    await store.upsert([{ ...a, text: "first, edited" }]);
    await store.upsert([record("b.md", 0, "second")]);
    await store.commitFile("a.md", "ha", [a.id]);
    expect((await lines(path)).map((l) => l.type)).toEqual([
      "meta",
      "chunk",
      "chunk",
      "chunk",
      "commit",
    ]);
    await store.close();
    const compacted = await lines(path);
    expect(compacted.map((l) => l.type)).toEqual(["meta", "file", "chunk", "chunk"]);
    expect(compacted[2]?.text).toBe("first, edited");

    // An unchanged store is not rewritten.
    const before = await readFile(path, "utf8");
    await (await openJsonlStore({ path, ...identity })).close();
    expect(await readFile(path, "utf8")).toBe(before);
  });

  it("drops a torn last line left by a crash and keeps working", async () => {
    const path = join(dir, "torn.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    await store.upsert([record("a.md", 0, "kept")]);
    await store.close();
    await appendFile(path, '{"type":"chunk","id":"half');
    const reopened = await openJsonlStore({ path, ...identity });
    try {
      expect((await reopened.stats()).chunks).toBe(1);
      await reopened.upsert([record("b.md", 0, "after crash")]);
      expect((await reopened.stats()).chunks).toBe(2);
    } finally {
      await reopened.close();
    }
    expect((await lines(path)).map((l) => l.type)).toEqual(["meta", "chunk", "chunk"]);
  });

  it("reports a corrupt line in the middle with its line number", async () => {
    const path = join(dir, "corrupt.jsonl");
    const meta = JSON.stringify({ type: "meta", schemaVersion: 1, ...identity });
    await writeFile(path, `${meta}\nnot json\n${meta}\n`);
    await expect(openJsonlStore({ path, ...identity })).rejects.toThrow(
      /corrupt\.jsonl:2: not valid JSON/,
    );
    await writeFile(path, '{"type":"chunk"}\n');
    await expect(openJsonlStore({ path, ...identity })).rejects.toMatchObject({ code: "corrupt" });
  });

  it("serializes concurrent writes", async () => {
    const path = join(dir, "concurrent.jsonl");
    const store = await openJsonlStore({ path, ...identity });
    try {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          store.upsert([record(`f${i % 5}.md`, i, `text ${i}`)]),
        ),
      );
      expect((await store.stats()).chunks).toBe(20);
      expect(await lines(path)).toHaveLength(21);
    } finally {
      await store.close();
    }
  });
});
