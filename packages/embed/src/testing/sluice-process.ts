import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

/** The package's real `sluice` command, as a user runs it. */
export const SLUICE_BIN = fileURLToPath(new URL("../../bin/sluice.js", import.meta.url));

/** What a finished `sluice` process printed and how it exited. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link runSluice}. */
export interface RunSluiceOptions {
  readonly cwd: string;
  /** Run as this user and group (the test process must be root to switch). */
  readonly uid?: number;
  readonly gid?: number;
  readonly env?: NodeJS.ProcessEnv;
  /** Called with the child once it is spawned (to signal it, say). */
  readonly onSpawn?: (child: ChildProcess) => void;
  /** The bin to run; default {@link SLUICE_BIN} (a world-readable copy's, say). */
  readonly bin?: string;
}

/** Runs the package's bin in a child process with `args` and collects its output. */
export function runSluice(options: RunSluiceOptions, ...args: string[]): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [options.bin ?? SLUICE_BIN, ...args], {
      cwd: options.cwd,
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.env ? { env: options.env } : {}),
      ...(options.uid === undefined ? {} : { uid: options.uid }),
      ...(options.gid === undefined ? {} : { gid: options.gid }),
    });
    options.onSpawn?.(child);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}
