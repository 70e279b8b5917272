/**
 * The registry of cases, in report order. Each entry loads its case file on
 * demand, so a worker process imports only the libraries of its own case.
 */
import type { BenchCase } from "../types.ts";

/** Case name → loader. */
export const CASES: Readonly<Record<string, () => Promise<BenchCase>>> = {
  "sync-chain": async () => (await import("./sync-chain.ts")).syncChain,
  "async-chain": async () => (await import("./async-chain.ts")).asyncChain,
  "merge-sources": async () => (await import("./merge-sources.ts")).mergeSources,
  "parallel-latency": async () => (await import("./parallel-latency.ts")).parallelLatency,
  "parallel-latency-varied": async () =>
    (await import("./parallel-latency-varied.ts")).parallelLatencyVaried,
  memory: async () => (await import("./memory.ts")).memory,
  "stage-overlap": async () => (await import("./stage-overlap.ts")).stageOverlap,
  "embed-workflow": async () => (await import("./embed-workflow.ts")).embedWorkflow,
  "type-check": async () => (await import("./type-check.ts")).typeCheck,
};

/** Loads a case by name; throws with the list of names if it does not exist. */
export async function loadCase(name: string): Promise<BenchCase> {
  const load = CASES[name];
  if (load === undefined) {
    throw new Error(`unknown case "${name}"; known: ${Object.keys(CASES).join(", ")}`);
  }
  return load();
}
