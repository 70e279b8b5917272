/**
 * A loopback stand-in for the Hugging Face hub, for tests of model downloads that must never
 * reach the internet. It serves model folders in the hub's URL layout,
 * `/{owner}/{name}/resolve/{revision}/{file}`, with the hub's headers: small files answer 200
 * with `ETag` (their git blob hash), large ones (`*.onnx*`, stored in LFS on the hub) redirect to
 * a "CDN" path with `X-Linked-Size` and `X-Linked-Etag` (their sha256); every answer names the
 * commit in `X-Repo-Commit`; misses answer 404 with the hub's `X-Error-Code`. Range requests
 * get 206, so resumed downloads can be tested. Faults are switched on per test.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

/** The one commit every model of the server is at. */
export const HUB_COMMIT = "0123456789abcdef0123456789abcdef01234567";

/** Faults a test can switch on; each applies to the file's content answer (not the redirect). */
export interface HubFaults {
  /** Send the headers and this many bytes of the file, then nothing more, ever. */
  stall?: { readonly file: string; readonly afterBytes: number };
  /** Serve this file with its last byte changed (headers still announce the true hash). */
  corrupt?: string;
  /** Ignore Range headers: always answer 200 with the whole file. */
  noRanges?: boolean;
}

/** A running hub: its URL, what was asked of it, and switches for faults. */
export interface ModelHubServer {
  /** `http://127.0.0.1:<port>`: the value for `--model-host`. */
  readonly url: string;
  /** Every request's method and path, in order. */
  readonly requests: string[];
  /** The `Range` header of every request that had one, in order. */
  readonly ranges: string[];
  /** Faults in effect; assign to change them. */
  faults: HubFaults;
  close(): Promise<void>;
}

const LFS = /\.onnx(_data(_\d+)?)?$/;

/** Starts a hub on 127.0.0.1 (a free port) serving `models`: model id → local folder. */
export async function startModelHubServer(
  models: Readonly<Record<string, string>>,
): Promise<ModelHubServer> {
  const requests: string[] = [];
  const ranges: string[] = [];
  const state: { faults: HubFaults } = { faults: {} };

  async function content(id: string, file: string): Promise<Buffer | undefined> {
    const folder = models[id];
    if (folder === undefined || file.split("/").some((p) => p === ".." || p === "")) return;
    return readFile(join(folder, file)).catch(() => undefined);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    requests.push(`${req.method} ${req.url}`);
    if (req.headers.range !== undefined) ranges.push(req.headers.range);
    const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const cdn = /^\/cdn\/([^/]+\/[^/]+)\/(.+)$/.exec(path);
    if (cdn) {
      const [, id = "", file = ""] = cdn;
      const bytes = await content(id, file);
      if (bytes === undefined) return miss(res, 404, "EntryNotFound");
      // A CDN's own ETag: not the hub's hash, so a client must not check against it.
      return send(req, res, file, bytes, { etag: '"cdn-v1"' });
    }
    const hub = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (!hub) return miss(res, 404, "EntryNotFound");
    const [, id = "", revision = "", file = ""] = hub;
    if (models[id] === undefined) return miss(res, 404, "RepoNotFound");
    if (revision !== "main" && revision !== HUB_COMMIT) return miss(res, 404, "RevisionNotFound");
    const bytes = await content(id, file);
    if (bytes === undefined) return miss(res, 404, "EntryNotFound");
    const common = { "x-repo-commit": HUB_COMMIT };
    if (LFS.test(file)) {
      const sha256 = createHash("sha256").update(bytes).digest("hex");
      res.writeHead(302, {
        ...common,
        location: `/cdn/${id}/${file}`,
        "x-linked-size": String(bytes.length),
        "x-linked-etag": `"${sha256}"`,
        etag: `"${sha256}"`,
      });
      res.end();
      return;
    }
    const gitSha1 = createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
    return send(req, res, file, bytes, { ...common, etag: `"${gitSha1}"` });
  }

  function send(
    req: IncomingMessage,
    res: ServerResponse,
    file: string,
    original: Buffer,
    headers: Record<string, string>,
  ): void {
    const { faults } = state;
    let bytes = original;
    if (faults.corrupt === file && bytes.length > 0) {
      bytes = Buffer.from(original);
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    let status = 200;
    let body = bytes;
    if (range && !faults.noRanges) {
      const start = Number(range[1]);
      if (start >= bytes.length) {
        res.writeHead(416, { "content-range": `bytes */${bytes.length}` });
        res.end();
        return;
      }
      status = 206;
      body = bytes.subarray(start);
      headers["content-range"] = `bytes ${start}-${bytes.length - 1}/${bytes.length}`;
    }
    res.writeHead(status, {
      ...headers,
      "content-type": "application/octet-stream",
      "content-length": String(body.length),
      "accept-ranges": "bytes",
    });
    if (faults.stall?.file === file) {
      // Headers and a first piece, then silence with the connection held open.
      res.write(body.subarray(0, faults.stall.afterBytes));
      return;
    }
    res.end(body);
  }

  function miss(res: ServerResponse, status: number, code: string): void {
    res.writeHead(status, { "x-error-code": code, "content-type": "application/json" });
    res.end(JSON.stringify({ error: code }));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      res.destroy(error as Error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    ranges,
    get faults() {
      return state.faults;
    },
    set faults(faults: HubFaults) {
      state.faults = faults;
    },
    close() {
      // Stalled answers hold their connections open: end them, or close() would wait forever.
      server.closeAllConnections();
      return new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}
