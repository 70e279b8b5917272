// Downloads from a loopback hub only: every test passes its URL as the host.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import {
  HUB_COMMIT,
  type ModelHubServer,
  startModelHubServer,
} from "../testing/model-hub-server.ts";
import { writeTinyBertModel } from "../testing/tiny-bert-model.ts";
import {
  DEFAULT_MODEL_HOST,
  defaultModelCacheDir,
  downloadHubModel,
  findCachedModel,
  isHubModelId,
  ModelDownloadError,
  type ModelDownloadProgress,
  modelCachePath,
  resolveModelHost,
} from "./model-hub.ts";
import { EmbedderConfigError } from "./openai.ts";

const MODEL = "tiny/bert";
let dir: string;
let source: string;
let hub: ModelHubServer;
let cache = "";
let caches = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-model-hub-"));
  source = join(dir, "source");
  await writeTinyBertModel(source, 16);
  hub = await startModelHubServer({ [MODEL]: source });
});

afterAll(async () => {
  await hub.close();
  await rm(dir, { recursive: true, force: true });
});

afterEach(() => {
  hub.faults = {};
});

/** A fresh, empty cache folder for each test. */
function freshCache(): string {
  cache = join(dir, `cache-${++caches}`);
  return cache;
}

/** Every file under a folder, relative to it, sorted. */
async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)).replaceAll("\\", "/"))
    .sort();
}

const MODEL_FILES = ["config.json", "onnx/model.onnx", "tokenizer.json", "tokenizer_config.json"];

describe("downloadHubModel", () => {
  it("downloads the files the model needs, verified, and a second call makes no request", async () => {
    const cacheDir = freshCache();
    const events: ModelDownloadProgress[] = [];
    const before = hub.requests.length;
    const model = await downloadHubModel({
      model: MODEL,
      cacheDir,
      host: hub.url,
      onProgress: (p) => events.push(p),
    });
    expect(model.path).toBe(join(cacheDir, "tiny", "bert"));
    expect(await listFiles(model.path)).toEqual([".sluice-commit", ...MODEL_FILES]);
    for (const file of MODEL_FILES) {
      expect(await readFile(join(model.path, file)), file).toEqual(
        await readFile(join(source, file)),
      );
    }
    // Later files come from the commit the first answer named.
    expect((await readFile(join(model.path, ".sluice-commit"), "utf8")).trim()).toBe(HUB_COMMIT);
    const asked = hub.requests.slice(before);
    expect(asked[0]).toBe(`GET /${MODEL}/resolve/main/config.json`);
    expect(asked).toContain(`GET /${MODEL}/resolve/${HUB_COMMIT}/onnx/model.onnx`);
    expect(asked).toContain(`GET /cdn/${MODEL}/onnx/model.onnx`); // the LFS redirect, followed
    const total = MODEL_FILES.map((f) => f).length;
    expect(events.filter((e) => e.phase === "done").map((e) => e.file)).toHaveLength(total);
    const onnx = events.filter((e) => e.file === "onnx/model.onnx");
    expect(onnx[0]).toMatchObject({ phase: "start", received: 0 });
    expect(onnx.at(-1)).toMatchObject({ phase: "done" });
    expect(onnx[0]?.total).toBe(onnx.at(-1)?.received);
    expect(model.downloadedBytes).toBe(
      events.filter((e) => e.phase === "done").reduce((n, e) => n + e.received, 0),
    );
    expect(findCachedModel({ model: MODEL, cacheDir })).toBe(model.path);

    const count = hub.requests.length;
    const again = await downloadHubModel({
      model: MODEL,
      cacheDir,
      host: hub.url,
      onProgress: () => {
        throw new Error("no progress expected");
      },
    });
    expect(again).toEqual({ path: model.path, downloadedBytes: 0 });
    expect(hub.requests.length).toBe(count);
  });

  it("fetches only what a cached model lacks: the q8 weights beside the fp32 ones", async () => {
    const cacheDir = freshCache();
    await downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
    const quantized = join(source, "onnx", "model_quantized.onnx");
    await writeFile(quantized, await readFile(join(source, "onnx", "model.onnx")));
    try {
      const before = hub.requests.length;
      expect(findCachedModel({ model: MODEL, cacheDir, dtype: "q8" })).toBeUndefined();
      await downloadHubModel({ model: MODEL, cacheDir, host: hub.url, dtype: "q8" });
      expect(hub.requests.slice(before)).toEqual([
        `GET /${MODEL}/resolve/${HUB_COMMIT}/onnx/model_quantized.onnx`,
        `GET /cdn/${MODEL}/onnx/model_quantized.onnx`,
      ]);
      expect(findCachedModel({ model: MODEL, cacheDir, dtype: "q8" })).toBeDefined();
    } finally {
      await rm(quantized);
    }
  });

  it("fails on an unknown model with a not-found error naming the id and the host, leaving nothing", async () => {
    const cacheDir = freshCache();
    const attempt = downloadHubModel({ model: "nobody/nothing", cacheDir, host: hub.url });
    await expect(attempt).rejects.toBeInstanceOf(ModelDownloadError);
    await expect(attempt).rejects.toMatchObject({ code: "not-found" });
    await expect(attempt).rejects.toThrow(`no model nobody/nothing at ${hub.url} (HTTP 404)`);
    expect(await listFiles(cacheDir)).toEqual([]);
    expect(await readdir(cacheDir)).toEqual([]); // not even empty folders
  });

  it("names the missing file of a model that is not an ONNX export, and the revision", async () => {
    const cacheDir = freshCache();
    const noOnnx = join(dir, "no-onnx");
    await writeTinyBertModel(noOnnx, 4);
    await rm(join(noOnnx, "onnx"), { recursive: true });
    const local = await startModelHubServer({ "plain/bert": noOnnx });
    try {
      const missing = downloadHubModel({ model: "plain/bert", cacheDir, host: local.url });
      await expect(missing).rejects.toMatchObject({ code: "not-found" });
      await expect(missing).rejects.toThrow(/model plain\/bert has no file .*onnx\/model\.onnx/);
      // What was complete stays: a later run with the file present only fetches that one.
      expect(await listFiles(join(cacheDir, "plain", "bert"))).toEqual([
        ".sluice-commit",
        "config.json",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      const revision = downloadHubModel({
        model: MODEL,
        cacheDir,
        host: hub.url,
        revision: "v9",
      });
      await expect(revision).rejects.toThrow(`model ${MODEL} has no revision v9 at ${hub.url}`);
    } finally {
      await local.close();
    }
  });

  it("gives up on a server that stalls mid-file within the stall timeout, leaving no partial file", async () => {
    const cacheDir = freshCache();
    hub.faults = { stall: { file: "onnx/model.onnx", afterBytes: 100 } };
    const started = performance.now();
    const attempt = downloadHubModel({
      model: MODEL,
      cacheDir,
      host: hub.url,
      stallTimeoutMs: 300,
      attempts: 2,
    });
    await expect(attempt).rejects.toMatchObject({ name: "ModelDownloadError", code: "stalled" });
    await expect(attempt).rejects.toThrow(
      /onnx\/model\.onnx of tiny\/bert from http:\/\/127\.0\.0\.1:\d+: the server sent nothing for 300 ms/,
    );
    // Generous: two attempts of 300 ms and a pause, far below a hang.
    expect(performance.now() - started).toBeLessThan(10_000);
    // The second attempt resumed where the first stopped.
    expect(hub.ranges).toContain("bytes=100-");
    const left = await listFiles(join(cacheDir, "tiny", "bert"));
    expect(left).toEqual([
      ".sluice-commit",
      "config.json",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    expect(findCachedModel({ model: MODEL, cacheDir })).toBeUndefined();

    // The next run starts the file cleanly and completes.
    hub.faults = {};
    const model = await downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
    expect(await readFile(join(model.path, "onnx", "model.onnx"))).toEqual(
      await readFile(join(source, "onnx", "model.onnx")),
    );
  });

  it("resumes a .part file a killed process left, taking over its stale lock", async () => {
    const cacheDir = freshCache();
    const folder = join(cacheDir, "tiny", "bert");
    await mkdir(join(folder, "onnx"), { recursive: true });
    const onnx = await readFile(join(source, "onnx", "model.onnx"));
    await writeFile(join(folder, "onnx", "model.onnx.part"), onnx.subarray(0, 500));
    const dead = spawnSync(process.execPath, ["-e", ""]).pid;
    await writeFile(join(folder, ".sluice-download.lock"), String(dead));
    const ranges = hub.ranges.length;
    await downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
    expect(hub.ranges.slice(ranges)).toEqual(["bytes=500-", "bytes=500-"]); // hub, then CDN
    expect(await readFile(join(folder, "onnx", "model.onnx"))).toEqual(onnx);
    expect(await listFiles(folder)).toEqual([".sluice-commit", ...MODEL_FILES]);
  });

  it("restarts a resumed file whose start does not match, and refuses a live lock", async () => {
    const cacheDir = freshCache();
    const folder = join(cacheDir, "tiny", "bert");
    await mkdir(join(folder, "onnx"), { recursive: true });
    const onnx = await readFile(join(source, "onnx", "model.onnx"));
    // A part from another version of the file: the hash check catches the join.
    await writeFile(join(folder, "onnx", "model.onnx.part"), Buffer.alloc(300, 7));
    await downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
    expect(await readFile(join(folder, "onnx", "model.onnx"))).toEqual(onnx);

    const other = freshCache();
    await mkdir(join(other, "tiny", "bert"), { recursive: true });
    // The test runner's parent: alive for as long as this test runs.
    await writeFile(join(other, "tiny", "bert", ".sluice-download.lock"), String(process.ppid));
    const busy = downloadHubModel({ model: MODEL, cacheDir: other, host: hub.url });
    await expect(busy).rejects.toMatchObject({ code: "busy" });
    await expect(busy).rejects.toThrow(`by process ${process.ppid}`);
  });

  it("rejects a file that does not match the hub's sha256 or git blob hash", async () => {
    for (const file of ["onnx/model.onnx", "tokenizer.json"]) {
      const cacheDir = freshCache();
      hub.faults = { corrupt: file };
      const attempt = downloadHubModel({ model: MODEL, cacheDir, host: hub.url });
      await expect(attempt).rejects.toMatchObject({ code: "integrity" });
      await expect(attempt).rejects.toThrow(
        file.endsWith(".onnx") ? /sha256 [0-9a-f]{64}, the hub announced/ : /git blob hash/,
      );
      const left = await listFiles(join(cacheDir, "tiny", "bert"));
      expect(
        left.some((f) => f.startsWith(file)),
        `${file} left: ${left}`,
      ).toBe(false);
    }
  });

  it("says the host is unreachable and how to work offline", async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
    const { port } = probe.address() as { port: number };
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const attempt = downloadHubModel({
      model: MODEL,
      cacheDir: freshCache(),
      host: `http://127.0.0.1:${port}`,
      attempts: 1,
    });
    await expect(attempt).rejects.toMatchObject({ code: "unreachable" });
    await expect(attempt).rejects.toThrow(
      `cannot reach the model host http://127.0.0.1:${port} (ECONNREFUSED) to download ${MODEL}; ` +
        "to work without the network, use --offline",
    );
    await expect(attempt).rejects.toThrow("--model-path <dir>");
  });

  it("stops at once when cancelled, removing the partial file", async () => {
    const cacheDir = freshCache();
    hub.faults = { stall: { file: "onnx/model.onnx", afterBytes: 50 } };
    const controller = new AbortController();
    const attempt = downloadHubModel({
      model: MODEL,
      cacheDir,
      host: hub.url,
      signal: controller.signal,
      onProgress: (p) => {
        if (p.file === "onnx/model.onnx" && p.phase === "data") controller.abort(new Error("stop"));
      },
    });
    await expect(attempt).rejects.toThrow("stop");
    const left = await listFiles(join(cacheDir, "tiny", "bert"));
    expect(left).not.toContain("onnx/model.onnx.part");
    expect(left).not.toContain(".sluice-download.lock");
  });

  it("sends a token to the hub only", async () => {
    const seen: (string | undefined)[] = [];
    const { createServer: createHttp } = await import("node:http");
    const server = createHttp((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(404, { "x-error-code": "RepoNotFound" }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    try {
      await expect(
        downloadHubModel({
          model: MODEL,
          cacheDir: freshCache(),
          host: `http://127.0.0.1:${port}`,
          env: { HF_TOKEN: "hf_secret" },
        }),
      ).rejects.toMatchObject({ code: "not-found" });
      expect(seen).toEqual(["Bearer hf_secret"]);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe("model cache and ids", () => {
  it("puts the cache under XDG_CACHE_HOME, ~/.cache or %LOCALAPPDATA%", () => {
    expect(defaultModelCacheDir({ XDG_CACHE_HOME: "/x/cache" }, "linux", "/home/u")).toBe(
      "/x/cache/sluice/models",
    );
    expect(defaultModelCacheDir({}, "linux", "/home/u")).toBe("/home/u/.cache/sluice/models");
    // A relative XDG value is invalid by the spec: ignored.
    expect(defaultModelCacheDir({ XDG_CACHE_HOME: "rel" }, "darwin", "/Users/u")).toBe(
      "/Users/u/.cache/sluice/models",
    );
    expect(
      defaultModelCacheDir(
        { LOCALAPPDATA: "C:\\Users\\u\\AppData\\Local" },
        "win32",
        "C:\\Users\\u",
      ),
    ).toMatch(/^C:\\Users\\u\\AppData\\Local.sluice.models$/);
  });

  it("keeps one folder per model and revision, and refuses ids that could leave the cache", () => {
    expect(modelCachePath({ model: "Xenova/all-MiniLM-L6-v2", cacheDir: "/c" })).toBe(
      "/c/Xenova/all-MiniLM-L6-v2",
    );
    expect(modelCachePath({ model: "a/b", cacheDir: "/c", revision: "refs/pr/1" })).toBe(
      "/c/a/b@refs%2Fpr%2F1",
    );
    for (const bad of ["../x", "a/..", "a/b/c", "x", "a/.b", "", "a//b"]) {
      expect(isHubModelId(bad), bad).toBe(false);
      expect(() => modelCachePath({ model: bad, cacheDir: "/c" })).toThrow(EmbedderConfigError);
    }
    expect(() => modelCachePath({ model: "a/b", cacheDir: "/c", revision: "x/../y" })).toThrow(
      /revision "x\/..\/y" is not valid/,
    );
  });

  it("takes the host from the option, then SLUICE_MODEL_HOST, then the Hugging Face hub", () => {
    expect(resolveModelHost("http://h:1/", {})).toBe("http://h:1");
    expect(resolveModelHost(undefined, { SLUICE_MODEL_HOST: "http://env:2" })).toBe("http://env:2");
    expect(resolveModelHost(undefined, {})).toBe(DEFAULT_MODEL_HOST);
    expect(() => resolveModelHost("ftp://x", {})).toThrow(/must be an http:\/\/ or https:\/\/ URL/);
  });

  it("hashes like the hub: the tiny model's onnx sha256 is what the server announces", async () => {
    // Guards the test server itself: a wrong announced hash would make the integrity tests vacuous.
    const bytes = await readFile(join(source, "onnx", "model.onnx"));
    const response = await fetch(`${hub.url}/${MODEL}/resolve/main/onnx/model.onnx`, {
      redirect: "manual",
    });
    await response.body?.cancel();
    expect(response.headers.get("x-linked-etag")).toBe(
      `"${createHash("sha256").update(bytes).digest("hex")}"`,
    );
  });
});
