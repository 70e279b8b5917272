import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseEmbedConfig } from "../config.ts";
import { DEFAULT_IGNORE } from "../steps/discover.ts";
import { choosesEmbedder, configFromFlags, withStoreEmbedder } from "./options.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-options-"));
  await mkdir(join(dir, "conf"));
  await writeFile(
    join(dir, "conf", "sluice.json"),
    JSON.stringify({
      root: "docs",
      ignore: ["drafts/**"],
      store: { location: "out/s.db" },
      embedder: { kind: "transformers", modelPath: "../models/m" },
    }),
  );
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("configFromFlags", () => {
  it("resolves a config file's relative paths from its folder, flags from the working folder", async () => {
    const fromFile = parseEmbedConfig(
      await configFromFlags({ config: "conf/sluice.json", mode: "streaming" }, undefined, dir),
      { cwd: "/elsewhere" },
    );
    expect(fromFile.root).toBe(join(dir, "conf", "docs"));
    expect(fromFile.store.location).toBe(join(dir, "conf", "out", "s.db"));
    expect(fromFile.embedder.modelPath).toBe(join(dir, "models", "m"));
    const withFlags = parseEmbedConfig(
      await configFromFlags(
        { config: "conf/sluice.json", store: "mine.db", mode: "streaming" },
        "notes",
        dir,
      ),
      { cwd: dir },
    );
    expect(withFlags.root).toBe(join(dir, "notes"));
    expect(withFlags.store.location).toBe(join(dir, "mine.db"));
  });

  it("adds --ignore to the configured or default ignores; --no-default-ignores drops them", async () => {
    const add = await configFromFlags({ ignore: ["a/**", "b/**"], mode: "batch" }, "x");
    expect(add.ignore).toEqual([...DEFAULT_IGNORE, "a/**", "b/**"]);
    const onConfig = await configFromFlags(
      { config: join(dir, "conf/sluice.json"), ignore: ["a/**"], mode: "batch" },
      "x",
    );
    expect(onConfig.ignore).toEqual(["drafts/**", "a/**"]);
    const none = await configFromFlags({ defaultIgnores: false, mode: "batch" }, "x");
    expect(none.ignore).toEqual([]);
    const untouched = await configFromFlags({ mode: "batch" }, "x");
    expect(untouched.ignore).toBeUndefined();
  });

  it("knows whether an embedder was chosen, and lays the store's settings under the flags", async () => {
    expect(choosesEmbedder(await configFromFlags({}))).toBe(false);
    expect(choosesEmbedder(await configFromFlags({ dimensions: 64 }))).toBe(true);
    const recorded = { kind: "hash", dimensions: 64 };
    const merged = parseEmbedConfig(withStoreEmbedder(await configFromFlags({}), recorded));
    expect(merged.embedder).toMatchObject({ kind: "hash", dimensions: 64 });
    const overridden = parseEmbedConfig(
      withStoreEmbedder(await configFromFlags({ dimensions: 32 }), recorded),
    );
    expect(overridden.embedder.dimensions).toBe(32);
  });
});
