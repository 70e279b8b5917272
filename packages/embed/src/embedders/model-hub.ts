/**
 * Downloads a model from a Hugging Face–style hub into a local cache folder, once, so that the
 * `transformers` embedder can then load it offline.
 *
 * sluice downloads the files itself (rather than letting `@huggingface/transformers` fetch them)
 * because its own downloader can promise what the library's cannot: progress per byte, a file
 * that appears under its final name only when it is complete and verified (size and, where the
 * hub gives it, sha256 or git blob hash), a bounded wait on a stalled server, resuming a file
 * left over by a killed process, and errors that name the model, the host and the way out.
 */
import { createHash } from "node:crypto";
import { createReadStream, existsSync, readFileSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, rmdir, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { isHubModelId } from "./model-hub-id.ts";
import { EmbedderConfigError } from "./openai.ts";

/** The hub used when no host is given (by option, `SLUICE_MODEL_HOST` or config). */
export const DEFAULT_MODEL_HOST = "https://huggingface.co";

/** What went wrong in a download, for callers that branch on it. */
export type ModelDownloadErrorCode =
  /** The hub has no such model, revision or file (or hides a private one). */
  | "not-found"
  /** The hub wants a token: the model is gated or private. */
  | "unauthorized"
  /** No connection to the host at all (refused, unknown host, unreachable). */
  | "unreachable"
  /** The server sent nothing for `stallTimeoutMs`. */
  | "stalled"
  /** The hub answered with another error status. */
  | "http"
  /** A downloaded file does not match the size or hash the hub announced. */
  | "integrity"
  /** Another live process is downloading the same model into the same cache. */
  | "busy";

/** A model download failed; `code` says how, the message names the model, the file and the host. */
export class ModelDownloadError extends Error {
  override readonly name = "ModelDownloadError";
  constructor(
    readonly code: ModelDownloadErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
  }
}

/** Which model, at which revision, in which cache, with which weights. */
export interface HubModelRef {
  /** A hub model id, `owner/name` (e.g. `Xenova/all-MiniLM-L6-v2`). */
  readonly model: string;
  /** A branch, tag or commit of the model's repository; default `main`. */
  readonly revision?: string;
  /** The cache folder; default {@link defaultModelCacheDir}. */
  readonly cacheDir?: string;
  /** Which weights: `fp32` (`onnx/model.onnx`, default) or `q8` (`onnx/model_quantized.onnx`). */
  readonly dtype?: "fp32" | "q8";
}

/** One step of a download, for a progress view. */
export interface ModelDownloadProgress {
  readonly model: string;
  /** The file's path in the repository, e.g. `onnx/model.onnx`. */
  readonly file: string;
  /** `start` once the size is known, `data` as bytes arrive, `done` once verified and in place. */
  readonly phase: "start" | "data" | "done";
  /** Bytes of the file on disk so far, including any resumed part. */
  readonly received: number;
  /** The file's size when the hub says it. */
  readonly total: number | undefined;
}

/** Options of {@link downloadHubModel}. */
export interface DownloadHubModelOptions extends HubModelRef {
  /** The hub; default `SLUICE_MODEL_HOST` from `env`, else {@link DEFAULT_MODEL_HOST}. */
  readonly host?: string;
  /** A bearer token for gated or private models; default `HF_TOKEN` from `env`. Sent to `host` only. */
  readonly token?: string;
  /** A request that receives no byte for this long fails (and is retried); default 30,000 ms. */
  readonly stallTimeoutMs?: number;
  /** Tries per file on network errors, stalls, 429 and 5xx, resuming where the last stopped; default 3. */
  readonly attempts?: number;
  /** Cancels the download; partial files are removed. */
  readonly signal?: AbortSignal;
  /** Called as the download proceeds; never called when the model is already cached. */
  readonly onProgress?: (progress: ModelDownloadProgress) => void;
  /** Where `SLUICE_MODEL_HOST` and `HF_TOKEN` are read; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** A model in the cache. */
export interface CachedModel {
  /** The model folder, ready for `createTransformersEmbedder({ modelPath })`. */
  readonly path: string;
  /** Bytes downloaded by this call: 0 when everything was already cached. */
  readonly downloadedBytes: number;
}

export { isHubModelId };

/**
 * The default model cache: `$XDG_CACHE_HOME/sluice/models` or `~/.cache/sluice/models`, and on
 * Windows `%LOCALAPPDATA%\sluice\models`.
 */
export function defaultModelCacheDir(
  env: Readonly<Record<string, string | undefined>> = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = homedir(),
): string {
  if (platform === "win32") {
    return join(env.LOCALAPPDATA || join(home, "AppData", "Local"), "sluice", "models");
  }
  // The XDG spec says a relative value is invalid and must be ignored.
  const xdg = env.XDG_CACHE_HOME;
  const base = xdg?.startsWith("/") ? xdg : join(home, ".cache");
  return join(base, "sluice", "models");
}

/** The hub to download from: the given host, else `SLUICE_MODEL_HOST`, else the Hugging Face hub. */
export function resolveModelHost(
  host: string | undefined,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  const chosen = host || env.SLUICE_MODEL_HOST || DEFAULT_MODEL_HOST;
  let url: URL;
  try {
    url = new URL(chosen);
  } catch {
    throw new EmbedderConfigError(`model host ${JSON.stringify(chosen)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new EmbedderConfigError(`model host ${chosen} must be an http:// or https:// URL`);
  }
  return chosen.replace(/\/+$/, "");
}

function checkRef(ref: HubModelRef): void {
  if (!isHubModelId(ref.model)) {
    throw new EmbedderConfigError(
      `model ${JSON.stringify(ref.model)} is not a hub model id of the form owner/name ` +
        "(e.g. Xenova/all-MiniLM-L6-v2); for a local folder use modelPath (--model-path)",
    );
  }
  const revision = ref.revision ?? "main";
  if (revision === "" || revision.split("/").some((p) => p === "" || p === "." || p === "..")) {
    throw new EmbedderConfigError(`model revision ${JSON.stringify(revision)} is not valid`);
  }
}

/**
 * The folder a model is cached in: `<cacheDir>/<owner>/<name>`, with `@<revision>` appended
 * for a revision other than `main`.
 */
export function modelCachePath(ref: HubModelRef): string {
  checkRef(ref);
  const revision = ref.revision ?? "main";
  const [owner = "", name = ""] = ref.model.split("/");
  const folder = revision === "main" ? name : `${name}@${encodeURIComponent(revision)}`;
  return join(ref.cacheDir ?? defaultModelCacheDir(), owner, folder);
}

const ONNX_FILE = { fp32: "onnx/model.onnx", q8: "onnx/model_quantized.onnx" } as const;
const BASE_FILES = ["config.json", "tokenizer.json", "tokenizer_config.json"] as const;

/**
 * The external weight files of a model too large for one ONNX file, as `@huggingface/transformers`
 * names them (`model.onnx_data`, `model.onnx_data_1`, …), from `config.json`'s
 * `transformers.js_config.use_external_data_format`.
 */
function externalDataFiles(config: unknown, onnxFile: string): string[] {
  const custom = (
    config as { "transformers.js_config"?: { use_external_data_format?: unknown } }
  )?.["transformers.js_config"];
  const setting = custom?.use_external_data_format;
  const fullName = onnxFile.slice("onnx/".length);
  let chunks = 0;
  if (setting !== null && typeof setting === "object") {
    const map = setting as Record<string, unknown>;
    chunks = Number(map[fullName] ?? map[fullName.replace(/\.onnx$/, "")] ?? 0);
  } else if (setting === true) chunks = 1;
  else if (typeof setting === "number") chunks = setting;
  if (!Number.isInteger(chunks) || chunks < 0 || chunks > 100) chunks = 0;
  return Array.from({ length: chunks }, (_, i) => `${onnxFile}_data${i === 0 ? "" : `_${i}`}`);
}

function neededFiles(dir: string, dtype: "fp32" | "q8"): string[] {
  const onnx = ONNX_FILE[dtype];
  let config: unknown;
  try {
    config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8"));
  } catch {
    config = undefined;
  }
  return [...BASE_FILES, onnx, ...externalDataFiles(config, onnx)];
}

/**
 * The cached model's folder, or undefined when any file it needs is missing. A file is only
 * ever in the folder under its own name once complete and verified, so present means usable.
 */
export function findCachedModel(ref: HubModelRef): string | undefined {
  const dir = modelCachePath(ref);
  const files = neededFiles(dir, ref.dtype ?? "fp32");
  return files.every((f) => existsSync(join(dir, f))) ? dir : undefined;
}

/**
 * Makes sure a hub model is in the cache and returns its folder. Files already there are not
 * requested again (a fully cached model makes no request at all); missing ones are downloaded
 * to `<file>.part`, checked against the size and hash the hub announces, and renamed into place.
 * A `.part` left by a killed process is resumed with an HTTP range request when the server
 * allows it. A failed or cancelled download removes its partial files.
 */
export async function downloadHubModel(options: DownloadHubModelOptions): Promise<CachedModel> {
  const dir = modelCachePath(options);
  // Two callers in one process wanting one model share one download.
  const running = inFlight.get(dir);
  if (running !== undefined) {
    await running.catch(() => {});
    return downloadHubModel(options);
  }
  const download = downloadOnce(dir, options);
  inFlight.set(dir, download);
  try {
    return await download;
  } finally {
    inFlight.delete(dir);
  }
}

const inFlight = new Map<string, Promise<CachedModel>>();

async function downloadOnce(dir: string, options: DownloadHubModelOptions): Promise<CachedModel> {
  const dtype = options.dtype ?? "fp32";
  const cached = findCachedModel(options);
  if (cached !== undefined) return { path: cached, downloadedBytes: 0 };

  const env = options.env ?? process.env;
  const host = resolveModelHost(options.host, env);
  const token = options.token ?? env.HF_TOKEN;
  options.signal?.throwIfAborted();
  await mkdir(dir, { recursive: true });
  const release = await lockFolder(dir, options.model);
  try {
    const session: Download = {
      model: options.model,
      host,
      token: token || undefined,
      revision: await pinnedRevision(dir, options.revision ?? "main"),
      dir,
      stallTimeoutMs: options.stallTimeoutMs ?? 30_000,
      attempts: Math.max(1, options.attempts ?? 3),
      signal: options.signal,
      onProgress: options.onProgress,
      bytes: 0,
    };
    // config.json first: it says whether the weights come in several files.
    for (const file of BASE_FILES) await ensureFile(session, file);
    const files = neededFiles(dir, dtype);
    for (const file of files.slice(BASE_FILES.length)) await ensureFile(session, file);
    return { path: dir, downloadedBytes: session.bytes };
  } catch (error) {
    await release();
    // A model that was never there (a typo, a 404) leaves no empty folders in the cache.
    for (const empty of [join(dir, "onnx"), dir, dirname(dir)]) {
      await rmdir(empty).catch(() => {});
    }
    throw error;
  } finally {
    await release();
  }
}

interface Download {
  readonly model: string;
  readonly host: string;
  readonly token: string | undefined;
  /** A commit once the hub named one: later files then come from that same commit. */
  revision: string;
  readonly dir: string;
  readonly stallTimeoutMs: number;
  readonly attempts: number;
  readonly signal: AbortSignal | undefined;
  readonly onProgress: ((progress: ModelDownloadProgress) => void) | undefined;
  bytes: number;
}

const COMMIT_FILE = ".sluice-commit";

/**
 * The revision to request: the commit an earlier download of this folder pinned, so that files
 * fetched on different days (fp32, then q8) come from one commit of the repository.
 */
async function pinnedRevision(dir: string, revision: string): Promise<string> {
  const pinned = await readFile(join(dir, COMMIT_FILE), "utf8").then(
    (s) => s.trim(),
    () => "",
  );
  return /^[0-9a-f]{40}$/.test(pinned) ? pinned : revision;
}

// --- Locking: one downloader per model folder across processes, one promise within this one. ---

const LOCK_FILE = ".sluice-download.lock";

async function lockFolder(dir: string, model: string): Promise<() => Promise<void>> {
  const path = join(dir, LOCK_FILE);
  for (let tries = 0; tries < 3; tries++) {
    try {
      await writeFile(path, String(process.pid), { flag: "wx" });
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = Number(await readFile(path, "utf8").catch(() => ""));
    // This process's own pid can only be a dead process's, reused: downloads here share one.
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
      throw new ModelDownloadError(
        "busy",
        `model ${model} is being downloaded into ${dir} by process ${holder}; ` +
          `wait for it to finish, or delete ${path} if that process is gone`,
      );
    }
    // The holder died (killed mid-download): its lock is stale, its .part files resumable.
    await rm(path, { force: true });
  }
  throw new ModelDownloadError("busy", `cannot lock ${path}: another process keeps taking it`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

// --- One file: request, stream to .part, verify, rename. ---

/** What the hub says a file should be. */
interface Expected {
  size: number | undefined;
  sha256: string | undefined;
  gitSha1: string | undefined;
}

/** A failure another attempt may not meet; its cause is the error to report if none is left. */
class RetryableError extends Error {}

/** HTTP 416 to a resume: the `.part` is not a prefix of the file. */
class RangeNotSatisfiable extends ModelDownloadError {}

async function ensureFile(session: Download, file: string): Promise<void> {
  const target = join(session.dir, file);
  if (existsSync(target)) return;
  await mkdir(dirname(target), { recursive: true });
  const part = `${target}.part`;
  let lastError: Error | undefined;
  try {
    for (let attempt = 1; attempt <= session.attempts; attempt++) {
      try {
        await fetchToPart(session, file, part);
        await rename(part, target);
        return;
      } catch (error) {
        if (!(error instanceof RetryableError)) throw error;
        lastError = (error.cause as Error | undefined) ?? error;
        if (attempt < session.attempts)
          await pause(Math.min(250 * 2 ** attempt, 2_000), session.signal);
      }
    }
    throw lastError;
  } catch (error) {
    // Nothing half-written stays behind, even under its .part name.
    await rm(part, { force: true });
    throw error;
  }
}

function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

function fileUrl(session: Download, file: string): string {
  const [owner, name] = session.model.split("/").map(encodeURIComponent);
  const path = file.split("/").map(encodeURIComponent).join("/");
  return `${session.host}/${owner}/${name}/resolve/${encodeURIComponent(session.revision)}/${path}`;
}

/**
 * One attempt: resumes `part` if it exists, streams the body into it and verifies it. Throws
 * {@link RetryableError} (wrapping the real error) when another attempt may succeed.
 */
async function fetchToPart(session: Download, file: string, part: string): Promise<void> {
  const offset = await stat(part).then(
    (s) => s.size,
    () => 0,
  );
  const stall = new AbortController();
  const signal = session.signal ? AbortSignal.any([session.signal, stall.signal]) : stall.signal;
  let timer: NodeJS.Timeout | undefined;
  const armStall = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(), session.stallTimeoutMs);
  };
  const url = fileUrl(session, file);
  const where = `${file} of ${session.model} from ${session.host}`;
  const failure = (error: unknown): Error => {
    if (session.signal?.aborted) return session.signal.reason as Error;
    if (stall.signal.aborted) {
      return new RetryableError("stalled", {
        cause: new ModelDownloadError(
          "stalled",
          `downloading ${where}: the server sent nothing for ${session.stallTimeoutMs} ms; ` +
            "the partial file was removed, run again to retry",
          { cause: error },
        ),
      });
    }
    if (error instanceof ModelDownloadError || error instanceof RetryableError) return error;
    const code = connectionFailure(error);
    if (code !== undefined) {
      return new RetryableError("unreachable", {
        cause: new ModelDownloadError(
          "unreachable",
          `cannot reach the model host ${session.host} (${code}) to download ${session.model}; ` +
            "to work without the network, use --offline with a model already in the cache, " +
            "or --model-path <dir> with a local model folder",
          { cause: error },
        ),
      });
    }
    return new RetryableError("network", {
      cause: new ModelDownloadError("http", `downloading ${where}: ${(error as Error).message}`, {
        cause: error,
      }),
    });
  };

  armStall();
  try {
    let response: Response;
    let expected: Expected;
    try {
      ({ response, expected } = await request(session, url, offset, signal));
    } catch (error) {
      if (error instanceof RangeNotSatisfiable) {
        // The part is as long as the file or longer: it cannot be resumed, only restarted.
        await rm(part, { force: true });
        throw new RetryableError("range", { cause: error });
      }
      throw failure(error);
    }
    const resumed = response.status === 206 && rangeStart(response) === offset;
    if (response.status === 206 && !resumed) {
      await response.body?.cancel().catch(() => {});
      await rm(part, { force: true });
      throw new RetryableError("bad range", {
        cause: new ModelDownloadError("http", `downloading ${where}: a range answer not asked for`),
      });
    }
    const start = resumed ? offset : 0;
    if (expected.size === undefined && !response.headers.has("content-encoding")) {
      const length = Number(response.headers.get("content-length") ?? Number.NaN);
      if (Number.isSafeInteger(length)) expected.size = start + length;
    }
    session.onProgress?.({
      model: session.model,
      file,
      phase: "start",
      received: start,
      total: expected.size,
    });
    let received = start;
    const handle = await open(part, resumed ? "a" : "w");
    try {
      const body = response.body;
      if (body !== null) {
        try {
          for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
            armStall();
            await handle.write(chunk);
            received += chunk.byteLength;
            session.bytes += chunk.byteLength;
            session.onProgress?.({
              model: session.model,
              file,
              phase: "data",
              received,
              total: expected.size,
            });
          }
        } catch (error) {
          throw failure(error);
        }
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    clearTimeout(timer);
    const problem = await verify(part, expected);
    if (problem !== undefined) {
      await rm(part, { force: true });
      const error = new ModelDownloadError(
        "integrity",
        `downloading ${where}: ${problem}; the file was removed`,
      );
      // A resumed file may have joined two versions of the file: a fresh start can fix that.
      if (resumed) throw new RetryableError("integrity", { cause: error });
      throw error;
    }
    session.onProgress?.({ model: session.model, file, phase: "done", received, total: received });
  } finally {
    clearTimeout(timer);
  }
}

function rangeStart(response: Response): number | undefined {
  const match = /^bytes (\d+)-/.exec(response.headers.get("content-range") ?? "");
  return match ? Number(match[1]) : undefined;
}

/**
 * GETs a hub file, following redirects by hand so that the hub's own headers survive the hop
 * to its CDN: `X-Linked-Size` and `X-Linked-Etag` (the sha256 of a large file), `ETag` (the
 * git blob hash of a small one) and `X-Repo-Commit`.
 */
async function request(
  session: Download,
  url: string,
  offset: number,
  signal: AbortSignal,
): Promise<{ response: Response; expected: Expected }> {
  const expected: Expected = { size: undefined, sha256: undefined, gitSha1: undefined };
  const hostOrigin = new URL(session.host).origin;
  let current = url;
  for (let hop = 0; hop < 6; hop++) {
    const headers: Record<string, string> = {};
    if (offset > 0) headers.range = `bytes=${offset}-`;
    if (session.token && new URL(current).origin === hostOrigin) {
      headers.authorization = `Bearer ${session.token}`;
    }
    const response = await fetch(current, { headers, redirect: "manual", signal });
    const linkedSize = Number(response.headers.get("x-linked-size") ?? Number.NaN);
    if (expected.size === undefined && Number.isSafeInteger(linkedSize)) expected.size = linkedSize;
    const linkedEtag = hashOf(response.headers.get("x-linked-etag"));
    if (expected.sha256 === undefined && linkedEtag?.length === 64) expected.sha256 = linkedEtag;
    const commit = response.headers.get("x-repo-commit");
    if (commit && /^[0-9a-f]{40}$/.test(commit) && session.revision !== commit) {
      await pinCommit(session, commit);
    }
    if (response.status >= 300 && response.status < 400 && response.headers.has("location")) {
      await response.body?.cancel().catch(() => {});
      current = new URL(response.headers.get("location") ?? "", current).href;
      continue;
    }
    if (response.status === 200 || response.status === 206) {
      // The hub's own ETag is a hash of the content; a CDN's may be anything (an MD5, a version).
      if (new URL(current).origin === hostOrigin) {
        const etag = hashOf(response.headers.get("etag"));
        if (etag?.length === 40) expected.gitSha1 = etag;
        else if (etag?.length === 64) expected.sha256 ??= etag;
      }
      return { response, expected };
    }
    await response.body?.cancel().catch(() => {});
    if (response.status === 416 && offset > 0) {
      throw new RangeNotSatisfiable("http", `downloading ${url}: HTTP 416 to a resume`);
    }
    throw statusError(session, url, response);
  }
  throw new ModelDownloadError("http", `downloading ${url}: more than 5 redirects`);
}

/** The first time the hub names the commit a revision is at, later files are fetched from it. */
async function pinCommit(session: Download, commit: string): Promise<void> {
  if (/^[0-9a-f]{40}$/.test(session.revision)) return;
  session.revision = commit;
  await writeFile(join(session.dir, COMMIT_FILE), `${commit}\n`);
}

function hashOf(header: string | null): string | undefined {
  const match = /^(?:W\/)?"?([0-9a-f]{40}|[0-9a-f]{64})"?$/.exec(header?.trim() ?? "");
  return match?.[1];
}

function statusError(session: Download, url: string, response: Response): Error {
  const code = response.headers.get("x-error-code") ?? "";
  const at = `at ${session.host}`;
  if (response.status === 404 || code === "RepoNotFound" || code === "RevisionNotFound") {
    const what =
      code === "EntryNotFound"
        ? `model ${session.model} has no file ${url.split("/resolve/")[1] ?? url} ${at} ` +
          "(is it a transformers.js/ONNX model? The Xenova/* and onnx-community/* repositories are)"
        : code === "RevisionNotFound"
          ? `model ${session.model} has no revision ${session.revision} ${at}`
          : `no model ${session.model} ${at} (HTTP ${response.status}): check the id, ` +
            "or set HF_TOKEN if it is private";
    return new ModelDownloadError("not-found", what);
  }
  if (response.status === 401 || response.status === 403) {
    return new ModelDownloadError(
      "unauthorized",
      `model ${session.model} ${at} needs access (HTTP ${response.status}): ` +
        "set HF_TOKEN to a token that may read it (and accept the model's terms on the hub)",
    );
  }
  const error = new ModelDownloadError(
    "http",
    `downloading ${session.model} ${at}: HTTP ${response.status} for ${url}`,
  );
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    return new RetryableError(`HTTP ${response.status}`, { cause: error });
  }
  return error;
}

/** Why a file does not match what the hub announced, or undefined when it does. */
async function verify(path: string, expected: Expected): Promise<string | undefined> {
  const { size } = await stat(path);
  if (expected.size !== undefined && size !== expected.size) {
    return `got ${size} bytes, the hub announced ${expected.size}`;
  }
  if (expected.sha256 !== undefined) {
    const actual = await hashFile(path, "sha256");
    if (actual !== expected.sha256) return `sha256 ${actual}, the hub announced ${expected.sha256}`;
  } else if (expected.gitSha1 !== undefined) {
    // Git's blob hash: sha1 over "blob <size>\0" and the content.
    const actual = await hashFile(path, "sha1", `blob ${size}\0`);
    if (actual !== expected.gitSha1) {
      return `git blob hash ${actual}, the hub announced ${expected.gitSha1}`;
    }
  }
  return undefined;
}

async function hashFile(path: string, algorithm: string, prefix = ""): Promise<string> {
  const hash = createHash(algorithm).update(prefix);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** Node's codes for failing to connect at all (not for a connection that broke later). */
const CONNECT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_CONNECT_TIMEOUT",
]);

function connectionFailure(error: unknown): string | undefined {
  const queue: unknown[] = [error];
  for (let i = 0; i < queue.length && i < 20; i++) {
    const current = queue[i] as { code?: unknown; cause?: unknown; errors?: unknown } | null;
    if (current === null || typeof current !== "object") continue;
    if (typeof current.code === "string" && CONNECT_CODES.has(current.code)) return current.code;
    queue.push(current.cause);
    if (Array.isArray(current.errors)) queue.push(...current.errors);
  }
  return undefined;
}
