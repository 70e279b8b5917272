/**
 * Plans and runs the measurements: for each case and variant, `rounds` rounds,
 * each round running every implementation once in its own child process
 * (round 1: all implementations, round 2: all, …; the order rotates each
 * round). Checks every checksum against the case's reference. Quick mode runs
 * all implementations of a variant in one process instead: it checks
 * checksums only, and process start-up would otherwise dominate it. A case
 * with a `setup` (e.g. a corpus on disk) has it run once before its first
 * child and disposed after the last one.
 */
import { type CaseSummary, summarizeVariant } from "./aggregate.ts";
import { loadCase } from "./cases/index.ts";
import { spawnWorker } from "./spawn.ts";
import type { BenchCase, CaseSetup, Variant, WorkerResult } from "./types.ts";

/** What to run. */
export interface RunOptions {
  readonly quick: boolean;
  readonly rounds: number;
  /** Case names, in order. */
  readonly cases: readonly string[];
  /** Only these implementations (all when undefined). */
  readonly impls?: readonly string[];
  /** How many workers run at once; 1 for timing runs. */
  readonly parallelism: number;
  readonly timeoutMs: number;
  readonly log: (line: string) => void;
}

/** The summaries plus every correctness failure (empty when all is well). */
export interface RunOutcome {
  readonly cases: readonly CaseSummary[];
  readonly failures: readonly string[];
}

interface Job {
  readonly bench: BenchCase;
  readonly variant: Variant;
  readonly reference: number;
  /** Implementations run by this job's process (several only in quick mode). */
  readonly impls: readonly string[];
  readonly round: number;
  readonly results: WorkerResult[];
  /** The case's setup, if it has one (its env goes to the child). */
  readonly setup: CaseSetup | undefined;
  /** Implementations of this variant already known to be skipped. */
  readonly skipped: Set<string>;
}

const rotate = <T>(xs: readonly T[], n: number): T[] =>
  xs.length === 0 ? [] : [...xs.slice(n % xs.length), ...xs.slice(0, n % xs.length)];

async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>) {
  let next = 0;
  const lanes = Array.from({ length: Math.max(1, limit) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  });
  await Promise.all(lanes);
}

function describe(result: WorkerResult, reference: number): string {
  switch (result.status) {
    case "ok": {
      if (result.checksum !== reference)
        return `CHECKSUM MISMATCH ${result.checksum} ≠ ${reference}`;
      const inFlight = result.maxInFlight === null ? "" : ` (max in flight ${result.maxInFlight})`;
      const f = result.figures;
      const warm =
        f?.warmEfficiency === undefined
          ? ""
          : `; warm efficiency ${f.warmEfficiency.toFixed(3)} over ${f.warmRunCount ?? "?"} runs`;
      return `${result.timeMs.toFixed(1)} ms ✓${inFlight}${warm}`;
    }
    case "skipped":
      return `skipped (${result.reason})`;
    case "error":
      return `ERROR ${result.error.split("\n")[0]}`;
  }
}

function failuresOf(summary: CaseSummary): string[] {
  const out: string[] = [];
  for (const v of summary.variants) {
    for (const i of v.impls) {
      const where = `${summary.name} ${v.name} ${i.impl}`;
      if (i.status === "error" || i.status === "mismatch")
        out.push(`${where}: ${i.note ?? i.status}`);
      // Every mode of the cases is one sluice has: a skipped sluice row is a failure.
      if (i.status === "skipped" && i.impl.startsWith("sluice")) {
        out.push(`${where}: sluice skipped (${i.note ?? ""})`);
      }
    }
  }
  return out;
}

/** Runs everything `options` asks for; never throws for a failing implementation. */
export async function runBenchmarks(options: RunOptions): Promise<RunOutcome> {
  const benches = await Promise.all(options.cases.map((name) => loadCase(name)));
  const setups: CaseSetup[] = [];
  try {
    return await runPlanned(benches, options, setups);
  } finally {
    for (const setup of setups) await setup.dispose();
  }
}

async function runPlanned(
  benches: readonly BenchCase[],
  options: RunOptions,
  setups: CaseSetup[],
): Promise<RunOutcome> {
  const plan = [];
  for (const bench of benches) {
    const impls = Object.keys(bench.implementations).filter(
      (i) => options.impls === undefined || options.impls.includes(i),
    );
    const all = bench.variants(options.quick);
    let setup: CaseSetup | undefined;
    if (bench.setup !== undefined && impls.length > 0) {
      const t0 = Date.now();
      setup = await bench.setup(all, options.quick);
      setups.push(setup);
      options.log(`${bench.name}: setup done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    }
    const variants = all.map((variant) => ({
      variant,
      reference: setup?.references?.[variant.name] ?? bench.reference(variant.params),
      results: [] as WorkerResult[],
      skipped: new Set<string>(),
      setup,
    }));
    plan.push({ bench, impls, variants });
  }

  // Full mode: one process per (implementation, round). Quick mode: one process
  // per variant running every implementation (only checksums matter there).
  const jobs: Job[] = [];
  for (const { bench, impls, variants } of plan) {
    for (const v of variants) {
      for (let round = 1; round <= options.rounds; round++) {
        const order = rotate(impls, round - 1);
        const groups = options.quick ? [order] : order.map((impl) => [impl]);
        for (const group of groups) jobs.push({ bench, impls: group, round, ...v });
      }
    }
  }

  await pool(jobs, options.parallelism, async (job) => {
    const ids = job.impls
      .filter((impl) => !job.skipped.has(impl))
      .map((impl) => ({ case: job.bench.name, impl, variant: job.variant.name }));
    const results: WorkerResult[] = [];
    const toRun = ids.filter((id) => {
      const why = job.bench.implementations[id.impl]?.unsupported?.(job.variant.params);
      if (why !== undefined) results.push({ ...id, status: "skipped", reason: why });
      return why === undefined;
    });
    if (toRun.length > 0) {
      const id = { ...toRun[0]!, impl: toRun.map((i) => i.impl).join(",") };
      const env = job.setup?.env;
      results.push(...(await spawnWorker(id, env === undefined ? options : { ...options, env })));
    }
    for (const result of results) {
      if (result.status === "skipped") job.skipped.add(result.impl);
      job.results.push(result);
      options.log(
        `${result.case} ${result.variant} r${job.round}/${options.rounds} ${result.impl}: ${describe(result, job.reference)}`,
      );
    }
  });

  const cases = plan.map(({ bench, impls, variants }) => {
    const summary: CaseSummary = {
      name: bench.name,
      description: bench.description,
      baseline: bench.baseline,
      columns: bench.columns,
      ...(bench.figures === undefined ? {} : { figures: bench.figures }),
      variants: variants.map((v) =>
        summarizeVariant(bench, v.variant, v.results, impls, v.reference),
      ),
    };
    return summary;
  });
  return { cases, failures: cases.flatMap(failuresOf) };
}
