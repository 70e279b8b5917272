import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createStep,
  ListErrorStrategy,
  Pipeline,
  type StepResult,
  StreamingErrorStrategy,
  StreamingPipeline,
} from "./index.js";

// The global guard (test/setup/unhandled-rejections.ts) fails any test that leaks a
// rejection; this file also counts them itself, so the check holds even without the guard.
let leaked: unknown[] = [];
const onRejection = (reason: unknown) => {
  leaked.push(reason);
};
beforeAll(() => {
  process.on("unhandledRejection", onRejection);
});
afterAll(() => {
  process.off("unhandledRejection", onRejection);
});

/** Two macrotask turns: Node reports unhandled rejections after the microtask queue drains. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setTimeout(r, 0));
}

/** A small seeded PRNG, so a failing combination can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type FailKind = "sync-throw" | "async-reject" | "late-reject" | "non-error" | "retryable";
const FAIL_KINDS: FailKind[] = [
  "sync-throw",
  "async-reject",
  "late-reject",
  "non-error",
  "retryable",
];

/** The work every stage does: sometimes slow, sometimes failing in one of several ways. */
function work(random: () => number, failRate: number) {
  return (n: number, signal: AbortSignal): number | Promise<number> => {
    const fail = random() < failRate;
    const kind = FAIL_KINDS[Math.floor(random() * FAIL_KINDS.length)] as FailKind;
    const delay = Math.floor(random() * 3);
    const honoursSignal = random() < 0.5;
    if (fail && kind === "sync-throw") throw new Error(`sync ${n}`);
    if (!fail && delay === 0 && random() < 0.3) return n + 1;
    return new Promise<number>((resolve, reject) => {
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      const timer = setTimeout(() => {
        if (honoursSignal) signal.removeEventListener("abort", onAbort);
        if (!fail) resolve(n + 1);
        else if (kind === "non-error") reject({ notAnError: n });
        else if (kind === "retryable")
          reject(Object.assign(new Error(`net ${n}`), { code: "ECONNRESET" }));
        else if (kind === "late-reject") setTimeout(() => reject(new Error(`late ${n}`)), 1);
        else reject(new Error(`async ${n}`));
      }, delay);
      if (honoursSignal) {
        if (signal.aborted) onAbort();
        else signal.addEventListener("abort", onAbort, { once: true });
      }
    });
  };
}

type AbortMode = "none" | "pre-aborted" | "random-time";
const ABORT_MODES: AbortMode[] = ["none", "pre-aborted", "random-time"];
const FAIL_RATES = [0, 0.25, 1];

function abortFor(mode: AbortMode, random: () => number): AbortSignal | undefined {
  if (mode === "none") return undefined;
  if (mode === "pre-aborted") return AbortSignal.abort();
  const controller = new AbortController();
  const at = Math.floor(random() * 6);
  setTimeout(() => controller.abort(random() < 0.5 ? undefined : new Error("user abort")), at);
  return controller.signal;
}

async function inBatches<T>(jobs: (() => Promise<T>)[], size: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < jobs.length; i += size) {
    out.push(...(await Promise.all(jobs.slice(i, i + size).map((j) => j()))));
  }
  return out;
}

describe("no unhandled rejections", () => {
  it("batch Pipeline: strategy × parallel × failures × retry × aborts", async () => {
    leaked = [];
    const jobs: (() => Promise<{ seed: number; result: StepResult<unknown> }>)[] = [];
    let seed = 1;
    for (const errorStrategy of Object.values(ListErrorStrategy)) {
      for (const parallel of [false, true]) {
        for (const failRate of FAIL_RATES) {
          for (const abort of ABORT_MODES) {
            for (const withRetry of [false, true]) {
              const s = seed++;
              jobs.push(async () => {
                const random = rng(s);
                const w = work(random, failRate);
                const retry = withRetry ? { maxAttempts: 3, backoffMs: 1 } : undefined;
                const options = { parallel, concurrencyLimit: 4, errorStrategy };
                const p = Pipeline.start<number[], { seed: number }>(() => ({ seed: s }))
                  .map(
                    "m",
                    createStep("m", ({ input, signal }) => w(input, signal), { retry }),
                    options,
                  )
                  .filter("f", (n, ctx) => w(n, ctx.signal), options)
                  .flatMap(
                    "fm",
                    createStep("fm", async ({ input, signal }) => [await w(input, signal), input], {
                      retry,
                    }),
                    options,
                  )
                  .batch("b", 3)
                  .map(
                    "sum",
                    createStep("sum", ({ input }) => input.reduce((a, b) => a + b, 0)),
                    options,
                  )
                  .add(
                    "whole",
                    createStep("whole", ({ input, signal }) => w(input.length, signal), { retry }),
                  );
                const input = Array.from({ length: 12 }, (_, i) => i);
                const signal = abortFor(abort, random);
                const result = await p.execute(input, signal ? { signal } : {});
                return { seed: s, result };
              });
            }
          }
        }
      }
    }
    const results = await inBatches(jobs, 36);
    await settle();
    await new Promise((r) => setTimeout(r, 10)); // late rejections (1 ms timers) included
    await settle();
    expect(leaked, "unhandled rejections").toEqual([]);
    expect(results).toHaveLength(3 * 2 * 3 * 3 * 2);
    for (const { seed: s, result } of results) {
      // execute never throws: every run resolved to a result with real metadata.
      expect(typeof result.success, `seed ${s}`).toBe("boolean");
      expect(result.metadata.traceId, `seed ${s}`).toMatch(/^[0-9a-f]{32}$/);
      if (!result.success) expect(typeof result.error.code, `seed ${s}`).toBe("string");
    }
    // Pre-aborted runs always fail with ABORTED.
    const preAborted = results.filter((_, i) => i % 6 === 2 || i % 6 === 3);
    for (const { result } of preAborted) {
      expect(result.success).toBe(false);
      if (!result.success) expect(result.error.code).toBe("ABORTED");
    }
    // At least some runs of every kind happened.
    expect(results.some((r) => r.result.success)).toBe(true);
    expect(results.some((r) => !r.result.success && r.result.error.code === "ABORTED")).toBe(true);
    expect(
      results.some((r) => !r.result.success && r.result.error.code === "COLLECTED_ERRORS"),
    ).toBe(true);
  });

  it("StreamingPipeline: strategy × concurrency × order × failures × aborts × early exit", async () => {
    leaked = [];
    type Outcome = { seed: number; items: number; threw: unknown; split: number };
    const jobs: (() => Promise<Outcome>)[] = [];
    let seed = 10_000;
    type Exit = AbortMode | "break-early";
    for (const errorStrategy of Object.values(StreamingErrorStrategy)) {
      // `ordered` only matters when items overlap.
      for (const [concurrency, ordered] of [
        [1, true],
        [4, true],
        [4, false],
      ] as const) {
        for (const failRate of FAIL_RATES) {
          for (const exit of [...ABORT_MODES, "break-early"] as Exit[]) {
            const s = seed++;
            jobs.push(async () => {
              const random = rng(s);
              const w = work(random, failRate);
              const options = {
                concurrency,
                ordered,
                errorStrategy,
                retry: random() < 0.5 ? { maxAttempts: 2, backoffMs: 1 } : undefined,
              };
              const p = StreamingPipeline.start<number>()
                .map("m", (n, ctx) => w(n, ctx.signal), options)
                .filter("f", (n, ctx) => w(n, ctx.signal), options)
                .flatMap("fm", async (n, ctx) => [await w(n, ctx.signal), n], options)
                .batch("b", 3)
                .map(
                  "step",
                  createStep("sum", ({ input, signal }) =>
                    w(
                      input.reduce((a, b) => a + b, 0),
                      signal,
                    ),
                  ),
                  options,
                )
                .tap("t", (n, ctx) => w(n, ctx.signal), options);
              const signal = exit === "break-early" ? undefined : abortFor(exit, random);
              const run = p.executeFrom(
                Array.from({ length: 10 }, (_, i) => i),
                signal ? { signal } : {},
              );
              let split = 0;
              const splitDone =
                errorStrategy === "SPLIT_ERRORS"
                  ? (async () => {
                      for await (const _ of run.errors) split++;
                    })()
                  : Promise.resolve();
              let items = 0;
              let threw: unknown;
              try {
                for await (const _ of run) {
                  items++;
                  if (exit === "break-early" && items >= 2) break;
                }
              } catch (error) {
                threw = error;
              }
              await splitDone;
              return { seed: s, items, threw, split };
            });
          }
        }
      }
    }
    const results = await inBatches(jobs, 96);
    await settle();
    await new Promise((r) => setTimeout(r, 10));
    await settle();
    expect(leaked, "unhandled rejections").toEqual([]);
    expect(results).toHaveLength(4 * 3 * 3 * 4);
    expect(results.some((r) => r.threw === undefined && r.items > 0)).toBe(true);
    expect(results.some((r) => r.threw !== undefined)).toBe(true);
  });

  it("abandoned streaming runs (never iterated, or left mid-way) leak nothing", async () => {
    leaked = [];
    const p = StreamingPipeline.start<number>().map(
      "m",
      async (n) => {
        // Item 1 alone finishes first: taken, it leaves the rest failing in flight.
        await new Promise((r) => setTimeout(r, n === 1 ? 1 : 20));
        if (n % 2 === 0) throw new Error(`even ${n}`);
        return n;
      },
      { concurrency: 4 },
    );
    // Never iterated.
    p.executeFrom([1, 2, 3]);
    // Aborted before any pull.
    const controller = new AbortController();
    p.executeFrom([1, 2, 3], { signal: controller.signal });
    controller.abort();
    // One item taken, then returned.
    const run = p.executeFrom([1, 3, 2, 4, 6]);
    const first = await run.next();
    expect(first).toEqual({ value: 1, done: false });
    await run.return();
    await settle();
    await new Promise((r) => setTimeout(r, 10));
    await settle();
    expect(leaked).toEqual([]);
  });

  it("many concurrent executions of one batch pipeline, half aborted mid-flight", async () => {
    leaked = [];
    const p = Pipeline.start<number[]>().map(
      "m",
      createStep("m", ({ input, signal }) => work(rng(input), 0.2)(input, signal)),
      { parallel: true, concurrencyLimit: 3, errorStrategy: "COLLECT_ERRORS" },
    );
    const runs = Array.from({ length: 40 }, (_, i) => {
      const controller = new AbortController();
      if (i % 2 === 0) setTimeout(() => controller.abort(), i % 5);
      return p.execute(
        Array.from({ length: 10 }, (_, j) => i * 10 + j),
        { signal: controller.signal },
      );
    });
    const results = await Promise.all(runs);
    await settle();
    await new Promise((r) => setTimeout(r, 10));
    await settle();
    expect(leaked).toEqual([]);
    expect(results.every((r) => typeof r.success === "boolean")).toBe(true);
  });
});
