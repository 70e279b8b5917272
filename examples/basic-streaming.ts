/**
 * Basic streaming: documents flow through three stages one chunk at a time, the first
 * results arrive before the source is exhausted, and the run reports its own figures.
 *
 * Run: npx tsx examples/basic-streaming.ts
 */
import { StreamingPipeline } from "sluice";

function* documents(count: number): Generator<{ id: number; text: string }> {
  for (let id = 0; id < count; id++) {
    yield { id, text: `Document ${id}: ${"lorem ipsum dolor sit amet ".repeat(1 + (id % 7))}` };
  }
}

const pipeline = StreamingPipeline.start<{ id: number; text: string }>()
  .map("words", (doc) => doc.text.split(/\s+/).filter(Boolean).length)
  .filter("long", (words) => words > 10)
  .map("summary", (words, ctx) => `doc ${ctx.state.words === words ? "ok" : "?"}: ${words} words`)
  .take("first", 5);

const run = pipeline.executeFrom(documents(1_000_000));
for await (const line of run) console.log(line);

const meta = run.metadata();
console.log(`status: ${meta.status}, duration: ${meta.durationMs?.toFixed(1)} ms`);
for (const stage of meta.stages) {
  console.log(`  ${stage.key.padEnd(8)} in ${stage.counts.in}  out ${stage.counts.out}`);
}
