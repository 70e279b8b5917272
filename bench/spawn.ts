/**
 * Runs one measurement in a fresh child process:
 * `node --expose-gc --import <tsx loader> worker.ts <case> <impl> <variant> <mode>`.
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseWorkerOutput } from "./protocol.ts";
import type { WorkerId, WorkerResult } from "./types.ts";

/** The `bench/` directory (the workers' cwd, where tsx finds `tsconfig.json`). */
export const BENCH_DIR = fileURLToPath(new URL(".", import.meta.url));
const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
/** tsx's ESM loader as a file URL, resolved from here so it works from any cwd. */
export const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;

/**
 * The environment of a child that runs bench code through tsx: `extra` on top of this
 * process's, `TSX_TSCONFIG_PATH` at bench/tsconfig.json (its `sluice` path mapping), and no
 * `NODE_OPTIONS`.
 */
export function benchChildEnv(extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...extra,
    TSX_TSCONFIG_PATH: fileURLToPath(new URL("./tsconfig.json", import.meta.url)),
  };
  delete env.NODE_OPTIONS;
  return env;
}

/** Options of one child run. */
export interface SpawnOptions {
  readonly quick: boolean;
  /** The child is killed after this long and reported as an error. */
  readonly timeoutMs: number;
  /** Extra environment variables for the child (a case's `CaseSetup.env`). */
  readonly env?: Readonly<Record<string, string>>;
}

/** The last `lines` lines of a child's output, for an error message. */
export function tail(text: string, lines = 8): string {
  return text.trim().split("\n").slice(-lines).join("\n");
}

/**
 * Spawns a worker for `id` (whose `impl` may be a comma-separated list in quick
 * mode); resolves with one result per implementation, never rejects: a crash or
 * timeout becomes `status: "error"` for every implementation without a result.
 */
export function spawnWorker(id: WorkerId, options: SpawnOptions): Promise<WorkerResult[]> {
  const env = benchChildEnv(options.env);
  const args = [
    "--expose-gc",
    "--import",
    TSX_LOADER,
    WORKER,
    id.case,
    id.impl,
    id.variant,
    options.quick ? "quick" : "full",
  ];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: BENCH_DIR, env, stdio: "pipe" });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, options.timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      const parsed = parseWorkerOutput(stdout);
      const why = timedOut
        ? `timed out after ${options.timeoutMs} ms`
        : `worker exited (code ${code}, signal ${signal}) without a result`;
      const missing = id.impl
        .split(",")
        .filter((impl) => !parsed.some((r) => r.impl === impl))
        .map(
          (impl): WorkerResult => ({
            ...id,
            impl,
            status: "error",
            error: `${why}\n${tail(stderr)}`,
          }),
        );
      resolve([...parsed, ...missing]);
    });
  });
}
