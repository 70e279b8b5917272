/**
 * Case `parallel-latency-varied`: like `parallel-latency`, but every 50th task
 * sleeps 50 ms instead of 2 ms, to expose head-of-line blocking in ordered
 * mode; the read-ahead (items pulled but not yet delivered) is reported too.
 */
import type { BenchCase } from "../types.ts";
import { parallelImplementations, parallelReference, parallelVariants } from "./parallel-impls.ts";

const duration = (i: number): number => (i % 50 === 49 ? 50 : 2);

/** The `parallel-latency-varied` case. */
export const parallelLatencyVaried: BenchCase = {
  name: "parallel-latency-varied",
  description:
    "As parallel-latency, but every 50th task takes 50 ms (the rest 2 ms). Efficiency = (Σ task time ÷ concurrency) ÷ measured time. Read-ahead = max items pulled from the source and not yet delivered.",
  baseline: "hand-written",
  columns: ["efficiency", "maxInFlight", "firstResult", "readAhead"],
  warmUpRuns: 3,
  warmRuns: 5,
  figures: [{ key: "warmEfficiency", header: "warm efficiency", digits: 3 }],
  variants: (quick) =>
    quick ? parallelVariants(200, [32], duration) : parallelVariants(2_000, [8, 32, 128], duration),
  reference: (params) => parallelReference(params.size, params.ordered === true),
  implementations: parallelImplementations(duration),
};
