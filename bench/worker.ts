/**
 * Child-process entry: runs ONE (case, implementation, variant) measurement in
 * a fresh process and prints one line `BENCH_RESULT <json>` (a `WorkerResult`).
 * Quick mode may pass a comma-separated list of implementations: they then run
 * one after the other in this process, one result line each (checksums only).
 *
 *   node --expose-gc --import tsx bench/worker.ts <case> <impl>[,<impl>…] <variant> <quick|full>
 */
import { loadCase } from "./cases/index.ts";
import { createProbe, type ProbeFigures } from "./probe.ts";
import { RESULT_MARKER } from "./protocol.ts";
import { spread } from "./stats.ts";
import {
  type BenchCase,
  type Implementation,
  isSkip,
  type RunFn,
  type Variant,
  type VariantParams,
  type WorkerId,
  type WorkerResult,
} from "./types.ts";

function errorText(error: unknown): string {
  if (error instanceof Error)
    return (error.stack ?? error.message).split("\n").slice(0, 6).join("\n");
  return String(error);
}

/** One timed run with a fresh probe, after a forced GC when `collect` is set. */
async function timedRun(
  run: RunFn,
  collect: boolean,
): Promise<{ checksum: number; elapsedNs: bigint; figures: ProbeFigures }> {
  if (collect) (globalThis as { gc?: () => void }).gc?.();
  const probe = createProbe();
  probe.start();
  const t0 = process.hrtime.bigint();
  const checksum = await run(probe);
  const elapsedNs = process.hrtime.bigint() - t0;
  return { checksum, elapsedNs, figures: probe.finish() };
}

/** No warm runs after a cold run this long: they would add minutes and no insight. */
const WARM_COLD_LIMIT_MS = 2_500;
/** Warm runs (warm-up included) stop once they have taken this long together (at least one is recorded). */
const WARM_BUDGET_MS = 6_000;

/** How the warm runs of one measurement go (from the case and the variant). */
interface WarmPlan {
  /** Unrecorded runs first, each checked against `warmUpChecksum`. */
  readonly warmUp: number;
  /** The warm-up's run: the measured one, or the same implementation on a shorter input. */
  readonly warmUpRun: RunFn;
  readonly warmUpChecksum: number;
  /** Recorded runs: at least this many … */
  readonly runs: number;
  /** … and until together they have taken at least this long. */
  readonly minMs: number;
  /** A forced GC before every recorded run (never timed). */
  readonly gcBetweenRuns: boolean;
}

/**
 * Repeats the timed run in this process, JIT warm, and returns the medians as figures.
 * The reference figures (e.g. a plain loop at 1.3 ns/item) are steady-state ones,
 * which a single cold run in a fresh process cannot show; both are reported.
 *
 * No forced GC between warm runs unless the variant asks for one (`gcBetweenRuns`): a full
 * collection right after a run's objects died lets V8 drop their hidden classes, and with
 * them the code it optimized for those classes, so every short run would start from
 * unoptimized code again (measured: sluice's parallel map at concurrency 128 ran at 0.45–0.6
 * efficiency that way, 0.8 without). A long-running program does not collect between every
 * run; each run here pays for the garbage of the one before it instead, as in such a program.
 * The `gcBetweenRuns` variants measure the other case on purpose, for every implementation.
 */
async function measureWarm(
  run: RunFn,
  plan: WarmPlan,
  coldChecksum: number,
  items: number,
  params: VariantParams,
): Promise<Record<string, number>> {
  if (plan.runs <= 0) return {};
  let spent = 0;
  for (let r = 0; r < plan.warmUp && spent < WARM_BUDGET_MS; r++) {
    const { checksum, elapsedNs } = await timedRun(plan.warmUpRun, false);
    if (checksum !== plan.warmUpChecksum) {
      throw new Error(
        `warm-up run ${r + 1} returned checksum ${checksum}, expected ${plan.warmUpChecksum}`,
      );
    }
    spent += Number(elapsedNs) / 1e6;
  }
  const times: number[] = [];
  const firsts: number[] = [];
  let recorded = 0;
  while (
    times.length === 0 ||
    ((times.length < plan.runs || recorded < plan.minMs) && spent < WARM_BUDGET_MS)
  ) {
    const { checksum, elapsedNs, figures } = await timedRun(run, plan.gcBetweenRuns);
    const ms = Number(elapsedNs) / 1e6;
    if (checksum !== coldChecksum) {
      throw new Error(
        `warm run ${times.length + 1} returned checksum ${checksum}, the cold run ${coldChecksum}`,
      );
    }
    spent += ms;
    recorded += ms;
    times.push(ms);
    if (figures.firstResultNs !== null) firsts.push(Number(figures.firstResultNs) / 1e6);
  }
  const warmMs = spread(times).median;
  const out: Record<string, number> = {
    warmMs,
    warmNsPerItem: (warmMs * 1e6) / items,
    warmRunCount: times.length,
    warmTotalMs: recorded,
  };
  if (firsts.length > 0) out.warmFirstResultMs = spread(firsts).median;
  const idealMs = params.idealMs;
  // The median of the runs' efficiencies (for an even count it differs from idealMs ÷ the
  // median time, which averages two times rather than two efficiencies).
  if (typeof idealMs === "number")
    out.warmEfficiency = spread(times.map((t) => idealMs / t)).median;
  return out;
}

/** The warm-run plan of `variant` in `bench` (a shorter warm-up input when the case asks). */
async function warmPlan(
  bench: BenchCase,
  impl: Implementation,
  variant: Variant,
  run: RunFn,
  coldChecksum: number,
): Promise<WarmPlan> {
  const base = {
    warmUp: bench.warmUpRuns ?? 0,
    runs: bench.warmRuns ?? 0,
    minMs: bench.warmMinMs ?? 0,
    gcBetweenRuns: variant.params.gcBetweenRuns === true,
  };
  const size = bench.warmUpSize;
  if (size === undefined || size >= variant.params.size || base.warmUp === 0) {
    return { ...base, warmUpRun: run, warmUpChecksum: coldChecksum };
  }
  const params = { ...variant.params, size };
  const prepared = await impl.prepare(params);
  if (isSkip(prepared)) throw new Error(`warm-up at size ${size} skipped: ${prepared.skipped}`);
  return { ...base, warmUpRun: prepared, warmUpChecksum: bench.reference(params) };
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

    // "Before" figures are after a GC, like the run itself (timedRun collects again: harmless).
    (globalThis as { gc?: () => void }).gc?.();
    const before = process.memoryUsage();
    const { checksum, elapsedNs, figures } = await timedRun(prepared, true);
    const items = variant.params.size;
    const timeMs = Number(elapsedNs) / 1e6;
    // Before any warm run: peak RSS is a high-water mark, and warm runs must not raise it.
    const maxRssBytes = process.resourceUsage().maxRSS * 1024;
    const warm =
      quick || timeMs > WARM_COLD_LIMIT_MS || (bench.warmRuns ?? 0) <= 0
        ? {}
        : await measureWarm(
            prepared,
            await warmPlan(bench, impl, variant, prepared, checksum),
            checksum,
            items,
            variant.params,
          );
    return {
      ...id,
      status: "ok",
      checksum,
      items,
      timeMs,
      nsPerItem: Number(elapsedNs) / items,
      firstResultMs: figures.firstResultNs === null ? null : Number(figures.firstResultNs) / 1e6,
      maxRssBytes,
      rssBeforeBytes: before.rss,
      peakHeapBytes: figures.peakHeapBytes,
      heapBeforeBytes: before.heapUsed,
      readAhead: figures.readAhead,
      maxInFlight: figures.maxInFlight,
      figures: { ...figures.figures, ...warm },
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
