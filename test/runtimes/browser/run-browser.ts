// Runs the browser smoke suite (smoke.ts) in headless Chromium against the BUILT core
// (packages/sluice/dist, from `npm run build -w sluice`), and prints one line per check and a
// closing `chromium: N passed, M failed` line. Exits 1 when any check fails, 2 when the suite
// could not run (no build, no browser, page error, timeout).
//
//   tsx test/runtimes/browser/run-browser.ts
//
// A tiny node:http server on 127.0.0.1 (port 0) serves the page, the smoke module (bundled
// from TypeScript by esbuild, with "sluice" left external) and the dist files; an import map
// maps "sluice" to /dist/index.js. Chromium is Debian's (/usr/bin/chromium, or $CHROMIUM_PATH),
// driven by playwright-core over CDP, with a fresh user-data dir that is removed afterwards.
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { type BrowserContext, chromium } from "playwright-core";
import type { SmokeReport } from "./smoke.ts";

const here = fileURLToPath(new URL(".", import.meta.url));
const dist = fileURLToPath(new URL("../../../packages/sluice/dist/", import.meta.url));
const executablePath = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const LAUNCH_TIMEOUT_MS = 30_000;
const LOAD_TIMEOUT_MS = 15_000;
const SUITE_TIMEOUT_MS = 60_000;
const CLOSE_TIMEOUT_MS = 10_000;

class SetupError extends Error {}

/** Rejects after `ms` with `what` timed out; the timer never keeps the process alive. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new SetupError(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function bundleSmoke(): Promise<string> {
  const out = await build({
    entryPoints: [join(here, "smoke.ts")],
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    external: ["sluice"],
    write: false,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (file === undefined) throw new SetupError("esbuild produced no output");
  return file.text;
}

const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>sluice smoke</title>
<script type="importmap">{ "imports": { "sluice": "/dist/index.js" } }</script>
<script type="module" src="/smoke.js"></script>
</head><body>sluice smoke</body></html>`;

function serve(smokeJs: string): Promise<Server> {
  const server = createServer(async (req, res) => {
    const path = new URL(req.url ?? "/", "http://127.0.0.1").pathname;
    const send = (status: number, type: string, body: string | Buffer) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    try {
      if (path === "/") return send(200, "text/html; charset=utf-8", PAGE);
      if (path === "/favicon.ico") return send(204, "text/plain", "");
      if (path === "/smoke.js") return send(200, "text/javascript; charset=utf-8", smokeJs);
      const m = /^\/dist\/([\w.-]+\.js)$/.exec(path);
      if (m?.[1] !== undefined && existsSync(join(dist, m[1]))) {
        return send(200, "text/javascript; charset=utf-8", await readFile(join(dist, m[1])));
      }
      send(404, "text/plain", "not found");
    } catch (error) {
      send(500, "text/plain", String(error));
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

export interface BrowserSuiteResult {
  passed: number;
  failed: number;
  /** The failing checks, by name, with their error. */
  failures: { name: string; error: string }[];
  version: string;
}

export async function runBrowserSuite(): Promise<BrowserSuiteResult> {
  if (!existsSync(join(dist, "index.js"))) {
    throw new SetupError(`${dist}index.js is missing: run \`npm run build -w sluice\` first`);
  }
  if (!existsSync(executablePath)) {
    throw new SetupError(
      `no Chromium at ${executablePath}: install Debian's (apt-get install -y chromium) or set CHROMIUM_PATH`,
    );
  }
  const smokeJs = await bundleSmoke();
  const server = await serve(smokeJs);
  const userDataDir = await mkdtemp(join(tmpdir(), "sluice-chromium-"));
  let context: BrowserContext | undefined;
  const pageErrors: string[] = [];
  try {
    const { port } = server.address() as AddressInfo;
    context = await within(
      chromium.launchPersistentContext(userDataDir, {
        executablePath,
        headless: true,
        args: CHROMIUM_ARGS,
        timeout: LAUNCH_TIMEOUT_MS,
        // run.ts (or CI) decides when to stop: no signal handlers of Playwright's own.
        handleSIGINT: false,
      }),
      LAUNCH_TIMEOUT_MS + 5_000,
      "launching Chromium",
    );
    const page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (error) => pageErrors.push(`pageerror: ${error.message}`));
    page.on("console", (msg) => {
      if (msg.type() === "error") pageErrors.push(`console.error: ${msg.text()}`);
    });
    page.on("requestfailed", (req) => pageErrors.push(`request failed: ${req.url()}`));
    await page.goto(`http://127.0.0.1:${port}/`, { timeout: LOAD_TIMEOUT_MS });
    await page
      .waitForFunction(() => "__sluiceSmoke" in globalThis, undefined, {
        timeout: LOAD_TIMEOUT_MS,
      })
      .catch(() => {
        throw new SetupError(
          `the smoke module did not start in the page:\n  ${pageErrors.join("\n  ") || "(no page error)"}`,
        );
      });
    const report = await within(
      page.evaluate(
        () => (globalThis as unknown as { __sluiceSmoke: Promise<SmokeReport> }).__sluiceSmoke,
      ),
      SUITE_TIMEOUT_MS,
      "the smoke suite",
    );
    const version = /(?:HeadlessChrome|Chrome)\/([\d.]+)/.exec(report.userAgent)?.[1] ?? "?";
    console.log(`chromium ${version} (${executablePath}) — ${report.userAgent}`);
    for (const r of report.results) {
      const ms = `${Math.round(r.ms)} ms`;
      console.log(`  ${r.ok ? "✓" : "✗"} ${r.name} (${ms})${r.ok ? "" : `\n      ${r.error}`}`);
    }
    for (const e of pageErrors) console.log(`  ! ${e}`);
    const passed = report.results.filter((r) => r.ok).length;
    const failed = report.results.length - passed;
    if (report.results.length === 0) throw new SetupError("the smoke suite ran no check");
    const failures = report.results
      .filter((r) => !r.ok)
      .map((r) => ({ name: r.name, error: r.error ?? "(no error message)" }));
    return { passed, failed, failures, version };
  } finally {
    await within(context?.close() ?? Promise.resolve(), CLOSE_TIMEOUT_MS, "closing Chromium").catch(
      (error) => console.error(String(error)),
    );
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(userDataDir, { recursive: true, force: true, maxRetries: 3 });
  }
}

const isMain = process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1];
if (isMain) {
  try {
    const r = await runBrowserSuite();
    if (process.env.SLUICE_RESULT_FILE) {
      await writeFile(process.env.SLUICE_RESULT_FILE, JSON.stringify(r));
    }
    console.log(`chromium: ${r.passed} passed, ${r.failed} failed`);
    process.exitCode = r.failed === 0 ? 0 : 1;
  } catch (error) {
    console.error(
      `chromium: the browser suite could not run: ${error instanceof Error ? error.message : error}`,
    );
    process.exitCode = 2;
  }
}
