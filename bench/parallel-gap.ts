/**
 * Where a concurrent map of timer-bound tasks loses efficiency, per implementation: the
 * `parallel-latency` workload (n tasks of a 2 ms `setTimeout`, ordered) split into the time
 * a task's timer takes (from the `setTimeout` call to its callback: the timer's own slack
 * plus CPU that ran ahead of it) and the restart gap (from a task's callback to the start of
 * the task that takes its slot). Efficiency = 2 ms ÷ cycle, cycle = timer + restart gap.
 *
 *   npm run bench:parallel-gap -w bench            # 5 fresh processes per implementation and c
 *   npx tsx parallel-gap.ts --rounds 9 --concurrency 128
 *
 * Each measurement is a fresh child process (rounds alternate the implementations), warmed
 * up as the case is (10 runs of 200 items), then 9 runs of the full input; the child reports
 * the medians. Prints figures only; writes nothing.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { orderedWindow } from "./cases/parallel-impls.ts";
import { callbackPool, minimalIterator } from "./lib/parallel-references.ts";
import { loadSluice } from "./lib/sluice.ts";
import { benchChildEnv, TSX_LOADER, tail } from "./spawn.ts";
import { spread } from "./stats.ts";

const TASK_MS = 2;
/** Callbacks closer than this belong to one burst of timers. */
const BURST_SPLIT_MS = 0.3;

/**
 * The implementations compared: the case's fastest peers, sluice (also with `metrics: false`,
 * which reads no clock per item), and two references that are not peers
 * (lib/parallel-references.ts): the least work per item with and without an async iterator.
 */
export const GAP_IMPLEMENTATIONS = [
  "hand-written",
  "p-map-iterable",
  "streaming-iterables",
  "sluice",
  "sluice-no-metrics",
  "minimal-iterator",
  "callback-pool",
] as const;
export type GapImplementation = (typeof GAP_IMPLEMENTATIONS)[number];

/** One run's split of the cycle, in ms (medians over the measured runs). */
export interface GapFigures {
  readonly impl: GapImplementation;
  readonly concurrency: number;
  readonly efficiency: number;
  /** Mean time per task from `setTimeout` to its callback. */
  readonly timerMs: number;
  /** Cycle − timer: the time a slot stands empty between two tasks. */
  readonly restartGapMs: number;
  /** Mean of (k-th start − (k − c)-th callback): how late a replacement starts. */
  readonly replacementLagMs: number;
  /** The smallest such lag: negative only if more than c tasks ran at once. */
  readonly minLagMs: number;
  /** Mean span of a burst of callbacks, and the mean tasks per burst. */
  readonly burstMs: number;
  readonly burstSize: number;
  /** CPU time (user + system) per task over the measured runs, in ns: the task's own included. */
  readonly cpuNsPerItem: number;
}

type Task = (i: number) => Promise<number>;

/** Runs the ordered map of `task` over 0 … n − 1 and returns the sum of its results. */
type Runner = (n: number, task: Task) => Promise<number>;

function* range(n: number): Generator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function sum(values: AsyncIterable<number>): Promise<number> {
  let s = 0;
  for await (const v of values) s += v;
  return s;
}

async function runnerOf(impl: GapImplementation, c: number): Promise<Runner> {
  switch (impl) {
    case "hand-written":
      return (n, task) => sum(orderedWindow(range(n), task, c));
    case "p-map-iterable": {
      const { pMapIterable } = await import("p-map");
      return (n, task) => sum(pMapIterable(range(n), task, { concurrency: c }));
    }
    case "streaming-iterables": {
      const { parallelMap } = await import("streaming-iterables");
      return (n, task) => sum(parallelMap(c, task, range(n)));
    }
    case "sluice":
    case "sluice-no-metrics": {
      const { StreamingPipeline } = await loadSluice();
      let current: Task = () => Promise.resolve(0);
      const pipeline = StreamingPipeline.start<number>().map("task", (i: number) => current(i), {
        concurrency: c,
        ordered: true,
      });
      const options = { metrics: impl === "sluice" };
      return (n, task) => {
        current = task;
        return sum(pipeline.executeFrom(range(n), options));
      };
    }
    case "minimal-iterator":
      return (n, task) => sum(minimalIterator(n, task, c));
    case "callback-pool":
      return async (n, task) => {
        let s = 0;
        await callbackPool(n, task, c, (v) => {
          s += v;
        });
        return s;
      };
  }
}

const median = (values: readonly number[]): number => spread(values).median;
const mean = (values: readonly number[]): number =>
  values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);

/**
 * Measures `impl` at concurrency `c` in this process: `warmUp` runs of 200 items, then
 * `runs` runs of `n` items, each task recording when it called `setTimeout` and when its
 * callback ran.
 */
export async function measureGap(
  impl: GapImplementation,
  c: number,
  { n = 2_000, runs = 9, warmUp = 10 } = {},
): Promise<GapFigures> {
  const run = await runnerOf(impl, c);
  let starts: number[] = [];
  let fired: number[] = [];
  const task: Task = (i) => {
    const t0 = performance.now();
    return new Promise((resolve) =>
      setTimeout(() => {
        starts.push(t0);
        fired.push(performance.now());
        resolve(i * 2);
      }, TASK_MS),
    );
  };
  const expected = (size: number): number => size * (size - 1);
  for (let i = 0; i < warmUp; i++) {
    if ((await run(200, task)) !== expected(200)) throw new Error(`${impl}: wrong sum`);
  }
  const eff: number[] = [];
  const timer: number[] = [];
  const lag: number[] = [];
  let minLag = Number.POSITIVE_INFINITY;
  const burstMs: number[] = [];
  const burstSize: number[] = [];
  let cpuMicros = 0;
  for (let r = 0; r < runs; r++) {
    starts = [];
    fired = [];
    const cpuBefore = process.cpuUsage();
    const t = performance.now();
    const result = await run(n, task);
    const ms = performance.now() - t;
    const cpu = process.cpuUsage(cpuBefore);
    cpuMicros += cpu.user + cpu.system;
    if (result !== expected(n)) throw new Error(`${impl}: wrong sum`);
    eff.push((n * TASK_MS) / c / ms);
    timer.push(mean(fired.map((f, i) => f - (starts[i] as number))));
    const s = [...starts].sort((a, b) => a - b);
    const f = [...fired].sort((a, b) => a - b);
    const lags: number[] = [];
    for (let k = c; k < s.length; k++) lags.push((s[k] as number) - (f[k - c] as number));
    lag.push(mean(lags));
    for (const l of lags) if (l < minLag) minLag = l;
    let first = f[0] as number;
    let prev = first;
    let size = 1;
    const spans: number[] = [];
    const sizes: number[] = [];
    for (let k = 1; k < f.length; k++) {
      const at = f[k] as number;
      if (at - prev > BURST_SPLIT_MS) {
        spans.push(prev - first);
        sizes.push(size);
        first = at;
        size = 0;
      }
      prev = at;
      size++;
    }
    spans.push(prev - first);
    sizes.push(size);
    burstMs.push(mean(spans));
    burstSize.push(mean(sizes));
  }
  const efficiency = median(eff);
  const timerMs = median(timer);
  return {
    impl,
    concurrency: c,
    efficiency,
    timerMs,
    restartGapMs: TASK_MS / efficiency - timerMs,
    replacementLagMs: median(lag),
    minLagMs: minLag,
    burstMs: median(burstMs),
    burstSize: median(burstSize),
    cpuNsPerItem: (cpuMicros * 1000) / (runs * n),
  };
}

const SELF = fileURLToPath(import.meta.url);
const RESULT = "GAP_RESULT ";

/** Runs one measurement in a fresh child process. */
function measureInChild(impl: GapImplementation, c: number): Promise<GapFigures> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX_LOADER, SELF, "--child", impl, `${c}`], {
      env: benchChildEnv(),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d;
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d;
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT));
      if (code !== 0 || line === undefined) {
        reject(new Error(`${impl} c=${c}: exit ${code}\n${tail(err, 5)}`));
      } else resolve(JSON.parse(line.slice(RESULT.length)) as GapFigures);
    });
  });
}

const us = (ms: number): string => `${Math.round(ms * 1000)}`.padStart(6);

/** The figures as a table: medians over the rounds, one row per implementation and c. */
export function renderGapTable(rows: readonly GapFigures[][]): string {
  const lines = [
    "| c | implementation | efficiency | timer (µs) | restart gap (µs) | replacement lag (µs) | burst (µs / tasks) | CPU per task (ns) |",
    "| - | - | - | - | - | - | - | - |",
  ];
  for (const rounds of rows) {
    const first = rounds[0];
    if (first === undefined) continue;
    const m = (key: keyof GapFigures): number => median(rounds.map((r) => r[key] as number));
    lines.push(
      `| ${first.concurrency} | ${first.impl} | ${m("efficiency").toFixed(3)} | ${us(m("timerMs"))} | ${us(m("restartGapMs"))} | ${us(m("replacementLagMs"))} | ${us(m("burstMs")).trim()} / ${m("burstSize").toFixed(0)} | ${m("cpuNsPerItem").toFixed(0)} |`,
    );
  }
  return lines.join("\n");
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      child: { type: "boolean", default: false },
      rounds: { type: "string", default: "5" },
      concurrency: { type: "string", multiple: true },
    },
  });
  if (values.child) {
    const [impl, c] = positionals;
    if (!GAP_IMPLEMENTATIONS.includes(impl as GapImplementation)) {
      throw new Error(
        `unknown implementation "${impl}" (one of ${GAP_IMPLEMENTATIONS.join(", ")})`,
      );
    }
    const figures = await measureGap(impl as GapImplementation, Number(c));
    process.stdout.write(`${RESULT}${JSON.stringify(figures)}\n`);
    return;
  }
  const rounds = Number(values.rounds);
  const concurrencies = (values.concurrency ?? ["32", "128"]).flatMap((v) =>
    v.split(",").map(Number),
  );
  for (const c of [rounds, ...concurrencies]) {
    if (!Number.isInteger(c) || c < 1)
      throw new Error(`--rounds and --concurrency take positive integers, got ${c}`);
  }
  const byKey = new Map<string, GapFigures[]>();
  for (const c of concurrencies) {
    for (let r = 0; r < rounds; r++) {
      // Rotated each round, so no implementation always runs right after the same one.
      const order = GAP_IMPLEMENTATIONS.map(
        (_, i) => GAP_IMPLEMENTATIONS[(i + r) % GAP_IMPLEMENTATIONS.length] as GapImplementation,
      );
      for (const impl of order) {
        const figures = await measureInChild(impl, c);
        const key = `${c} ${impl}`;
        byKey.set(key, [...(byKey.get(key) ?? []), figures]);
        process.stderr.write(
          `c=${c} ${impl} r${r + 1}/${rounds}: efficiency ${figures.efficiency.toFixed(3)}\n`,
        );
      }
    }
  }
  const rows = concurrencies.flatMap((c) =>
    GAP_IMPLEMENTATIONS.map((impl) => byKey.get(`${c} ${impl}`) ?? []),
  );
  process.stdout.write(
    `\nparallel-gap: ${rounds} fresh processes per row, medians; ordered, ${TASK_MS} ms timers, 2,000 tasks, Node ${process.version}\n\n${renderGapTable(rows)}\n`,
  );
}

if (process.argv[1] === SELF) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
