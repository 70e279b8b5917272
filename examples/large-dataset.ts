/**
 * A large run in bounded memory: 1,000,000 generated records flow through sequential and
 * parallel stages, and the heap stays flat because a stage never holds more than its
 * `concurrency + buffer` items (plus the chunk in hand). Nothing materializes the stream.
 *
 * Run: npx tsx examples/large-dataset.ts
 */
import { StreamingPipeline } from "sluice";

const TOTAL = 1_000_000;
const MB = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

function* records(count: number): Generator<{ id: number; body: string }> {
  for (let id = 0; id < count; id++) yield { id, body: `record ${id} ${"x".repeat(id % 64)}` };
}

const pipeline = StreamingPipeline.start<{ id: number; body: string }>()
  .map("size", (r) => r.body.length)
  .filter("nonEmpty", (n) => n > 0)
  // Per-item async work is cheaper in groups: 1,000 sizes per call, 4 calls at once.
  .batch("group", 1_000)
  .map(
    "checksum",
    async (sizes) => {
      await new Promise((r) => setImmediate(r));
      let sum = 0;
      for (const n of sizes) sum += n;
      return { count: sizes.length, sum };
    },
    { concurrency: 4, ordered: false },
  );

const before = process.memoryUsage();
let peakHeap = before.heapUsed;
let peakRss = before.rss;
const samples: string[] = [];
let nextSample = TOTAL / 5;
let count = 0;
let sum = 0;
const t0 = performance.now();
for await (const part of pipeline.executeFrom(records(TOTAL))) {
  count += part.count;
  sum += part.sum;
  const m = process.memoryUsage();
  peakHeap = Math.max(peakHeap, m.heapUsed);
  peakRss = Math.max(peakRss, m.rss);
  if (count >= nextSample) {
    samples.push(MB(m.heapUsed));
    nextSample += TOTAL / 5;
  }
}
const after = process.memoryUsage();

console.log(`items: ${count.toLocaleString("en-US")}, checksum ${sum}`);
console.log(`time: ${Math.round(performance.now() - t0)} ms`);
console.log(
  `heap: before ${MB(before.heapUsed)}, peak ${MB(peakHeap)}, after ${MB(after.heapUsed)}`,
);
console.log(`rss:  before ${MB(before.rss)}, peak ${MB(peakRss)}, after ${MB(after.rss)}`);
console.log(`peak heap growth: ${MB(peakHeap - before.heapUsed)}`);
// Flat: the heap goes up and down with garbage collection but does not grow with the count.
console.log(`heap every 200,000 items: ${samples.join(", ")}`);
