// The browser smoke suite: runs IN THE PAGE (headless Chromium, see run-browser.ts), against the
// BUILT core. "sluice" is not bundled: an import map in the page points it at the served
// packages/sluice/dist/index.js, so the browser loads the published module graph as is.
// Real timers only; each check is named in the report the runner prints. No outcome may hang on
// how late a timer fires (CI runs this beside Bun and Deno on a loaded machine): gaps are wide
// against the windows they test, and where a check needs work in flight, a gate waits for it.
import {
  AbortError,
  createStep,
  ListErrorStrategy,
  Pipeline,
  type StepResult,
  StreamingError,
  StreamingPipeline,
  toReadableStream,
} from "sluice";
// Bundled into the page by esbuild with the rest of this file (the test helper is not in dist).
import { deferred } from "../../../packages/sluice/src/testing/deferred.ts";

export interface CheckResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

export interface SmokeReport {
  userAgent: string;
  results: CheckResult[];
}

const checks: { name: string; fn: () => Promise<void> }[] = [];
const check = (name: string, fn: () => Promise<void>) => {
  checks.push({ name, fn });
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** JSON with object keys sorted, so that key order does not matter. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

function equal(actual: unknown, expected: unknown, what: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

function ok(condition: unknown, what: string): void {
  if (!condition) throw new Error(what);
}

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

async function outcome<T>(run: AsyncIterable<T>): Promise<{ items: T[]; error: unknown }> {
  const items: T[] = [];
  try {
    for await (const x of run) items.push(x);
    return { items, error: undefined };
  } catch (error) {
    return { items, error };
  }
}

async function* paced<T>(items: readonly T[], gapMs = 0): AsyncGenerator<T> {
  for (const x of items) {
    if (gapMs > 0) await sleep(gapMs);
    else await Promise.resolve();
    yield x;
  }
}

/**
 * Yields `[delayMs, value]` pairs, sleeping before each value (real timers). A delay of 0 means
 * "together with the previous value": no timer at all, since a loaded browser can run even a 0 ms
 * timer tens of milliseconds late (it split a batch the test meant to arrive at once).
 */
async function* timed<T>(steps: readonly (readonly [number, T])[]): AsyncGenerator<T> {
  for (const [delay, value] of steps) {
    if (delay > 0) await sleep(delay);
    yield value;
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (counting the aborts in `count`). */
function abortableSleep(ms: number, signal: AbortSignal, count?: { aborted: number }) {
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      if (count) count.aborted++;
      clearTimeout(timer);
      resolve();
    });
  });
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

// ── environment ─────────────────────────────────────────────────────────────────────────────

check("environment: a browser page, no Node globals", async () => {
  const g = globalThis as Record<string, unknown>;
  ok(typeof document === "object", "document exists");
  for (const name of ["process", "Buffer", "require", "setImmediate"]) {
    equal(typeof g[name], "undefined", `typeof ${name}`);
  }
});

// ── parallel map with cancellation ──────────────────────────────────────────────────────────

check("parallel map: ordered output, at most `concurrency` in flight", async () => {
  let active = 0;
  let max = 0;
  const p = StreamingPipeline.start<number>().map(
    "slow",
    async (n) => {
      active++;
      max = Math.max(max, active);
      await sleep((n * 7) % 5);
      active--;
      return n * 2;
    },
    { concurrency: 4 },
  );
  const run = p.executeFrom(range(20));
  equal(
    await collect(run),
    range(20).map((n) => n * 2),
    "output",
  );
  ok(max > 1 && max <= 4, `max in flight ${max} should be in 2..4`);
  equal(run.metadata().status, "completed", "status");
  ok(/^[0-9a-f]{32}$/.test(run.traceId), `traceId ${run.traceId} is 32 hex digits`);
});

check("parallel map: unordered mode yields every item", async () => {
  const p = StreamingPipeline.start<number>().map(
    "jitter",
    async (n) => {
      await sleep(n % 2 === 0 ? 4 : 0);
      return n;
    },
    { concurrency: 3, ordered: false },
  );
  equal(sorted(await collect(p.executeFrom(paced(range(12))))), range(12), "items");
});

check("cancellation: an AbortSignal aborts in-flight work and the run throws", async () => {
  const controller = new AbortController();
  let started = 0;
  let aborted = 0;
  const p = StreamingPipeline.start<number>().map(
    "wait",
    (n, ctx) =>
      new Promise<number>((resolve, reject) => {
        // The abort comes from outside the run (a timer), once the pool is full: a fixed
        // delay could fire before a starved page had started all three.
        if (++started === 3) setTimeout(() => controller.abort(), 5);
        const timer = setTimeout(() => resolve(n), 10_000);
        ctx.signal.addEventListener("abort", () => {
          aborted++;
          clearTimeout(timer);
          reject(ctx.signal.reason);
        });
      }),
    { concurrency: 3 },
  );
  const run = p.executeFrom(range(10), { signal: controller.signal });
  const t0 = performance.now();
  const { items, error } = await outcome(run);
  const ms = performance.now() - t0;
  equal(items, [], "items");
  ok(error instanceof Error, `the run throws an Error (got ${String(error)})`);
  equal((error as Error).name, "AbortError", "error name");
  equal(started, 3, "started calls");
  equal(aborted, 3, "aborted calls");
  ok(ms < 3_000, `ended promptly (${Math.round(ms)} ms)`);
  equal(run.metadata().status, "cancelled", "status");
});

check("cancellation: a consumer's break returns the run and aborts in-flight work", async () => {
  const signals: AbortSignal[] = [];
  const second = deferred();
  const p = StreamingPipeline.start<number>().map(
    "work",
    async (n, ctx) => {
      signals.push(ctx.signal);
      if (n === 1) await second.promise;
      else {
        second.resolve();
        await abortableSleep(10_000, ctx.signal);
      }
      return n;
    },
    { concurrency: 3 },
  );
  const run = p.executeFrom(range(10));
  const t0 = performance.now();
  for await (const n of run) if (n === 1) break;
  ok(performance.now() - t0 < 3_000, "break returned promptly");
  equal(run.metadata().status, "cancelled", "status");
  ok(signals.length >= 2, `more than one call started (${signals.length})`);
  ok(
    signals.slice(1).every((s) => s.aborted),
    "every in-flight call's signal is aborted",
  );
});

check("take: stops a never-ending source after n items", async () => {
  let pulled = 0;
  async function* forever() {
    for (let i = 1; ; i++) {
      pulled++;
      await Promise.resolve();
      yield i;
    }
  }
  const p = StreamingPipeline.start<number>()
    .map("sq", (n) => n * n, { concurrency: 2 })
    .take("first", 5);
  equal(await collect(p.executeFrom(forever())), [1, 4, 9, 16, 25], "items");
  ok(pulled < 20, `the source was pulled a bounded number of times (${pulled})`);
});

check("AbortError is exported and is an Error", async () => {
  const e = new AbortError();
  ok(e instanceof Error, "instanceof Error");
  equal(e.name, "AbortError", "name");
});

// ── error strategies ────────────────────────────────────────────────────────────────────────

const failOn3 = async (n: number) => {
  await Promise.resolve();
  if (n % 3 === 0) throw Object.assign(new Error(`bad ${n}`), { code: "E_THREE" });
  return n * 10;
};

check("FAIL_FAST: the run throws a StreamingError naming the stage and item", async () => {
  const p = StreamingPipeline.start<number>().map("work", failOn3, { concurrency: 2 });
  const run = p.executeFrom(paced(range(7)));
  const { items, error } = await outcome(run);
  ok(error instanceof StreamingError, `StreamingError (got ${String(error)})`);
  const e = error as StreamingError;
  equal([e.name, e.key, e.code], ["StreamingError", "work", "E_THREE"], "name, key, code");
  ok(
    [[], [10], [10, 20]].some((prefix) => JSON.stringify(prefix) === JSON.stringify(items)),
    `only items before the failure (${JSON.stringify(items)})`,
  );
  equal(run.metadata().status, "failed", "status");
});

check("SKIP_FAILED: failures are dropped and recorded", async () => {
  const p = StreamingPipeline.start<number>().map("work", failOn3, {
    concurrency: 3,
    errorStrategy: "SKIP_FAILED",
  });
  const run = p.executeFrom(paced(range(7)));
  equal(await collect(run), [10, 20, 40, 50, 70], "items");
  const meta = run.metadata();
  equal(meta.status, "completed", "status");
  equal(
    meta.errors.map((e) => [e.key, e.itemIndex, e.code]),
    [
      ["work", 2, "E_THREE"],
      ["work", 5, "E_THREE"],
    ],
    "recorded errors",
  );
});

check("COLLECT_ERRORS: successes flow, then one error with every failure", async () => {
  const p = StreamingPipeline.start<number>().map("work", failOn3, {
    errorStrategy: "COLLECT_ERRORS",
  });
  const run = p.executeFrom(paced(range(7)));
  const { items, error } = await outcome(run);
  equal(items, [10, 20, 40, 50, 70], "items");
  ok(error instanceof StreamingError, `StreamingError (got ${String(error)})`);
  const e = error as StreamingError;
  equal(e.code, "COLLECTED_ERRORS", "code");
  equal(
    (e.errors ?? []).map((x) => [x.item, x.index, x.error.code]),
    [
      [3, 2, "E_THREE"],
      [6, 5, "E_THREE"],
    ],
    "collected",
  );
  equal(run.metadata().status, "failed", "status");
});

check(
  "SPLIT_ERRORS: failures go to the run.errors side stream, the main stream succeeds",
  async () => {
    const p = StreamingPipeline.start<number>().map("work", failOn3, {
      concurrency: 3,
      ordered: false,
      errorStrategy: "SPLIT_ERRORS",
    });
    const run = p.executeFrom(paced(range(9)));
    const [items, errors] = await Promise.all([collect(run), collect(run.errors)]);
    equal(sorted(items), [10, 20, 40, 50, 70, 80], "main stream");
    equal(sorted(errors.map((r) => r.item as number)), [3, 6, 9], "side stream items");
    for (const r of errors) {
      ok(r.error instanceof StreamingError, "side record holds a StreamingError");
      equal([r.key, r.error.code], ["work", "E_THREE"], "side record key and code");
    }
    equal(run.metadata().status, "completed", "status");
  },
);

check("retry: a transient failure is retried after a real (small) backoff", async () => {
  const attempts = new Map<number, number>();
  const p = StreamingPipeline.start<number>().map(
    "flaky",
    (n, ctx) => {
      attempts.set(n, ctx.attempt);
      if (ctx.attempt === 1 && n % 2 === 0) {
        throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
      }
      return n;
    },
    { concurrency: 2, retry: { maxAttempts: 3, backoffMs: 2 } },
  );
  equal(await collect(p.executeFrom(range(6))), range(6), "items");
  equal(
    [...attempts.entries()].sort((a, b) => a[0] - b[0]),
    [
      [1, 1],
      [2, 2],
      [3, 1],
      [4, 2],
      [5, 1],
      [6, 2],
    ],
    "last attempt per item",
  );
});

check("Pipeline (batch builder): SKIP_FAILED list stage in parallel", async () => {
  const p = Pipeline.start<number[]>().map(
    "half",
    createStep("half", async ({ input }) => {
      await sleep(1);
      if (input % 2 !== 0) throw new Error(`odd ${input}`);
      return input / 2;
    }),
    { parallel: true, concurrencyLimit: 3, errorStrategy: ListErrorStrategy.SKIP_FAILED },
  );
  const r: StepResult<number[]> = await p.execute(range(8));
  ok(r.success, `success (${r.success ? "" : r.error.message})`);
  if (r.success) equal(r.data, [1, 2, 3, 4], "data");
});

// ── windowing, buffering and batching on real timers ────────────────────────────────────────

check("window: tumbling, sliding and hopping windows", async () => {
  const windows = (size: number, slide?: number) =>
    collect(
      StreamingPipeline.start<number>()
        .window("w", size, slide)
        .executeFrom(paced(range(7))),
    );
  equal(await windows(3), [[1, 2, 3], [4, 5, 6], [7]], "tumbling");
  equal(
    await windows(3, 2),
    [
      [1, 2, 3],
      [3, 4, 5],
      [5, 6, 7],
    ],
    "sliding",
  );
  equal(await windows(2, 3), [[1, 2], [4, 5], [7]], "hopping");
});

check("bufferTime: groups what arrives within ms of each buffer's first item", async () => {
  const source = timed<number>([
    [0, 1],
    [0, 2],
    [400, 3],
    [0, 4],
    [400, 5],
  ]);
  const p = StreamingPipeline.start<number>().bufferTime("buf", 40);
  equal(await collect(p.executeFrom(source)), [[1, 2], [3, 4], [5]], "buffers");
});

check("bufferTime: maxSize emits early", async () => {
  const p = StreamingPipeline.start<number>().bufferTime("buf", 10_000, 2);
  const t0 = performance.now();
  equal(await collect(p.executeFrom(range(5))), [[1, 2], [3, 4], [5]], "buffers");
  const ms = performance.now() - t0;
  ok(ms < 9_000, `did not wait for the 10 s timer (${Math.round(ms)} ms)`);
});

check("batch: maxWaitMs emits a partial batch while the source is idle", async () => {
  const source = timed<number>([
    [0, 1],
    [0, 2],
    [400, 3],
    [0, 4],
    [0, 5],
    [0, 6],
    [0, 7],
  ]);
  const emittedAt: number[] = [];
  const t0 = performance.now();
  const p = StreamingPipeline.start<number>()
    .batch("b", { size: 3, maxWaitMs: 30 })
    .tap("t", () => {
      emittedAt.push(performance.now() - t0);
    });
  equal(
    await collect(p.executeFrom(source)),
    [
      [1, 2],
      [3, 4, 5],
      [6, 7],
    ],
    "batches",
  );
  // The batches above already show that [1, 2] left on the timer, before 3 arrived.
  ok(
    (emittedAt[0] ?? 0) >= 25,
    `the first partial batch waited maxWaitMs (${Math.round(emittedAt[0] ?? -1)} ms)`,
  );
});

check("batch: by size and weight", async () => {
  const p = StreamingPipeline.start<string>().batch("b", {
    size: 3,
    maxWeight: 5,
    weigh: (s) => s.length,
  });
  equal(
    await collect(p.executeFrom(["a", "bb", "ccc", "d", "e", "f", "g"])),
    [
      ["a", "bb"],
      ["ccc", "d", "e"],
      ["f", "g"],
    ],
    "batches",
  );
});

// ── Web streams in and out ──────────────────────────────────────────────────────────────────

function numberStream(n: number, pulled: { count: number; cancelled: boolean }) {
  let i = 0;
  return new ReadableStream<number>(
    {
      pull(controller) {
        pulled.count++;
        i++;
        if (i > n) controller.close();
        else controller.enqueue(i);
      },
      cancel() {
        pulled.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
}

check("Web streams: executeFrom(ReadableStream) → toReadableStream(run) → pipeTo", async () => {
  const pulled = { count: 0, cancelled: false };
  const p = StreamingPipeline.start<number>()
    .map("double", async (n) => n * 2, { concurrency: 2 })
    .filter("notSix", (n) => n !== 6);
  const out: number[] = [];
  await toReadableStream(p.executeFrom(numberStream(5, pulled))).pipeTo(
    new WritableStream<number>({
      write(n) {
        out.push(n);
      },
    }),
  );
  equal(out, [2, 4, 8, 10], "written");
});

check("Web streams: toReadableStream pipes through a TransformStream", async () => {
  const p = StreamingPipeline.start<string>().map("upper", (s) => s.toUpperCase());
  const text = await new Response(
    toReadableStream(p.executeFrom(["a", "b", "c"])).pipeThrough(new TextEncoderStream()),
  ).text();
  equal(text, "ABC", "text");
});

check("Web streams: cancelling the output stream cancels the run and its source", async () => {
  const pulled = { count: 0, cancelled: false };
  const count = { aborted: 0 };
  const second = deferred();
  const p = StreamingPipeline.start<number>().map(
    "slow",
    async (n, ctx) => {
      if (n === 1) await second.promise;
      else {
        second.resolve();
        await abortableSleep(10_000, ctx.signal, count);
      }
      return n;
    },
    { concurrency: 2 },
  );
  const run = p.executeFrom(numberStream(1_000, pulled));
  const reader = toReadableStream(run).getReader();
  equal(await reader.read(), { value: 1, done: false }, "first read");
  await reader.cancel();
  equal(run.metadata().status, "cancelled", "status");
  ok(pulled.cancelled, "the source stream was cancelled");
  ok(pulled.count < 20, `the source was read a bounded number of times (${pulled.count})`);
  ok(count.aborted >= 1, "in-flight work was aborted");
});

// ── runner ──────────────────────────────────────────────────────────────────────────────────

const CHECK_TIMEOUT_MS = 15_000;

async function runAll(): Promise<SmokeReport> {
  const results: CheckResult[] = [];
  for (const { name, fn } of checks) {
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`timed out after ${CHECK_TIMEOUT_MS} ms`)),
            CHECK_TIMEOUT_MS,
          );
        }),
      ]);
      results.push({ name, ok: true, ms: performance.now() - t0 });
    } catch (error) {
      const message =
        error instanceof Error ? `${error.name}: ${error.message}` : `thrown: ${String(error)}`;
      results.push({ name, ok: false, ms: performance.now() - t0, error: message });
    } finally {
      clearTimeout(timer);
    }
  }
  return { userAgent: navigator.userAgent, results };
}

(globalThis as { __sluiceSmoke?: Promise<SmokeReport> }).__sluiceSmoke = runAll();
