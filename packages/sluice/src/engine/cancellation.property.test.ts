import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import {
  abortableSleep,
  type ItemContext,
  type RunEvent,
  StreamingPipeline,
  type StreamingRun,
} from "../index.js";
import { deferred } from "../testing/deferred.js";
import { within as withinMs } from "../testing/within.js";

/**
 * Cancellation reaches every stage at once (docs/cancellation.md, "What happens"): whatever
 * stops a run — a consumer's `break`, the run's `signal`, a FAIL_FAST failure — every call in
 * flight in every stage sees its `ctx.signal` abort before the next macrotask, nothing starts
 * afterwards (no retry either), `return()` still waits for calls that ignore their signal,
 * and the source is released.
 *
 * Orderings are read off a logical clock, not wall time: "promptly" means "before a
 * `setTimeout(0)` scheduled at the moment of the stop has run", which holds on a loaded
 * machine as well as on an idle one.
 */

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const BOUND_MS = 3_000;

/** `p`, or a rejection naming `what` when it has not settled within {@link BOUND_MS}. */
const within = <T>(p: Promise<T>, what: string): Promise<T> => withinMs(p, what, BOUND_MS);

/** One call of a user function: when it started, saw its signal abort, and settled. */
interface Call {
  key: string;
  item: number;
  attempt: number;
  start: number;
  abort?: number;
  settle?: number;
  /** Wall time of the abort, for the failure message only. */
  abortMs?: number;
  /** The call whose failure stops the run: it settles by throwing, its abort is moot. */
  failing?: boolean;
}

/** Everything a run did, on one logical clock. */
class Recorder {
  private clock = 0;
  readonly calls: Call[] = [];
  /** The clock at the stop: the break, the abort, the failing call's throw. */
  stop: number | undefined;
  stopMs = 0;
  /** The clock when a `setTimeout(0)` scheduled at the stop ran. */
  afterStop: number | undefined;
  released: number | undefined;

  tick(): number {
    return ++this.clock;
  }

  markStop(): void {
    if (this.stop !== undefined) return;
    this.stop = this.tick();
    this.stopMs = performance.now();
    setTimeout(() => {
      this.afterStop = this.tick();
    }, 0);
  }

  /** Starts recording a call: its start, and the moment its signal aborts. */
  begin(key: string, item: number, ctx: ItemContext): Call {
    const call: Call = { key, item, attempt: ctx.attempt, start: this.tick() };
    this.calls.push(call);
    const signal = ctx.signal;
    if (signal.aborted) call.abort = call.start;
    else {
      signal.addEventListener(
        "abort",
        () => {
          call.abort = this.tick();
          call.abortMs = performance.now();
        },
        { once: true },
      );
    }
    return call;
  }

  end(call: Call): void {
    call.settle = this.tick();
  }

  /**
   * What broke the contract, once the consumer is done (at clock `end`): calls in flight at
   * the stop that did not see their abort before the next macrotask, calls started after
   * the stop, calls not settled when the consumer was told the run ended.
   */
  violations(end: number): string[] {
    const out: string[] = [];
    const stop = this.stop;
    if (stop === undefined) return ["the run never stopped"];
    const after = this.afterStop ?? Number.POSITIVE_INFINITY;
    for (const c of this.calls) {
      const name = `${c.key}(${c.item}) attempt ${c.attempt}`;
      if (c.start > stop) out.push(`${name} started after the stop`);
      const inFlight = c.start < stop && (c.settle === undefined || c.settle > stop);
      if (inFlight && !c.failing && (c.abort === undefined || c.abort > after)) {
        out.push(
          c.abort === undefined
            ? `${name} was in flight at the stop and never saw its signal abort`
            : `${name} was in flight at the stop and saw its signal abort only ${Math.round(
                (c.abortMs ?? 0) - this.stopMs,
              )} ms later, after a macrotask`,
        );
      }
      if (c.settle === undefined || c.settle > end) {
        out.push(`${name} had not settled when the consumer saw the run end`);
      }
    }
    if (this.released === undefined) out.push("the source was not released");
    return out;
  }
}

/** An endless source that records when it is released. */
function source(
  rec: Recorder,
  kind: "generator" | "stream",
): AsyncIterable<number> | ReadableStream<number> {
  let i = 0;
  if (kind === "stream") {
    return new ReadableStream<number>(
      {
        pull(controller) {
          controller.enqueue(i++);
        },
        cancel() {
          rec.released ??= rec.tick();
        },
      },
      { highWaterMark: 0 },
    );
  }
  return (async function* () {
    try {
      for (;;) yield i++;
    } finally {
      rec.released ??= rec.tick();
    }
  })();
}

interface StageShape {
  concurrency: number;
  ordered: boolean;
  buffer: number;
  /** Ignores its signal: sleeps its full time whatever happens. */
  ignores: boolean;
  ms: number;
  /** Its first two attempts fail with a retryable error; retried with backoff. */
  flaky: boolean;
}

type Trigger =
  | { kind: "break"; after: number }
  | { kind: "signal"; atMs: number }
  | { kind: "fail"; stage: number; call: number };

const stageArb: fc.Arbitrary<StageShape> = fc
  .record({
    concurrency: fc.constantFrom(1, 2, 3, 4),
    ordered: fc.boolean(),
    buffer: fc.constantFrom(0, 0, 1),
    ignores: fc.constantFrom(false, true, true),
    // At least 2 ms: a sequential stage then hands on each awaited item by itself, so a
    // FAIL_FAST failure is thrown at once rather than after the items before it in a chunk.
    ms: fc.integer({ min: 2, max: 6 }),
    long: fc.constantFrom(0, 10, 30, 30),
    flaky: fc.constantFrom(false, false, false, true),
  })
  .map(({ long, ...s }) => ({ ...s, ms: s.ignores ? s.ms + long : s.ms }));

const scenarioArb = fc
  .record({
    stages: fc.array(stageArb, { minLength: 2, maxLength: 4 }),
    source: fc.constantFrom("generator" as const, "stream" as const),
    trigger: fc.oneof(
      fc.integer({ min: 1, max: 3 }).map((after): Trigger => ({ kind: "break", after })),
      fc.integer({ min: 5, max: 30 }).map((atMs): Trigger => ({ kind: "signal", atMs })),
      fc
        .record({ stage: fc.nat(3), call: fc.integer({ min: 1, max: 4 }) })
        .map(({ stage, call }): Trigger => ({ kind: "fail", stage, call })),
    ),
  })
  .map((s) =>
    s.trigger.kind === "fail"
      ? { ...s, trigger: { ...s.trigger, stage: s.trigger.stage % s.stages.length } }
      : s,
  );

/** A user function of the given shape, recording every call. */
function stageFn(rec: Recorder, key: string, shape: StageShape, failAt: number | undefined) {
  let calls = 0;
  return async (n: number, ctx: ItemContext): Promise<number> => {
    const call = rec.begin(key, n, ctx);
    const callNo = ++calls;
    try {
      if (shape.ignores) await sleep(shape.ms);
      else await abortableSleep(shape.ms, ctx.signal);
      if (callNo === failAt) {
        call.failing = true;
        rec.markStop();
        throw new Error(`${key} fails on call ${callNo}`);
      }
      if (shape.flaky && ctx.attempt < 3) {
        throw Object.assign(new Error("flaky"), { code: "ECONNRESET" });
      }
      return n;
    } finally {
      rec.end(call);
    }
  };
}

/** The run of a scenario: one map stage per shape, keys s0, s1, …. */
function buildRun(
  rec: Recorder,
  stages: StageShape[],
  src: AsyncIterable<number> | ReadableStream<number>,
  trigger: Trigger,
  signal: AbortSignal | undefined,
): StreamingRun<number> {
  // The stages are homogeneous (number → number), so one loosely typed builder serves.
  let p = StreamingPipeline.start<number>() as unknown as StreamingPipeline<
    number,
    number,
    {},
    unknown
  >;
  stages.forEach((shape, i) => {
    const key = `s${i}`;
    const failAt = trigger.kind === "fail" && trigger.stage === i ? trigger.call : undefined;
    p = p.map(key as never, stageFn(rec, key, shape, failAt), {
      concurrency: shape.concurrency,
      ordered: shape.ordered,
      buffer: shape.buffer,
      ...(shape.flaky ? { retry: { maxAttempts: 5, backoffMs: 4 } } : {}),
    }) as never;
  });
  return p.executeFrom(src, signal === undefined ? {} : { signal });
}

/** Runs a scenario to its end and returns what went wrong. */
async function runScenario(s: {
  stages: StageShape[];
  source: "generator" | "stream";
  trigger: Trigger;
}): Promise<string[]> {
  const rec = new Recorder();
  const ac = new AbortController();
  const reason = new Error("stop");
  const run = buildRun(
    rec,
    s.stages,
    source(rec, s.source),
    s.trigger,
    s.trigger.kind === "signal" ? ac.signal : undefined,
  );
  let abortTimer: ReturnType<typeof setTimeout> | undefined;
  if (s.trigger.kind === "signal") {
    abortTimer = setTimeout(() => {
      rec.markStop();
      ac.abort(reason);
    }, s.trigger.atMs);
  }
  const consume = async (): Promise<{ threw: boolean; error: unknown }> => {
    let got = 0;
    try {
      for await (const _ of run) {
        got++;
        if (s.trigger.kind === "break" && got >= s.trigger.after) {
          rec.markStop();
          break;
        }
      }
      return { threw: false, error: undefined };
    } catch (error) {
      return { threw: true, error };
    }
  };
  let result: { threw: boolean; error: unknown };
  try {
    result = await within(consume(), "the run");
  } finally {
    clearTimeout(abortTimer);
  }
  const end = rec.tick();
  // Lets the stop's setTimeout(0) run (scheduled before this one) and a source's release
  // that was asked for without waiting (an async generator busy in next()) complete.
  await sleep(1);
  const problems = rec.violations(end);
  const status = run.metadata().status;
  if (s.trigger.kind === "break" && (result.threw || status !== "cancelled")) {
    problems.push(`after break: threw ${String(result.threw)}, status ${status}`);
  }
  if (s.trigger.kind === "signal" && (result.error !== reason || status !== "cancelled")) {
    problems.push(`after the abort: error ${String(result.error)}, status ${status}`);
  }
  if (s.trigger.kind === "fail" && (!result.threw || status !== "failed")) {
    problems.push(`after the failure: threw ${String(result.threw)}, status ${status}`);
  }
  return problems;
}

describe("cancellation reaches every stage at once", () => {
  it("break, signal or FAIL_FAST: in-flight calls everywhere abort before the next macrotask, nothing starts after, return() waits, the source is released", async () => {
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (s) => {
        expect(await runScenario(s)).toEqual([]);
      }),
      { numRuns: 40, endOnFailure: true },
    );
  });

  // The case, pinned: a downstream call that ignores its signal must not hold back
  // the abort of an upstream call (it used to reach it only once the downstream call settled).
  for (const trigger of ["break", "signal", "fail"] as const) {
    for (const upConcurrency of [1, 2]) {
      it(`${trigger}: an upstream call sees its abort while a downstream call that ignores its signal is still running (upstream concurrency ${upConcurrency})`, async () => {
        const rec = new Recorder();
        const a2 = deferred();
        const b1 = deferred();
        const bothBusy = Promise.all([a2.promise, b1.promise]);
        const ac = new AbortController();
        const reason = new Error("stop");
        const run = StreamingPipeline.start<number>()
          .map(
            "up",
            async (n: number, ctx: ItemContext) => {
              const call = rec.begin("up", n, ctx);
              try {
                if (n >= 2) {
                  if (n === 2) a2.resolve();
                  await abortableSleep(60_000, ctx.signal);
                }
                return n;
              } finally {
                rec.end(call);
              }
            },
            { concurrency: upConcurrency },
          )
          .map(
            "down",
            async (n: number, ctx: ItemContext) => {
              const call = rec.begin("down", n, ctx);
              try {
                if (n === 1) {
                  b1.resolve();
                  await sleep(150); // ignores its signal
                } else if (n === 0 && trigger === "fail") {
                  await bothBusy;
                  call.failing = true;
                  rec.markStop();
                  throw new Error("down fails");
                }
                return n;
              } finally {
                rec.end(call);
              }
            },
            { concurrency: 3, ordered: false },
          )
          .executeFrom(source(rec, "generator"), { signal: ac.signal });
        if (trigger === "signal") {
          bothBusy.then(() => {
            rec.markStop();
            ac.abort(reason);
          });
        }
        const consume = async () => {
          try {
            for await (const _ of run) {
              if (trigger === "break") {
                await bothBusy;
                rec.markStop();
                break;
              }
            }
          } catch {
            // the signal's reason or the failure: the stop under test
          }
        };
        await within(consume(), "the run");
        const end = rec.tick();
        await sleep(1);
        expect(rec.violations(end)).toEqual([]);
        const up2 = rec.calls.find((c) => c.key === "up" && c.item === 2);
        const down1 = rec.calls.find((c) => c.key === "down" && c.item === 1);
        // return() waited for the call that ignored its signal.
        expect(down1?.settle).toBeLessThan(end);
        expect(up2?.abort).toBeLessThan(down1?.settle ?? 0);
      });
    }
  }

  it("no retry attempt fires after a break, in any stage, while a downstream call ignores its signal", async () => {
    const rec = new Recorder();
    const retrying = deferred();
    const b1 = deferred();
    const run = StreamingPipeline.start<number>()
      .map(
        "flaky",
        async (n: number, ctx: ItemContext) => {
          const call = rec.begin("flaky", n, ctx);
          try {
            if (n >= 2) throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
            return n;
          } finally {
            rec.end(call);
          }
        },
        { concurrency: 4, retry: { maxAttempts: 5, backoffMs: 10 } },
      )
      .map(
        "stubborn",
        async (n: number, ctx: ItemContext) => {
          const call = rec.begin("stubborn", n, ctx);
          try {
            if (n === 1) {
              b1.resolve();
              await sleep(150); // ignores its signal
            }
            return n;
          } finally {
            rec.end(call);
          }
        },
        { concurrency: 3, ordered: false },
      )
      .executeFrom(source(rec, "generator"), {
        onEvent: (e: RunEvent) => {
          if (e.type === "retry") retrying.resolve();
        },
      });
    await within(
      (async () => {
        for await (const _ of run) {
          await Promise.all([retrying.promise, b1.promise]);
          rec.markStop();
          break;
        }
      })(),
      "the run",
    );
    const end = rec.tick();
    await sleep(60); // time for a retry left scheduled to fire
    const late = rec.calls.filter((c) => c.start > (rec.stop ?? 0));
    expect(late.map((c) => `${c.key}(${c.item}) attempt ${c.attempt}`)).toEqual([]);
    expect(rec.violations(end)).toEqual([]);
  });
});

describe("return() waits for a retry attempt in flight", () => {
  for (const concurrency of [1, 2]) {
    for (const how of ["return", "signal"] as const) {
      it(`a retry attempt that ignores its signal settles before the run ends (${how}, concurrency ${concurrency})`, async () => {
        const ac = new AbortController();
        const retrying = deferred();
        let settled = false;
        const run = StreamingPipeline.start<number>()
          .map(
            "m",
            async (n: number, ctx: ItemContext) => {
              if (n !== 0) return abortableSleep(60_000, ctx.signal).then(() => n);
              if (ctx.attempt === 1) {
                throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
              }
              retrying.resolve();
              await sleep(60); // ignores its signal
              settled = true;
              return n;
            },
            { concurrency, retry: { maxAttempts: 2, backoffMs: 0 } },
          )
          .executeFrom([0, 1], { signal: ac.signal });
        const pending = run.next().then(
          () => "resolved",
          () => "rejected",
        );
        await within(retrying.promise, "the retry attempt");
        if (how === "return") {
          await within(run.return(), "run.return()");
          expect(settled, "settled when return() resolved").toBe(true);
          expect(await within(pending, "the pending next()")).toBe("resolved");
        } else {
          ac.abort(new Error("stop"));
          expect(await within(pending, "the pending next()")).toBe("rejected");
          expect(settled, "settled when the run rejected").toBe(true);
        }
      });
    }
  }
});

describe("a call that aborts the run's own signal", () => {
  it("the run ends (rejects, emits run:end) only after that call has settled", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ concurrency: fc.constantFrom(1, 2, 3), withCtx: fc.boolean() }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.nat(2),
        fc.integer({ min: 1, max: 3 }),
        async (stages, which, callNo) => {
          const at = which % stages.length;
          let clock = 0;
          const tick = () => ++clock;
          const ac = new AbortController();
          const reason = new Error("aborted from inside a call");
          let settled: number | undefined;
          let runEnd: number | undefined;
          let p = StreamingPipeline.start<number>() as unknown as StreamingPipeline<
            number,
            number,
            {},
            unknown
          >;
          stages.forEach((shape, i) => {
            let calls = 0;
            const body = async (n: number): Promise<number> => {
              if (i !== at || ++calls !== callNo) return n;
              ac.abort(reason); // synchronously, inside the call
              try {
                await sleep(40); // keeps running, ignoring the abort
                return n;
              } finally {
                settled = tick();
              }
            };
            // One parameter: a function that may be fused; two: one that reads its context.
            const fn = shape.withCtx
              ? (n: number, _ctx: ItemContext) => body(n)
              : (n: number) => body(n);
            p = p.map(`s${i}` as never, fn as never, { concurrency: shape.concurrency }) as never;
          });
          const run = p.executeFrom(
            (async function* () {
              for (let n = 0; ; n++) yield n;
            })(),
            {
              signal: ac.signal,
              onEvent: (e) => {
                if (e.type === "run:end") runEnd = tick();
              },
            },
          );
          let error: unknown;
          let rejectedAt: number | undefined;
          await within(
            (async () => {
              try {
                for await (const _ of run) {
                  // consumed
                }
              } catch (e) {
                rejectedAt = tick();
                error = e;
              }
            })(),
            "the run",
          );
          expect(error, "the run's error").toBe(reason);
          expect(
            settled,
            "the aborting call had settled when the consumer saw the run end",
          ).toBeDefined();
          const after = settled ?? Number.POSITIVE_INFINITY;
          expect(
            rejectedAt,
            "the consumer saw the rejection after the call settled",
          ).toBeGreaterThan(after);
          expect(runEnd, "run:end came after the call settled").toBeGreaterThan(after);
          expect(run.metadata().status).toBe("cancelled");
        },
      ),
      { numRuns: 20, endOnFailure: true },
    );
  });

  for (const concurrency of [1, 2]) {
    it(`return() called meanwhile resolves only after that call has settled (concurrency ${concurrency})`, async () => {
      const ac = new AbortController();
      let settled = false;
      const called = deferred();
      const run = StreamingPipeline.start<number>()
        .map(
          "m",
          async (n: number) => {
            if (n !== 0) return n;
            ac.abort();
            called.resolve();
            await sleep(40);
            settled = true;
            return n;
          },
          { concurrency },
        )
        .executeFrom([0, 1, 2], { signal: ac.signal });
      const pending = run.next().catch(() => "rejected");
      await within(called.promise, "the call");
      await within(run.return(), "run.return()");
      expect(settled).toBe(true);
      await within(pending, "the pending next()");
    });
  }
});

describe("sources are always released", () => {
  /** A Web stream that counts its cancels. */
  function stream() {
    const c = { cancelled: 0, pulls: 0 };
    const s = new ReadableStream<number>(
      {
        pull(controller) {
          controller.enqueue(c.pulls++);
        },
        cancel() {
          c.cancelled++;
        },
      },
      { highWaterMark: 0 },
    );
    return { c, s };
  }
  const pipeline = StreamingPipeline.start<number>()
    .map("a", async (n) => n, { concurrency: 2 })
    .map("b", async (n: number, _ctx: ItemContext) => n);

  it("a ReadableStream is cancelled when the run's signal was aborted before the run started", async () => {
    const { c, s } = stream();
    const ac = new AbortController();
    ac.abort(new Error("too late"));
    const run = pipeline.executeFrom(s, { signal: ac.signal });
    await expect(within(run.next(), "run.next()")).rejects.toBe(ac.signal.reason);
    expect(c.cancelled).toBe(1);
  });

  it("a ReadableStream is cancelled when return() comes before the first next()", async () => {
    const { c, s } = stream();
    const run = pipeline.executeFrom(s);
    await within(run.return(), "run.return()");
    expect(c.cancelled).toBe(1);
    expect(c.pulls).toBe(0);
  });

  it("a ReadableStream is cancelled when throw() comes before the first next()", async () => {
    const { c, s } = stream();
    const run = pipeline.executeFrom(s);
    const err = new Error("never mind");
    await expect(within(run.throw(err), "run.throw()")).rejects.toBe(err);
    expect(c.cancelled).toBe(1);
  });

  it("a ReadableStream is cancelled on break after some items", async () => {
    const { c, s } = stream();
    const run = pipeline.executeFrom(s);
    let got = 0;
    for await (const _ of run) if (++got === 3) break;
    expect(c.cancelled).toBe(1);
  });
});

describe("many items waiting for a retry at once", () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => {
    warnings.push(w);
  };
  afterEach(() => {
    process.off("warning", onWarning);
  });

  for (const how of ["complete", "break"] as const) {
    it(`print no MaxListenersExceededWarning (20 items in retry backoff, run ends by ${how})`, async () => {
      warnings.length = 0;
      process.on("warning", onWarning);
      const attempts = new Map<number, number>();
      const run = StreamingPipeline.start<number>()
        .map(
          "flaky",
          async (n: number) => {
            const a = (attempts.get(n) ?? 0) + 1;
            attempts.set(n, a);
            if (a === 1) throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
            return n;
          },
          { concurrency: 20, ordered: false, retry: { maxAttempts: 3, backoffMs: 50 } },
        )
        .executeFrom(Array.from({ length: 40 }, (_, i) => i));
      let got = 0;
      await within(
        (async () => {
          for await (const _ of run) if (how === "break" && ++got === 1) break;
        })(),
        "the run",
      );
      // A warning is emitted on a later tick than the listener that triggered it.
      await sleep(1);
      expect(attempts.size).toBeGreaterThan(10);
      const names = warnings.map((w) => `${w.name}: ${w.message}`);
      expect(names.filter((n) => n.includes("MaxListenersExceeded"))).toEqual([]);
    });
  }
});
