/**
 * Case `parallel-latency`: 2,000 latency-bound tasks (`await sleep(2)`, then
 * `i * 2`) through one concurrent map at concurrency 1, 8, 32 and 128, in
 * input order and in completion order. Efficiency = measured items/s ÷
 * (concurrency / 2 ms). At 32 and 128, every pair is measured a second time with
 * a forced GC before each recorded warm run (issue 18's targets are judged there).
 */
import type { BenchCase } from "../types.ts";
import { parallelImplementations, parallelReference, parallelVariants } from "./parallel-impls.ts";

const TASK_MS = 2;
const duration = (): number => TASK_MS;

/** The concurrencies of the targets, measured with and without a GC between warm runs. */
export const TARGET_CONCURRENCIES = [32, 128] as const;

/** The `parallel-latency` case. */
export const parallelLatency: BenchCase = {
  name: "parallel-latency",
  description:
    "n tasks of `await sleep(2 ms)` through one concurrent map; ordered = results in input order (checksum Σ(k+1)·vₖ), unordered = completion order (Σ vₖ). Efficiency = items/s ÷ (concurrency / 2 ms). Warm: after the cold run, 10 unrecorded runs on a 200-item input, then runs of the full input until they add up to ≥ 300 ms (at least 5); the median efficiency. `gc-between-runs` variants: the same with a forced GC before each recorded warm run.",
  baseline: "hand-written",
  columns: ["efficiency", "maxInFlight", "firstResult", "readAhead"],
  // The protocol: warm up on a short input, then ≥ 300 ms of timed runs.
  warmUpRuns: 10,
  warmUpSize: 200,
  warmRuns: 5,
  warmMinMs: 300,
  figures: [
    { key: "warmEfficiency", header: "warm efficiency", digits: 3 },
    { key: "warmRunCount", header: "warm runs", digits: 0 },
  ],
  variants: (quick) =>
    quick
      ? parallelVariants(200, [128], duration)
      : parallelVariants(2_000, [1, 8, 32, 128], duration, TARGET_CONCURRENCIES),
  reference: (params) => parallelReference(params.size, params.ordered === true),
  implementations: parallelImplementations(duration),
};
