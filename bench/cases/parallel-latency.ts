/**
 * Case `parallel-latency`: 2,000 latency-bound tasks (`await sleep(2)`, then
 * `i * 2`) through one concurrent map at concurrency 1, 8, 32 and 128, in
 * input order and in completion order. Efficiency = measured items/s ÷
 * (concurrency / 2 ms).
 */
import type { BenchCase } from "../types.ts";
import { parallelImplementations, parallelReference, parallelVariants } from "./parallel-impls.ts";

const TASK_MS = 2;
const duration = (): number => TASK_MS;

/** The `parallel-latency` case. */
export const parallelLatency: BenchCase = {
  name: "parallel-latency",
  description:
    "n tasks of `await sleep(2 ms)` through one concurrent map; ordered = results in input order (checksum Σ(k+1)·vₖ), unordered = completion order (Σ vₖ). Efficiency = items/s ÷ (concurrency / 2 ms).",
  baseline: "hand-written",
  columns: ["efficiency", "maxInFlight", "firstResult", "readAhead"],
  warmUpRuns: 3,
  warmRuns: 5,
  figures: [{ key: "warmEfficiency", header: "warm efficiency", digits: 3 }],
  variants: (quick) =>
    quick
      ? parallelVariants(200, [128], duration)
      : parallelVariants(2_000, [1, 8, 32, 128], duration),
  reference: (params) => parallelReference(params.size, params.ordered === true),
  implementations: parallelImplementations(duration),
};
