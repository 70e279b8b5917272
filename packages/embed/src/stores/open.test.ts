import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { openVectorStore } from "./open.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-open-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("openVectorStore", () => {
  it("opens the JSONL store a config names", async () => {
    const config = parseEmbedConfig({ store: { location: "out/v.jsonl" } }, { cwd: dir });
    const store = await openVectorStore(config.store, { embedderId: "e", dimensions: 4 });
    expect(store.kind).toBe("jsonl");
    await store.close();
    expect(await readFile(join(dir, "out", "v.jsonl"), "utf8")).toContain('"type":"meta"');
  });

  it("goes to Postgres for a postgres:// URL", async () => {
    const config = parseEmbedConfig({ store: { location: "postgres://u@127.0.0.1:1/db" } });
    await expect(
      openVectorStore(config.store, { embedderId: "e", dimensions: 4 }),
    ).rejects.toMatchObject({ code: "unavailable" });
  });
});
