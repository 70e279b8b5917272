/**
 * Child-process entry: runs ONE (case, implementation, variant) measurement in
 * a fresh process and prints one line `BENCH_RESULT <json>` (a `WorkerResult`).
 * Quick mode may pass a comma-separated list of implementations: they then run
 * one after the other in this process, one result line each (checksums only).
 *
 *   node --expose-gc --import tsx bench/worker.ts <case> <impl>[,<impl>…] <variant> <quick|full>
 */
import { loadCase } from "./cases/index.ts";
import { createProbe } from "./probe.ts";
import { RESULT_MARKER } from "./protocol.ts";
import { isSkip, type WorkerId, type WorkerResult } from "./types.ts";

function errorText(error: unknown): string {
  if (error instanceof Error)
    return (error.stack ?? error.message).split("\n").slice(0, 6).join("\n");
  return String(error);
}

/** Runs one measurement and returns its result (never throws). */
async function measure(id: WorkerId, quick: boolean): Promise<WorkerResult> {
  try {
    const bench = await loadCase(id.case);
    const variant = bench.variants(quick).find((v) => v.name === id.variant);
    if (variant === undefined) throw new Error(`case ${id.case} has no variant "${id.variant}"`);
    const impl = bench.implementations[id.impl];
    if (impl === undefined) throw new Error(`case ${id.case} has no implementation "${id.impl}"`);

    const prepared = await impl.prepare(variant.params);
    if (isSkip(prepared)) return { ...id, status: "skipped", reason: prepared.skipped };

    const gc = (globalThis as { gc?: () => void }).gc;
    gc?.();
    const before = process.memoryUsage();
    const probe = createProbe();
    probe.start();
    const t0 = process.hrtime.bigint();
    const checksum = await prepared(probe);
    const elapsedNs = process.hrtime.bigint() - t0;
    const figures = probe.finish();
    const items = variant.params.size;
    return {
      ...id,
      status: "ok",
      checksum,
      items,
      timeMs: Number(elapsedNs) / 1e6,
      nsPerItem: Number(elapsedNs) / items,
      firstResultMs: figures.firstResultNs === null ? null : Number(figures.firstResultNs) / 1e6,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      rssBeforeBytes: before.rss,
      peakHeapBytes: figures.peakHeapBytes,
      heapBeforeBytes: before.heapUsed,
      readAhead: figures.readAhead,
      maxInFlight: figures.maxInFlight,
      figures: figures.figures,
    };
  } catch (error) {
    return { ...id, status: "error", error: errorText(error) };
  }
}

async function main(argv: readonly string[]): Promise<void> {
  const [caseName, impls, variant, mode] = argv;
  if (caseName === undefined || impls === undefined || variant === undefined) {
    process.stderr.write("usage: worker.ts <case> <impl>[,<impl>…] <variant> [quick|full]\n");
    process.exit(2);
  }
  // Several implementations in one process only in quick mode (checksums, no timings).
  for (const impl of impls.split(",")) {
    const result = await measure({ case: caseName, impl, variant }, mode === "quick");
    process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
  }
  process.stdout.write("", () => process.exit(0));
}

await main(process.argv.slice(2));
