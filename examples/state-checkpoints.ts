/**
 * State and checkpoints. A per-item function's `ctx.state` holds what earlier keys produced
 * for the item in hand (its lineage); through a batch, earlier keys give the members'
 * values. A `checkpoint` is the one explicit materialization: later stages read the whole
 * snapshot, and `maxItems` bounds it.
 *
 * Run: npx tsx examples/state-checkpoints.ts
 */
import { StreamingError, StreamingPipeline } from "sluice";

interface Doc {
  path: string;
  text: string;
}

const docs: Doc[] = [
  { path: "a.md", text: "alpha beta" },
  { path: "b.md", text: "gamma delta epsilon" },
  { path: "c.md", text: "zeta" },
];

// Lineage: `report` reads what `words` produced for this same document, even though the
// unordered parallel stage in between hands documents on in completion order.
const lineage = StreamingPipeline.start<Doc>()
  .map("words", (doc) => doc.text.split(" ").length)
  .map(
    "weight",
    async (words) => {
      await new Promise((r) => setTimeout(r, (4 - words) * 20));
      return words * 10;
    },
    { concurrency: 3, ordered: false },
  )
  .map("report", (weight, ctx) => `${ctx.state.words} words -> weight ${weight}`);
for await (const line of lineage.executeFrom(docs)) console.log(`lineage: ${line}`);

// Through a batch, `ctx.state.words` is the array of the members' word counts.
const batched = StreamingPipeline.start<Doc>()
  .map("words", (doc) => doc.text.split(" ").length)
  .batch("pair", 2)
  .map("summary", (_batch, ctx) => `words per member: ${JSON.stringify(ctx.state.words)}`);
for await (const line of batched.executeFrom(docs)) console.log(line);

// A checkpoint reads everything before it, then passes the items on; later stages can read
// the whole snapshot (here: each document's share of all words).
const shares = StreamingPipeline.start<Doc>()
  .map("words", (doc) => doc.text.split(" ").length)
  .checkpoint("all", { maxItems: 10_000 })
  .map("share", (words, ctx) => {
    const total = ctx.state.materialize("all").reduce((a, b) => a + b, 0);
    return `${Math.round((100 * words) / total)}%`;
  });
console.log(`shares: ${(await collect(shares.executeFrom(docs))).join(" ")}`);

// maxItems turns a runaway checkpoint into a clear error instead of unbounded memory.
function* endless() {
  for (let i = 0; ; i++) yield { path: `${i}.md`, text: "x" };
}
try {
  await collect(shares.executeFrom(endless()));
} catch (error) {
  if (!(error instanceof StreamingError)) throw error;
  console.log(`endless source: ${error.code} at checkpoint "${error.key}"`);
}

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}
