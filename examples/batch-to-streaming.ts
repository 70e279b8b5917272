/**
 * One job, two builders. The batch `Pipeline` runs each stage over the whole array before
 * the next begins; the `StreamingPipeline` version moves each document through every stage
 * as soon as it can, reusing the very same `createStep` steps. Both give the same result.
 *
 * Run: npx tsx examples/batch-to-streaming.ts
 */
import { createStep, Pipeline, StreamingPipeline } from "sluice";

interface Doc {
  id: string;
  text: string;
}

const docs: Doc[] = [
  { id: "intro", text: "Sluice moves data.  It pulls on demand." },
  { id: "empty", text: "   " },
  { id: "usage", text: "Build a pipeline. Run it. Read the results." },
];

// Steps shared by both builders: a step is a named function of { input, signal, ... }.
const clean = createStep<Doc, Doc>("clean", ({ input }) => ({
  ...input,
  text: input.text.replace(/\s+/g, " ").trim(),
}));
const split = createStep<Doc, string[]>("split", ({ input }) =>
  input.text.split(/(?<=\.)\s+/).map((s, i) => `${input.id}#${i}: ${s}`),
);

// Before: batch. Every stage completes before the next; the result is one value.
const batch = Pipeline.start<Doc[]>()
  .map("cleaned", clean, { parallel: true, concurrencyLimit: 4 })
  .filter("nonEmpty", (doc) => doc.text.length > 0)
  .flatMap("sentences", split);
const result = await batch.execute(docs);
if (!result.success) throw result.error;
console.log(`batch:     ${result.data.length} sentences`);

// After: streaming. The same steps run per item (streaming flatMap takes a function, so the
// split step is a map followed by a flatMap); results arrive while later documents run.
const streaming = StreamingPipeline.start<Doc>()
  .map("cleaned", clean, { concurrency: 4 })
  .filter("nonEmpty", (doc) => doc.text.length > 0)
  .map("split", split)
  .flatMap("sentences", (sentences) => sentences);
const sentences: string[] = [];
for await (const s of streaming.executeFrom(docs)) sentences.push(s);
console.log(`streaming: ${sentences.length} sentences`);

console.log(`same result: ${JSON.stringify(sentences) === JSON.stringify(result.data)}`);
for (const s of sentences) console.log(`  ${s}`);
