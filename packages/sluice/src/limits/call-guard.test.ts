import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { EmitMode } from "../engine/item-worker.js";
import {
  createRateLimiter,
  createStep,
  type ItemContext,
  Pipeline,
  type RunEvent,
  StepError,
  StreamingPipeline,
} from "../index.js";
import { itemStage } from "../operators/item-stage.js";
import { within } from "../testing/within.js";

/** A loopback API enforcing a token bucket: past it, 429 with a Retry-After. */
async function limitedServer(capacity: number, perSecond: number, retryAfter = "0.05") {
  let level = capacity;
  let last = performance.now();
  const stats = { ok: 0, limited: 0 };
  const server: Server = createServer((_req, res) => {
    const t = performance.now();
    level = Math.min(capacity, level + ((t - last) * perSecond) / 1000);
    last = t;
    if (level < 1) {
      stats.limited++;
      res.writeHead(429, { "retry-after": retryAfter }).end();
      return;
    }
    level--;
    stats.ok++;
    res.writeHead(200, { "content-type": "text/plain" }).end("ok");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return { url, stats, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function call(url: string, signal: AbortSignal): Promise<string> {
  const res = await fetch(url, { signal });
  const body = await res.text();
  if (!res.ok)
    throw Object.assign(new Error(`HTTP ${res.status}`), {
      status: res.status,
      headers: res.headers,
    });
  return body;
}

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const v of run) out.push(v);
  return out;
}

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe("stage limits against a rate-limited loopback API", () => {
  it("adaptive concurrency with a time-budgeted retry: nothing fails, the limit backs off", async () => {
    const api = await limitedServer(5, 100);
    closers.push(api.close);
    const events: RunEvent[] = [];
    const run = StreamingPipeline.start<number>().map(
      "call",
      (_n: number, ctx: ItemContext) => call(api.url, ctx.signal),
      {
        concurrency: { max: 8, adaptive: true },
        ordered: false,
        retry: { maxAttempts: Number.POSITIVE_INFINITY, backoffMs: 10, maxElapsedMs: 20_000 },
      },
    );
    const r = run.executeFrom(
      Array.from({ length: 60 }, (_, i) => i),
      { onEvent: (e) => events.push(e) },
    );
    const out = await within(collect(r), "adaptive run", 15_000);
    expect(out).toHaveLength(60);
    expect(api.stats.ok).toBe(60);
    expect(api.stats.limited).toBeGreaterThan(0);
    const limits = r.metadata().stages[0]?.limits;
    expect(limits?.overloads).toBe(api.stats.limited);
    expect(limits?.concurrencyHistory[0]?.limit).toBe(8);
    expect(Math.min(...(limits?.concurrencyHistory ?? []).map((s) => s.limit))).toBeLessThan(8);
    const changes = events.filter((e) => e.type === "concurrency");
    expect(
      changes.some((e) => e.type === "concurrency" && e.reason === "overload" && e.pauseMs === 50),
    ).toBe(true);
  });

  it("a rate limit below the server's keeps a parallel stage free of 429s", async () => {
    const api = await limitedServer(6, 60);
    closers.push(api.close);
    const events: RunEvent[] = [];
    const r = StreamingPipeline.start<number>()
      .map("call", (_n: number, ctx: ItemContext) => call(api.url, ctx.signal), {
        concurrency: 4,
        rateLimit: { requests: 50, perMs: 1000, burst: { requests: 5 } },
      })
      .executeFrom(
        Array.from({ length: 25 }, (_, i) => i),
        { onEvent: (e) => events.push(e) },
      );
    expect(await within(collect(r), "limited run", 10_000)).toHaveLength(25);
    expect(api.stats.limited).toBe(0);
    const limits = r.metadata().stages[0]?.limits;
    // 25 calls, 5 at once then 50/s: at least 400 ms of waiting in line, summed over calls.
    expect(limits?.throttledCalls).toBeGreaterThan(0);
    expect(limits?.throttledMs).toBeGreaterThan(400);
    expect(limits?.requestsPerSecond).toBeGreaterThan(0);
    expect(events.filter((e) => e.type === "throttle")).toHaveLength(limits?.throttledCalls ?? -1);
  });
});

describe("rateLimit", () => {
  it("paces a sequential stage, counting units with weigh", async () => {
    const t0 = performance.now();
    const r = StreamingPipeline.start<string>()
      .map("len", (s) => s.length, {
        rateLimit: {
          units: 100,
          perMs: 1000,
          burst: { units: 10 },
          weigh: (s: string) => s.length,
        },
      })
      .executeFrom(["aaaaa", "aaaaa", "aaaaa", "aaaaa"]);
    expect(await collect(r)).toEqual([5, 5, 5, 5]);
    // 20 units through a 10-unit bucket refilling 100/s: at least 100 ms.
    expect(performance.now() - t0).toBeGreaterThanOrEqual(95);
    expect(r.metadata().stages[0]?.limits?.throttledCalls).toBe(2);
  });

  it("is shared by stages of two pipelines through one limiter", async () => {
    const limiter = createRateLimiter({ requests: 1000, perMs: 1000 });
    const a = StreamingPipeline.start<number>().map("a", (n) => n + 1, { rateLimit: limiter });
    const b = StreamingPipeline.start<number>().map("b", async (n) => n * 2, {
      concurrency: 3,
      rateLimit: { limiter, weigh: () => 2 },
    });
    await Promise.all([collect(a.executeFrom([1, 2, 3])), collect(b.executeFrom([1, 2, 3, 4]))]);
    expect(limiter.stats()).toMatchObject({ admitted: 7, units: 8 });
  });

  it("works in a batch Pipeline step", async () => {
    const limiter = createRateLimiter({ requests: 1000, perMs: 1000 });
    const result = await Pipeline.start<number[]>()
      .map(
        "double",
        createStep("double", ({ input }: { input: number }) => input * 2),
        {
          parallel: true,
          rateLimit: limiter,
        },
      )
      .execute([1, 2, 3]);
    expect(result.success && result.data).toEqual([2, 4, 6]);
    expect(limiter.stats().admitted).toBe(3);
  });

  it("keeps limited stages out of fused loops", () => {
    const def = {
      key: "k",
      kind: "map",
      mode: EmitMode.MAP,
      invoke: (x: unknown) => x,
      wantsCtx: false,
      defaultStrategy: "FAIL_FAST" as const,
      allowSplit: true,
    };
    expect(itemStage(def, {}).fusable).toBeDefined();
    expect(itemStage(def, { rateLimit: { requests: 1, perMs: 1 } }).fusable).toBeUndefined();
    expect(itemStage(def, { timeoutMs: 5 }).fusable).toBeUndefined();
    expect(itemStage(def, { concurrency: { max: 1, adaptive: true } }).fusable).toBeUndefined();
  });

  it("stops waiting when the consumer breaks, leaving nothing queued", async () => {
    const limiter = createRateLimiter({ requests: 1, perMs: 60_000 });
    const run = StreamingPipeline.start<number>()
      .map("slow", (n) => n, { concurrency: 4, rateLimit: limiter })
      .executeFrom([1, 2, 3, 4, 5]);
    const got: number[] = [];
    await within(
      (async () => {
        for await (const v of run) {
          got.push(v);
          break;
        }
      })(),
      "break while calls wait for a minute-long rate",
      5000,
    );
    expect(got).toEqual([1]);
    expect(limiter.stats().waiting).toBe(0);
  });

  it("rejects bad options at build time, naming the stage", () => {
    const p = StreamingPipeline.start<number>();
    expect(() => p.map("m", (n) => n, { rateLimit: { perMs: 1000 } })).toThrow(
      'Stage "m": rateLimit: a rate limit needs requests or units (or both)',
    );
    expect(() =>
      p.map("m", (n) => n, { rateLimit: { requests: 1, perMs: 1, weigh: 3 as never } }),
    ).toThrow(/rateLimit.weigh must be a function/);
    expect(() => p.map("m", (n) => n, { rateLimit: { limiter: {} as never } })).toThrow(
      /rateLimit.limiter must be made by createRateLimiter/,
    );
    expect(() => p.map("m", (n) => n, { timeoutMs: 0 })).toThrow(
      'Stage "m": timeoutMs must be a finite number greater than 0, got 0',
    );
  });

  it("fails the item when weigh returns a bad cost", async () => {
    const run = StreamingPipeline.start<number>()
      .map("m", (n) => n, { rateLimit: { units: 10, perMs: 1000, weigh: () => Number.NaN } })
      .executeFrom([1]);
    await expect(collect(run)).rejects.toThrow(/rateLimit.weigh must return a finite number/);
  });
});

describe("timeoutMs", () => {
  it("aborts the call's signal and fails the attempt with TIMEOUT", async () => {
    let seen: AbortSignal | undefined;
    const run = StreamingPipeline.start<number>()
      .map(
        "hang",
        (_n: number, ctx: ItemContext) => {
          seen = ctx.signal;
          return new Promise<number>(() => {}); // ignores its signal, never settles
        },
        { timeoutMs: 30 },
      )
      .executeFrom([1]);
    const error = await within(collect(run), "timed-out run", 5000).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StepError);
    expect((error as StepError).code).toBe("TIMEOUT");
    expect((error as StepError).key).toBe("hang");
    expect(seen?.aborted).toBe(true);
    expect(run.metadata().stages[0]?.limits?.timeouts).toBe(1);
  });

  it("is retried under the stage's retry policy, in a batch step too", async () => {
    let calls = 0;
    const step = createStep(
      "flaky",
      async ({ input, signal }: { input: number; signal: AbortSignal }) => {
        calls++;
        if (calls === 1) await new Promise((r) => signal.addEventListener("abort", r)); // first call hangs until its timeout
        return input + 1;
      },
    );
    const result = await Pipeline.start<number[]>()
      .map("inc", step, { timeoutMs: 30 })
      .execute([1]);
    // No retry configured: the step's own error strategy fails it with TIMEOUT.
    expect(result.success).toBe(false);
    if (!result.success) expect(result.error.code).toBe("TIMEOUT");
    calls = 0;
    const run = StreamingPipeline.start<number>()
      .map(
        "inc",
        async (n: number, ctx: ItemContext) => {
          calls++;
          if (ctx.attempt === 1) return new Promise<number>(() => {});
          return n + 1;
        },
        { timeoutMs: 30, retry: { maxAttempts: 3, backoffMs: 0 } },
      )
      .executeFrom([1]);
    expect(await within(collect(run), "retried run", 5000)).toEqual([2]);
    expect(calls).toBe(2);
    expect(run.metadata().stages[0]?.counts.retried).toBe(1);
  });
});
