/**
 * Parallel stages: up to `concurrency` items run at once. With `ordered: true` (the
 * default) results leave in input order; with `ordered: false` they leave as they finish.
 * Here item 0 is the slowest and item 4 the fastest.
 *
 * Run: npx tsx examples/parallel-ordering.ts
 */
import { StreamingPipeline } from "sluice";

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  });

/** Item i takes (5 - i) × 40 ms: the first item is the slowest. */
async function fetchScore(id: number, signal: AbortSignal): Promise<string> {
  await sleep((5 - id) * 40, signal);
  return `doc-${id}`;
}

for (const ordered of [true, false]) {
  const pipeline = StreamingPipeline.start<number>().map(
    "score",
    (id, ctx) => fetchScore(id, ctx.signal),
    { concurrency: 5, ordered },
  );
  const run = pipeline.executeFrom([0, 1, 2, 3, 4]);
  const out: string[] = [];
  for await (const doc of run) out.push(doc);
  const stage = run.metadata().stages[0];
  console.log(
    `ordered=${ordered}: ${out.join(" ")} (max in flight ${stage?.maxInFlight}, ${Math.round(run.metadata().durationMs ?? 0)} ms)`,
  );
}
