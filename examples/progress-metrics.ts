/**
 * Progress and metrics. `onEvent` receives every event of the run synchronously: lifecycle,
 * retries, item errors and a `progress` tick every `progressIntervalMs`. `run.metadata()`
 * is a live snapshot of per-stage counts and timings, cheap enough to poll.
 *
 * Run: npx tsx examples/progress-metrics.ts
 */
import { type RunEvent, StreamingPipeline } from "sluice";

const ids = Array.from({ length: 40 }, (_, i) => i);

const pipeline = StreamingPipeline.start<number>()
  .map(
    "fetch",
    async (id) => {
      await new Promise((r) => setTimeout(r, 10));
      if (id === 7) throw new Error("HTTP 404");
      return { id, bytes: 100 + id };
    },
    { concurrency: 4, errorStrategy: "SKIP_FAILED" },
  )
  .batch("batch", 8)
  .map("store", (rows) => rows.length);

const counts = new Map<RunEvent["type"], number>();
let lastProgress = "";
const run = pipeline.executeFrom(ids, {
  progressIntervalMs: 25,
  onEvent: (event) => {
    counts.set(event.type, (counts.get(event.type) ?? 0) + 1);
    if (event.type === "progress") {
      const p = event.progress;
      lastProgress = `${p.done}/${p.total} done, ${Math.round((p.fraction ?? 0) * 100)}%`;
      console.log(`progress: ${lastProgress}`);
    }
    if (event.type === "item:error") console.log(`item:error at ${event.key}[${event.index}]`);
  },
});

let stored = 0;
for await (const n of run) stored += n;

const meta = run.metadata();
console.log(`stored ${stored} rows; status ${meta.status}; errors ${meta.errors.length}`);
for (const s of meta.stages) {
  const { in: input, out, failed } = s.counts;
  const p50 = s.timings.p50.toFixed(1);
  console.log(
    `stage ${s.key}: in ${input} out ${out} failed ${failed} maxInFlight ${s.maxInFlight} p50 ${p50} ms`,
  );
}
const seen = [...counts].map(([type, n]) => `${type}×${n}`).join(" ");
console.log(`events: ${seen}`);
console.log(`progress ticks: ${(counts.get("progress") ?? 0) > 0 ? "yes" : "no"}`);
