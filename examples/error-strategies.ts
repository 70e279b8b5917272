/**
 * Error strategies and retry. One flaky parser runs under each strategy; the last section
 * routes failures to a dead-letter side stream (SPLIT_ERRORS + run.errors) read alongside
 * the main stream, and retries a transient error until it succeeds.
 *
 * Run: npx tsx examples/error-strategies.ts
 */
import { type ErrorRecord, StreamingError, StreamingPipeline } from "sluice";

const records = ['{"id":1}', "not json", '{"id":3}', "{broken", '{"id":5}'];

const parse = (line: string): { id: number } => JSON.parse(line);

// FAIL_FAST (the default): the run throws a StreamingError for the first failure.
try {
  for await (const r of StreamingPipeline.start<string>()
    .map("parse", parse)
    .executeFrom(records)) {
    console.log(`fail-fast got id ${r.id}`);
  }
} catch (error) {
  if (!(error instanceof StreamingError)) throw error;
  console.log(`fail-fast threw: key=${error.key} item=${error.itemIndex} code=${error.code}`);
}

// SKIP_FAILED: failures are dropped and recorded in run.metadata().errors.
const skipping = StreamingPipeline.start<string>()
  .map("parse", parse, { errorStrategy: "SKIP_FAILED" })
  .executeFrom(records);
const ids: number[] = [];
for await (const r of skipping) ids.push(r.id);
console.log(
  `skip-failed ids: ${ids.join(",")}; recorded errors: ${skipping.metadata().errors.length}`,
);

// COLLECT_ERRORS: successes flow on, then the run throws every failure at once.
try {
  const collecting = StreamingPipeline.start<string>(undefined, { errorStrategy: "COLLECT_ERRORS" })
    .map("parse", parse)
    .executeFrom(records);
  for await (const r of collecting) console.log(`collect-errors got id ${r.id}`);
} catch (error) {
  if (!(error instanceof StreamingError)) throw error;
  const items = error.errors?.map((e) => JSON.stringify(e.item)).join(", ");
  console.log(`collect-errors threw ${error.code}: ${items}`);
}

// SPLIT_ERRORS: a dead-letter side stream. Read run.errors alongside the main stream: only
// the main stream drives the run, and run.errors ends when the run ends.
let calls = 0;
const lookup = async (row: { id: number }) => {
  // The first call fails like a dropped connection: a transient code, so it is retried.
  if (++calls === 1) throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
  return { ...row, name: `user-${row.id}` };
};
const run = StreamingPipeline.start<string>(undefined, { errorStrategy: "SPLIT_ERRORS" })
  .map("parse", parse)
  .map("lookup", lookup, { retry: { maxAttempts: 3, backoffMs: 5 } })
  .executeFrom(records);

const deadLetters: ErrorRecord[] = [];
const drainErrors = (async () => {
  for await (const record of run.errors) deadLetters.push(record);
})();
for await (const row of run) console.log(`split-errors main: ${row.name}`);
await drainErrors;
for (const d of deadLetters) {
  console.log(`dead letter: stage=${d.key} index=${d.index} item=${JSON.stringify(d.item)}`);
}
const lookupStage = run.metadata().stages.find((s) => s.key === "lookup");
console.log(`lookup retried ${lookupStage?.counts.retried} time(s); status ${run.status}`);
