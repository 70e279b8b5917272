/**
 * Cancellation: breaking out of the loop, a satisfied `take` and an aborted signal all stop
 * the run the same way. In-flight calls see `ctx.signal` abort, the source's `finally`
 * runs, and no new work starts; `break` returns only after in-flight work has settled.
 *
 * Run: npx tsx examples/cancellation.ts
 */
import { type ItemContext, StreamingPipeline } from "sluice";

const log: string[] = [];

async function* pages() {
  try {
    for (let page = 1; ; page++) yield page;
  } finally {
    log.push("source closed");
  }
}

/**
 * A call that takes 50 ms per page after the first (page 1 at once, page 2 after 50 ms, page 3
 * after 100 ms, ...) unless its signal aborts first, as fetch(url, { signal }) does. Distinct
 * durations keep the later pages in flight when a run stops: calls that finished in the same
 * millisecond would be handed on together and have nothing left to abort.
 * The listener is removed when the call settles, as a well-behaved API does (each call's
 * `ctx.signal` is its own, so a forgotten listener would not pile up, but it is tidy).
 */
function fetchPage(page: number, ctx: ItemContext): Promise<string> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      log.push(`page ${page} aborted`);
      reject(ctx.signal.reason);
    };
    const timer = setTimeout(
      () => {
        ctx.signal.removeEventListener("abort", onAbort);
        resolve(`page ${page}`);
      },
      50 * (page - 1),
    );
    ctx.signal.addEventListener("abort", onAbort, { once: true });
  });
}

const pipeline = StreamingPipeline.start<number>().map("fetch", fetchPage, { concurrency: 3 });

// 1. The consumer breaks: the loop exits only after in-flight work settled.
const run = pipeline.executeFrom(pages());
for await (const page of run) {
  console.log(`got ${page}, breaking`);
  break;
}
console.log(`break: ${log.join(", ")}; status ${run.metadata().status}`);

// 2. A satisfied take stops everything upstream of it; the run completes.
log.length = 0;
const taken = pipeline.take("first", 2).executeFrom(pages());
const got: string[] = [];
for await (const page of taken) got.push(page);
console.log(`take(2): ${got.join(", ")}; ${log.join(", ")}; status ${taken.metadata().status}`);

// 3. An aborted signal: the run throws the signal's reason.
log.length = 0;
const controller = new AbortController();
setTimeout(() => controller.abort(new Error("deadline exceeded")), 20);
const limited = pipeline.executeFrom(pages(), { signal: controller.signal });
try {
  for await (const page of limited) console.log(`signal run got ${page}`);
} catch (error) {
  console.log(`signal: threw "${(error as Error).message}"; status ${limited.metadata().status}`);
  console.log(`signal: ${log.join(", ")}`);
}
