/**
 * Windows and batches. `window(size, slide)` makes tumbling, sliding or hopping windows;
 * `batch` closes a group by count, by total weight or by time, whichever comes first.
 *
 * Run: npx tsx examples/windowing-batching.ts
 */
import { StreamingPipeline } from "sluice";

const numbers = [1, 2, 3, 4, 5, 6, 7];
const show = (groups: unknown[]) => groups.map((g) => JSON.stringify(g)).join(" ");

const windows = async (size: number, slide?: number) =>
  StreamingPipeline.start<number[]>()
    .flatMap("items", (xs) => xs)
    .window("w", size, slide)
    .executeToArray(numbers);

console.log(`tumbling window(3):   ${show(await windows(3))}`);
console.log(`sliding  window(3,1): ${show(await windows(3, 1))}`);
console.log(`hopping  window(2,3): ${show(await windows(2, 3))}`);

// Weighted batching: at most 4 chunks and at most 100 "tokens" per request. A group closes
// before an item that would push it over maxWeight; an item heavier than that travels alone.
const chunks = ["a".repeat(40), "b".repeat(50), "c".repeat(30), "d".repeat(120), "e", "f", "g"];
const requests = await StreamingPipeline.start<string>()
  .batch("request", { size: 4, maxWeight: 100, weigh: (text) => text.length })
  .map("describe", (batch) => batch.map((t) => `${t[0]}${t.length}`).join("+"))
  .executeFrom(chunks);
const sizes: string[] = [];
for await (const r of requests) sizes.push(r);
console.log(`weighted batches: ${sizes.join(" | ")}`);

// Time-bounded batching: a slow source never leaves items waiting longer than maxWaitMs.
async function* slowSource() {
  for (let i = 1; i <= 5; i++) {
    await new Promise((r) => setTimeout(r, i === 3 ? 150 : 5));
    yield i;
  }
}
const timed = StreamingPipeline.start<number>()
  .batch("b", { size: 10, maxWaitMs: 50 })
  .executeFrom(slowSource());
const timedBatches: number[][] = [];
for await (const b of timed) timedBatches.push(b);
console.log(`batch maxWaitMs 50: ${show(timedBatches)}`);
