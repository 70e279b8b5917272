// The transformers embedder with a hub model id, against a loopback hub only: every run names
// it by --model-host or SLUICE_MODEL_HOST and a temporary cache, so nothing reaches the internet.
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCli } from "../cli/main.ts";
import { parseEmbedConfig } from "../config.ts";
import { type ModelHubServer, startModelHubServer } from "../testing/model-hub-server.ts";
import { runSluice } from "../testing/sluice-process.ts";
import { type TinyBertModel, writeTinyBertModel } from "../testing/tiny-bert-model.ts";
import { createEmbedder } from "./create.ts";
import { downloadHubModel } from "./model-hub.ts";
import { EmbedderConfigError } from "./openai.ts";
import { createTransformersEmbedder } from "./transformers.ts";
import { prepareTransformersModel } from "./transformers-model.ts";

const MODEL = "tiny/bert";
let dir: string;
let model: TinyBertModel;
let hub: ModelHubServer;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-transformers-hub-"));
  model = await writeTinyBertModel(join(dir, "source"), 16);
  hub = await startModelHubServer({ [MODEL]: model.path });
  await mkdir(join(dir, "notes"));
  await writeFile(join(dir, "notes", "a.md"), "# Hello\n\nHello world, hello world.\n");
  await writeFile(join(dir, "notes", "b.md"), "# Memory\n\nA bounded memory stream.\n");
});

afterAll(async () => {
  await hub.close();
  await rm(dir, { recursive: true, force: true });
});

function sink() {
  let text = "";
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}

/** Runs the CLI in this process, stderr not a terminal. */
async function cli(...args: string[]) {
  const stdout = sink();
  const stderr = sink();
  const code = await runCli(args, { stdout: stdout.stream, stderr: stderr.stream, cwd: dir });
  return { code, stdout: stdout.text(), stderr: stderr.text() };
}

describe("transformers embedder with a hub model", () => {
  it("loads a cached hub model by id: same vectors as the folder, the id in its name", async () => {
    const cacheDir = join(dir, "cache-lib");
    const missing = () => createTransformersEmbedder({ model: MODEL, cacheDir });
    expect(missing).toThrow(EmbedderConfigError);
    expect(missing).toThrow(
      `model ${MODEL} is not in the model cache (${join(cacheDir, "tiny", "bert")}); download it first`,
    );
    await downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
    const fromHub = createTransformersEmbedder({ model: MODEL, cacheDir });
    const fromFolder = createTransformersEmbedder({ modelPath: model.path });
    try {
      expect(fromHub.id).toBe("transformers:tiny/bert:fp32:mean:16");
      expect(fromHub.dimensions).toBe(16);
      const [a] = await fromHub.embed(["bounded memory stream"]);
      const [b] = await fromFolder.embed(["bounded memory stream"]);
      expect(a).toEqual(b);
    } finally {
      await fromHub.close?.();
      await fromFolder.close?.();
    }
  });

  it("is prepared from the workflow config: downloaded unless offline, then built by createEmbedder", async () => {
    const cacheDir = join(dir, "cache-config");
    const offline = parseEmbedConfig(
      { embedder: { kind: "transformers", model: MODEL, cacheDir, offline: true, dimensions: 16 } },
      { cwd: dir },
    );
    const before = hub.requests.length;
    await expect(prepareTransformersModel(offline.embedder)).rejects.toThrow(
      /not in the model cache .*cache-config.tiny.bert\) and --offline forbids downloading it/,
    );
    expect(hub.requests.length).toBe(before);
    const online = parseEmbedConfig({
      embedder: {
        kind: "transformers",
        model: MODEL,
        cacheDir,
        modelHost: hub.url,
        dimensions: 16,
      },
    });
    expect(await prepareTransformersModel(online.embedder)).toMatchObject({
      path: join(cacheDir, "tiny", "bert"),
    });
    expect(await prepareTransformersModel(offline.embedder)).toMatchObject({ downloadedBytes: 0 });
    expect(createEmbedder(online.embedder).id).toBe("transformers:tiny/bert:fp32:mean:16");
    // A local folder needs no preparing, whatever the other fields say.
    const folder = parseEmbedConfig({ embedder: { kind: "transformers", modelPath: model.path } });
    expect(await prepareTransformersModel(folder.embedder)).toBeUndefined();
  });
});

describe("sluice embed --embedder transformers --model <hub id>", () => {
  it("downloads once with progress lines, embeds, and later runs and searches make no request", async () => {
    const flags = [
      "--embedder",
      "transformers",
      "--model",
      MODEL,
      "--model-host",
      hub.url,
      "--cache-dir",
      "models",
      "--dimensions",
      "16",
      "--threads",
      "0",
    ];
    const first = await cli("embed", "notes", ...flags, "--store", "notes.jsonl");
    expect(first.stderr).toContain(`[sluice] downloading model ${MODEL} from ${hub.url}`);
    expect(first.stderr).toMatch(/\[sluice\] {3}onnx\/model\.onnx \(\d+(\.\d)? kB\)/);
    expect(first.stderr).toMatch(/\[sluice\] {3}onnx\/model\.onnx done \(.*, verified\)/);
    expect(first.stderr).toContain(`ready in ${join(dir, "models", "tiny", "bert")}`);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/^Found 2 files: 2 stored/);

    const before = hub.requests.length;
    // Search needs no embedder flags: the store records the hub model (the cache is a flag).
    const search = await cli(
      "search",
      "bounded memory",
      "--cache-dir",
      "models",
      "--store",
      "notes.jsonl",
      "--json",
    );
    expect(search.stderr).toBe("");
    expect(search.code).toBe(0);
    const { results } = JSON.parse(search.stdout) as { results: { path: string }[] };
    expect(results[0]?.path).toBe("b.md");

    await writeFile(join(dir, "notes", "c.md"), "# Pipeline\n\nA pull based pipeline.\n");
    const again = await cli("embed", "notes", ...flags, "--store", "notes.jsonl", "--json");
    expect(again.code).toBe(0);
    expect(again.stderr).toBe("");
    expect(JSON.parse(again.stdout)).toMatchObject({ embedded: 1, unchanged: 2 });
    expect(hub.requests.length).toBe(before);
  });

  it("downloads silently with --json", async () => {
    const before = hub.requests.length;
    const run = await cli(
      "embed",
      "notes",
      ...["--embedder", "transformers", "--model", MODEL, "--model-host", hub.url],
      ...["--cache-dir", "models-json", "--dimensions", "16", "--threads", "0"],
      ...["--store", "json.jsonl", "--json"],
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ failed: 0 });
    expect(hub.requests.length).toBeGreaterThan(before);
  });

  it("lets --model replace the model folder a store records, and refuses the mismatch", async () => {
    const folder = ["--embedder", "transformers", "--model-path", model.path, "--dimensions", "16"];
    const local = await cli("embed", "notes", ...folder, "--store", "swap.jsonl", "--json");
    expect(local.code).toBe(0);
    // The recorded folder must not quietly win over the hub model asked for.
    const hubModel = await cli(
      "embed",
      "notes",
      ...["--model", MODEL, "--model-host", hub.url, "--cache-dir", "models"],
      ...["--store", "swap.jsonl", "--json"],
    );
    expect(hubModel.code).toBe(2);
    expect(hubModel.stderr).toContain(
      "holds vectors of embedder transformers:source:fp32:mean:16 (16 dimensions), " +
        "not transformers:tiny/bert:fp32:mean:16",
    );
  });

  it("fails clearly: --offline with an empty cache (no request made), an unknown model id", async () => {
    const cache = join(dir, "xdg");
    // The child's cache and host come from the environment, as a user's would.
    const env = { ...process.env, XDG_CACHE_HOME: cache, SLUICE_MODEL_HOST: hub.url };
    const sluice = (...args: string[]) => runSluice({ cwd: dir, env }, ...args);
    const before = hub.requests.length;
    const offline = await sluice(
      "embed",
      "notes",
      "--embedder",
      "transformers",
      "--model",
      MODEL,
      "--dimensions",
      "16",
      "--store",
      "offline.jsonl",
      "--offline",
    );
    expect(offline.code).toBe(2);
    expect(offline.stderr).toContain(
      `sluice: model ${MODEL} is not in the model cache (${join(cache, "sluice", "models", "tiny", "bert")}) ` +
        `and --offline forbids downloading it: run once without --offline to download it from ${hub.url}, ` +
        "or give a local model folder with --model-path <dir>",
    );
    expect(hub.requests.length).toBe(before);

    const unknown = await sluice(
      "embed",
      "notes",
      "--embedder",
      "transformers",
      "--model",
      "nobody/nothing",
      "--store",
      "unknown.jsonl",
      "--json",
    );
    expect(unknown.code).toBe(2);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toBe(
      `sluice: no model nobody/nothing at ${hub.url} (HTTP 404): check the id, or set HF_TOKEN if it is private\n`,
    );
    expect(await readdir(join(cache, "sluice", "models"))).toEqual([]);
  });
});
