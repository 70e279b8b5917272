// Runs sluice's tests on the other runtimes and prints one summary line per runtime:
//
//   bun       the package's behavioural suite (packages/sluice/src/**/*.test.ts), run by Vitest
//             itself under Bun 1.4.4 (`bun --bun vitest.mjs run`): Vitest's workers are Bun.
//   deno      the same suite, run by Vitest under Deno 2.9.6 (`deno run -A vitest.mjs run`).
//   chromium  the browser smoke suite (browser/smoke.ts) in Debian's headless Chromium, against
//             the BUILT core (packages/sluice/dist, rebuilt here when older than src).
//
// Node 20 runs the same suite in the root `vitest run` of `npm test`; it is not run twice.
//
//   npm run test:runtimes                 # all three
//   npm run test:runtimes -- bun chromium # a subset
//   npm run test:runtimes -- --serial     # one runtime at a time (default: side by side)
//
// Exits non-zero when any runtime has a failing test or could not run. Every child process
// runs in its own process group under a time limit, and is killed (group and all) past it.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { BrowserSuiteResult } from "./browser/run-browser.ts";
import { EXCLUDED } from "./excluded.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const bin = (p: string) => join(repo, "node_modules", p);
const vitest = bin("vitest/vitest.mjs");
const config = join(repo, "test/runtimes/vitest.config.ts");
const runBrowser = join(repo, "test/runtimes/browser/run-browser.ts");

// Limits per child; SLUICE_RUNTIMES_TIMEOUT_MS overrides them all (to test the kill path).
const override = Number(process.env.SLUICE_RUNTIMES_TIMEOUT_MS) || undefined;
const VITEST_TIMEOUT_MS = override ?? 6 * 60_000;
const BUILD_TIMEOUT_MS = override ?? 3 * 60_000;
const BROWSER_TIMEOUT_MS = override ?? 3 * 60_000;
const KILL_GRACE_MS = 5_000;

interface Outcome {
  runtime: string;
  passed: number;
  failed: number;
  skipped: number;
  /** Set when the runtime could not run its suite (or it timed out). */
  problem?: string;
  /** Each failing test's name and first error line, repeated in the closing summary. */
  failures: string[];
  seconds: number;
  log: string[];
}

const children = new Set<number>();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    for (const pid of children) killGroup(pid, "SIGKILL");
    process.exit(130);
  });
}

/**
 * Runs a command in its own process group under a time limit. Its output goes to `log` (which
 * run.ts prints when the runtime is done, so that runtimes running side by side do not mix).
 */
function run(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; timeoutMs: number; log: string[] },
): Promise<{ code: number | null; timedOut: boolean }> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, {
      cwd: repo,
      env: { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    child.stdout.setEncoding("utf8").on("data", (s: string) => options.log.push(s));
    child.stderr.setEncoding("utf8").on("data", (s: string) => options.log.push(s));
    let timedOut = false;
    let killer: ReturnType<typeof setTimeout> | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      options.log.push(`\n${cmd} timed out after ${options.timeoutMs / 1000} s: killing it\n`);
      if (child.pid !== undefined) {
        const pid = child.pid;
        killGroup(pid, "SIGTERM");
        killer = setTimeout(() => killGroup(pid, "SIGKILL"), KILL_GRACE_MS);
      }
    }, options.timeoutMs);
    if (child.pid !== undefined) children.add(child.pid);
    const done = (code: number | null) => {
      clearTimeout(timer);
      clearTimeout(killer);
      if (child.pid !== undefined) {
        // Whatever the child left behind in its group goes too.
        killGroup(child.pid, "SIGKILL");
        children.delete(child.pid);
      }
      resolve({ code, timedOut });
    };
    child.on("error", (error) => {
      options.log.push(`${cmd}: ${error.message}\n`);
      done(null);
    });
    // "close": the exit, and the end of its output.
    child.on("close", (code) => done(code));
  });
}

interface VitestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults?: {
    name: string;
    assertionResults?: { fullName: string; status: string; failureMessages?: string[] }[];
  }[];
}

/** First line of an error message, cut to one readable line. */
const firstLine = (s: string | undefined) => (s ?? "").split("\n")[0]?.slice(0, 300) ?? "";

function vitestFailures(r: VitestJson): string[] {
  const out: string[] = [];
  for (const file of r.testResults ?? []) {
    for (const a of file.assertionResults ?? []) {
      if (a.status !== "failed") continue;
      const where = file.name.replace(repo, "");
      out.push(`${where} > ${a.fullName}\n      ${firstLine(a.failureMessages?.[0])}`);
    }
  }
  return out;
}

async function vitestOn(runtime: "bun" | "deno"): Promise<Outcome> {
  const t0 = performance.now();
  const log: string[] = [];
  const dir = mkdtempSync(join(tmpdir(), `sluice-${runtime}-`));
  const json = join(dir, "report.json");
  const vitestArgs = [
    vitest,
    "run",
    "--config",
    config,
    "--reporter=default",
    "--reporter=json",
    `--outputFile.json=${json}`,
  ];
  const [cmd, args, env] =
    runtime === "bun"
      ? [bin("bun/bin/bun.exe"), ["--bun", ...vitestArgs], { DO_NOT_TRACK: "1" }]
      : [
          bin("deno/deno"),
          ["run", "-A", ...vitestArgs],
          { DENO_NO_UPDATE_CHECK: "1", DENO_NO_PROMPT: "1" },
        ];
  log.push(`${[cmd, ...args].map((a) => a.replace(repo, "")).join(" ")}\n`);
  for (const e of EXCLUDED[runtime] ?? []) log.push(`excluded: ${e.file} — ${e.reason}\n`);
  try {
    const { code, timedOut } = await run(cmd, args, {
      env: { SLUICE_RUNTIME: runtime, ...env },
      timeoutMs: VITEST_TIMEOUT_MS,
      log,
    });
    const seconds = (performance.now() - t0) / 1000;
    if (!existsSync(json)) {
      const problem = timedOut ? "timed out" : `exited with ${code} and wrote no report`;
      return { runtime, passed: 0, failed: 0, skipped: 0, problem, failures: [], seconds, log };
    }
    const r = JSON.parse(readFileSync(json, "utf8")) as VitestJson;
    const outcome: Outcome = {
      runtime,
      passed: r.numPassedTests,
      failed: r.numFailedTests,
      skipped: r.numPendingTests + r.numTodoTests,
      failures: vitestFailures(r),
      seconds,
      log,
    };
    if (timedOut) outcome.problem = "timed out";
    else if (code !== 0 && r.numFailedTests === 0) outcome.problem = `vitest exited with ${code}`;
    else if (r.numPassedTests === 0) outcome.problem = "ran no test";
    return outcome;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Newest modification time of the files under `dir` that the build reads. */
function newest(dir: string): number {
  let t = 0;
  for (const f of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!f.isFile() || /\.test(-d)?\.ts$/.test(f.name)) continue;
    t = Math.max(t, statSync(join(f.parentPath, f.name)).mtimeMs);
  }
  return t;
}

async function ensureBuilt(log: string[]): Promise<string | undefined> {
  const pkg = join(repo, "packages/sluice");
  const out = join(pkg, "dist/index.js");
  const inputs = Math.max(
    newest(join(pkg, "src")),
    ...["package.json", "tsdown.config.ts", "tsconfig.build.json"].map(
      (f) => statSync(join(pkg, f)).mtimeMs,
    ),
  );
  if (existsSync(out) && statSync(out).mtimeMs >= inputs) {
    log.push("packages/sluice/dist is up to date\n");
    return undefined;
  }
  log.push("building packages/sluice (npm run build -w sluice)\n");
  const { code, timedOut } = await run("npm", ["run", "build", "-w", "sluice"], {
    timeoutMs: BUILD_TIMEOUT_MS,
    log,
  });
  if (timedOut) return "the build timed out";
  if (code !== 0) return `the build exited with ${code}`;
  return undefined;
}

async function chromiumSuite(): Promise<Outcome> {
  const t0 = performance.now();
  const log: string[] = [];
  const base = { runtime: "chromium", passed: 0, failed: 0, skipped: 0, failures: [], log };
  const buildProblem = await ensureBuilt(log);
  if (buildProblem !== undefined) {
    return { ...base, problem: buildProblem, seconds: (performance.now() - t0) / 1000 };
  }
  const dir = mkdtempSync(join(tmpdir(), "sluice-chromium-result-"));
  const resultFile = join(dir, "result.json");
  try {
    const { code, timedOut } = await run(process.execPath, ["--import", "tsx", runBrowser], {
      env: { SLUICE_RESULT_FILE: resultFile },
      timeoutMs: BROWSER_TIMEOUT_MS,
      log,
    });
    const seconds = (performance.now() - t0) / 1000;
    if (!existsSync(resultFile)) {
      const problem = timedOut ? "timed out" : `the browser suite could not run (exit ${code})`;
      return { ...base, problem, seconds };
    }
    const r = JSON.parse(readFileSync(resultFile, "utf8")) as BrowserSuiteResult;
    const failures = r.failures.map((f) => `${f.name}\n      ${firstLine(f.error)}`);
    const outcome: Outcome = { ...base, passed: r.passed, failed: r.failed, failures, seconds };
    if (timedOut) outcome.problem = "timed out";
    return outcome;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const ALL = ["bun", "deno", "chromium"] as const;
type Runtime = (typeof ALL)[number];
const serial = process.argv.includes("--serial");
const asked = process.argv.slice(2).filter((a) => a !== "--serial");
for (const a of asked) {
  if (!(ALL as readonly string[]).includes(a)) {
    console.error(`unknown runtime "${a}": choose from ${ALL.join(", ")}`);
    process.exit(2);
  }
}
const selected: readonly Runtime[] = asked.length > 0 ? (asked as Runtime[]) : ALL;

// Side by side: on a 2-core machine each Vitest run has one worker (cores - 1), and the browser
// suite mostly waits on timers. --serial runs one at a time.
const runOne = async (runtime: Runtime): Promise<Outcome> => {
  const o = runtime === "chromium" ? await chromiumSuite() : await vitestOn(runtime);
  console.log(`\n── ${runtime} (${o.seconds.toFixed(1)} s)\n${o.log.join("").trimEnd()}`);
  return o;
};
const outcomes: Outcome[] = [];
if (serial) for (const runtime of selected) outcomes.push(await runOne(runtime));
else outcomes.push(...(await Promise.all(selected.map(runOne))));

const line = (name: string, passed: number, failed: number, skipped: number) =>
  `${name}: ${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ""}`;

const times = outcomes.map((o) => `${o.runtime} ${o.seconds.toFixed(1)} s`).join(", ");
console.log(`\n── runtimes summary (${times}; Node 20 ran the same suite in \`vitest run\`)`);
for (const o of outcomes) console.log(line(o.runtime, o.passed, o.failed, o.skipped));
for (const o of outcomes) if (o.problem !== undefined) console.log(`✗ ${o.runtime}: ${o.problem}`);
// Repeated here because a runtime's own log is printed when it ends, often long before the end:
// a CI page that shows only the tail must still say which test failed, and why.
for (const o of outcomes) for (const f of o.failures) console.log(`✗ ${o.runtime}: ${f}`);
const bad = outcomes.filter((o) => o.failed > 0 || o.problem !== undefined);
const sum = (f: (o: Outcome) => number) => outcomes.reduce((n, o) => n + f(o), 0);
// A runtime that could not run counts as one failure, so the closing line never reads clean.
console.log(
  line(
    "runtimes",
    sum((o) => o.passed),
    sum((o) => o.failed + (o.problem !== undefined && o.failed === 0 ? 1 : 0)),
    sum((o) => o.skipped),
  ),
);
process.exitCode = bad.length === 0 ? 0 : 1;
