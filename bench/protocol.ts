/**
 * The line protocol between the orchestrator and a worker: the worker prints
 * `BENCH_RESULT <json>` on stdout, anything else on stdout/stderr is ignored.
 */
import type { WorkerResult } from "./types.ts";

/** The marker that starts the result line on stdout. */
export const RESULT_MARKER = "BENCH_RESULT ";

/** Parses every result line in a worker's stdout (one per implementation it ran). */
export function parseWorkerOutput(stdout: string): WorkerResult[] {
  return stdout
    .split("\n")
    .filter((l) => l.startsWith(RESULT_MARKER))
    .map((l) => JSON.parse(l.slice(RESULT_MARKER.length)) as WorkerResult);
}
