import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Pipeline, StreamingPipeline } from "../index.js";
import { createStep } from "../steps/create-step.js";
import { within } from "../testing/within.js";
import type * as Tasks from "./fixtures/tasks.mjs";
import { THREAD_TRANSFER, ThreadPoolError, threadPool } from "./thread-pool.js";

const TASKS = new URL("./fixtures/tasks.mjs", import.meta.url);
const BROKEN = new URL("./fixtures/broken.mjs", import.meta.url);
const PRELOAD = new URL("./fixtures/preload.mjs", import.meta.url);
const repo = fileURLToPath(new URL("../../../../", import.meta.url));
// This file also runs under Bun and Deno (test/runtimes), whose worker threads differ in places.
const runtime = "Bun" in globalThis ? "bun" : "Deno" in globalThis ? "deno" : "node";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-thread-pool-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** The pool's code for a ThreadPoolError, "resolved", or a description of anything else. */
function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof ThreadPoolError ? error.code : `other: ${error}`),
  );
}

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of run) out.push(item);
  return out;
}

/** How many active resources of the kinds a pool creates (workers, their ports, timers). */
function poolHandles(): { Worker: number; MessagePort: number; Timeout: number } {
  const counts = { Worker: 0, MessagePort: 0, Timeout: 0 };
  for (const kind of process.getActiveResourcesInfo()) {
    if (kind === "Worker" || kind === "MessagePort" || kind === "Timeout") counts[kind]++;
  }
  return counts;
}

/** No more pool resources than `before`; Vitest's own timers come and go, so fewer is fine. */
function expectNoLeak(before: ReturnType<typeof poolHandles>): void {
  const now = poolHandles();
  expect({ Worker: now.Worker, MessagePort: now.MessagePort }).toEqual({
    Worker: before.Worker,
    MessagePort: before.MessagePort,
  });
  expect(now.Timeout).toBeLessThanOrEqual(before.Timeout);
}

describe("threadPool", () => {
  it("runs sync and async tasks in worker threads, values crossing by structured clone", async () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
      norm() {
        return Math.hypot(this.x, this.y);
      }
    }
    const value = {
      map: new Map([["a", [1, 2]]]),
      date: new Date(0),
      bytes: new Uint8Array([1, 2, 3]),
      point: new Point(3, 4),
    };
    const double = threadPool<typeof Tasks.double>(TASKS, "double", { threads: 2 });
    const delayed = threadPool<typeof Tasks.delayed>(TASKS, "delayed", { threads: 1 });
    // A generic task's type parameter cannot be inferred through the pool: spell it out.
    const echo = threadPool<(input: typeof value) => typeof value>(TASKS, "echo", { threads: 1 });
    try {
      expect(await Promise.all([1, 2, 3].map((n) => double.run(n)))).toEqual([2, 4, 6]);
      expect(await delayed.run({ value: 7, ms: 5 })).toBe(7);
      const back = await echo.run(value);
      expect(back.map).toEqual(value.map);
      expect(back.date).toEqual(value.date);
      expect(back.bytes).toEqual(value.bytes);
      // A class instance keeps its own data, not its class.
      expect(back.point).toEqual({ x: 3, y: 4 });
      expect(back.point).not.toBeInstanceOf(Point);
    } finally {
      await Promise.all([double.close(), delayed.close(), echo.close()]);
    }
  });

  it("rejects with the task's error: name, message, stack, cause and data properties kept", async () => {
    const fail = threadPool<typeof Tasks.fail>(TASKS, "fail", { threads: 1 });
    const throwValue = threadPool<typeof Tasks.throwValue>(TASKS, "throwValue", { threads: 1 });
    try {
      const error = await fail
        .run({
          message: "no title",
          name: "ValidationError",
          props: { code: "E_INVALID", status: 422, details: { field: "title" } },
          cause: "the inner reason",
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).toMatchObject({
        name: "ValidationError",
        message: "no title",
        code: "E_INVALID",
        status: 422,
        details: { field: "title" },
      });
      // A property structured clone cannot copy is left out; the others still arrive.
      expect(error).not.toHaveProperty("dropped");
      expect((error as Error).stack).toMatch(/at fail \(.*fixtures\/tasks\.mjs/);
      expect((error as Error).cause).toMatchObject({ message: "the inner reason" });

      const typeError = await fail.run({ message: "bad type", type: "TypeError" }).catch((e) => e);
      expect(typeError).toBeInstanceOf(TypeError);
      expect(typeError.name).toBe("TypeError");

      // A thrown non-Error arrives as a copy of itself.
      await expect(throwValue.run({ code: "PLAIN", n: 1 })).rejects.toEqual({
        code: "PLAIN",
        n: 1,
      });
    } finally {
      await Promise.all([fail.close(), throwValue.close()]);
    }
  });

  it("rejects a call whose input or result cannot be cloned, and goes on", async () => {
    const echo = threadPool<typeof Tasks.echo>(TASKS, "echo", { threads: 1 });
    const unclonable = threadPool<typeof Tasks.unclonable>(TASKS, "unclonable", { threads: 1 });
    try {
      await expect(echo.run({ f: () => 1 })).rejects.toMatchObject({ name: "DataCloneError" });
      expect(await echo.run("next")).toBe("next");
      await expect(unclonable.run(undefined)).rejects.toMatchObject({ name: "DataCloneError" });
      expect(unclonable.workers).toBe(1);
    } finally {
      await Promise.all([echo.close(), unclonable.close()]);
    }
  });

  it("stops a call past its deadline with THREAD_TIMEOUT; a fresh worker takes the next call", async () => {
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 1, timeoutMs: 300 });
    try {
      const started = performance.now();
      const [late, next] = await Promise.all([codeOf(spin.run(20_000)), spin.run(1)]);
      expect(late).toBe("THREAD_TIMEOUT");
      expect(next).toBe(1);
      // Generous: the 20 s loop was cut off, not waited out.
      expect(performance.now() - started).toBeLessThan(10_000);
      await expect(spin.run(20_000)).rejects.toThrow(
        /"spin" of file:.*tasks\.mjs took longer than 300 ms/,
      );
    } finally {
      await spin.close();
    }
  });

  // Bun 1.4 and Deno 2.9 ignore `resourceLimits`: there the task would allocate without bound.
  it.runIf(runtime === "node")(
    "rejects a call that outgrows the worker's heap with THREAD_OUT_OF_MEMORY, and goes on",
    async () => {
      const allocate = threadPool<typeof Tasks.allocate>(TASKS, "allocate", {
        threads: 1,
        maxHeapMb: 32,
      });
      try {
        const error = await allocate.run(true).catch((e: unknown) => e);
        expect(error).toMatchObject({
          code: "THREAD_OUT_OF_MEMORY",
          message: expect.stringMatching(
            /"allocate" of .*tasks\.mjs ran out of its worker's 32 MB heap/,
          ),
          cause: { code: "ERR_WORKER_OUT_OF_MEMORY" },
        });
        expect(await allocate.run(false)).toBe("fine");
      } finally {
        await allocate.close();
      }
    },
  );

  it("rejects a call whose worker exits with THREAD_EXITED, and goes on", async () => {
    const exit = threadPool<typeof Tasks.exit>(TASKS, "exit", { threads: 1 });
    const double = threadPool<typeof Tasks.double>(TASKS, "double", { threads: 1 });
    try {
      await expect(exit.run(undefined)).rejects.toMatchObject({
        code: "THREAD_EXITED",
        message: expect.stringMatching(/"exit" of .*tasks\.mjs: worker exited with code 3/),
      });
      expect(exit.workers).toBe(0);
      expect(await codeOf(exit.run(undefined))).toBe("THREAD_EXITED");
      expect(await double.run(2)).toBe(4);
    } finally {
      await Promise.all([exit.close(), double.close()]);
    }
  });

  it("fails everything waiting with THREAD_START_FAILED when the module cannot load, starting no worker in a loop", async () => {
    const loads = join(dir, "loads.txt");
    await writeFile(loads, "");
    const pool = threadPool(BROKEN, "anything", { threads: 2 });
    try {
      // Workers copy the environment when they start, which is on the first call.
      process.env.SLUICE_THREAD_POOL_LOADS = loads;
      const calls = [1, 2, 3, 4, 5].map((n) => pool.run(n));
      delete process.env.SLUICE_THREAD_POOL_LOADS;
      const results = await Promise.allSettled(calls);
      for (const r of results) {
        expect(r.status).toBe("rejected");
        const reason = (r as PromiseRejectedResult).reason;
        expect(reason).toBeInstanceOf(ThreadPoolError);
        expect(reason.code).toBe("THREAD_START_FAILED");
        expect(reason.message).toMatch(
          /cannot start "anything" of file:.*broken\.mjs: broken on purpose/,
        );
        expect(reason.cause).toMatchObject({ message: "broken on purpose" });
      }
      // The pool stays failed: a later call is rejected at once, with no worker started.
      expect(await codeOf(pool.run(6))).toBe("THREAD_START_FAILED");
      expect(pool.workers).toBe(0);
      pool.warmUp();
      expect(pool.workers).toBe(0);
      await new Promise((r) => setTimeout(r, 300));
      // At most the two workers started for the five waiting calls ever loaded the module.
      const count = (await readFile(loads, "utf8")).split("\n").filter(Boolean).length;
      expect(count).toBeGreaterThanOrEqual(1);
      expect(count).toBeLessThanOrEqual(2);
    } finally {
      await pool.close();
    }
  });

  it("fails with THREAD_START_FAILED naming the export when it is missing or not a function", async () => {
    const missing = threadPool(TASKS, "nope", { threads: 1 });
    const notFn = threadPool(TASKS, "notAFunction", { threads: 1 });
    try {
      await expect(missing.run(1)).rejects.toMatchObject({
        code: "THREAD_START_FAILED",
        message: expect.stringMatching(/"nope" of file:.*tasks\.mjs: it has no export "nope"/),
      });
      await expect(notFn.run(1)).rejects.toMatchObject({
        code: "THREAD_START_FAILED",
        message: expect.stringMatching(/its export "notAFunction" is a number, not a function/),
      });
    } finally {
      await Promise.all([missing.close(), notFn.close()]);
    }
  });

  it("takes an aborted queued call out of the queue, and terminates the worker of an aborted running one", async () => {
    // Nothing sent ahead: the waiting calls stay in the pool's queue.
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 1, prefetch: 0 });
    try {
      const running = new AbortController();
      const queued = new AbortController();
      const first = spin.run(20_000, { signal: running.signal });
      const second = spin.run(1, { signal: queued.signal });
      const third = spin.run(2);
      expect(spin.queued).toBe(3);
      await within(
        (async () => {
          while (spin.busy === 0) await new Promise((r) => setTimeout(r, 10));
        })(),
        "the first call starting",
        10_000,
      );
      expect(spin.queued).toBe(2);
      const queuedReason = new Error("not needed");
      queued.abort(queuedReason);
      await expect(second).rejects.toBe(queuedReason);
      expect(spin.queued).toBe(1);
      expect(spin.busy).toBe(1);

      const runningReason = new Error("stop it");
      const abortedAt = performance.now();
      running.abort(runningReason);
      await expect(first).rejects.toBe(runningReason);
      // At once, not after the 20 s loop; generous for a loaded machine.
      expect(performance.now() - abortedAt).toBeLessThan(1_000);
      // A fresh worker takes the call that still waits.
      expect(await third).toBe(2);
      // An already aborted signal rejects without queueing.
      await expect(spin.run(1, { signal: AbortSignal.abort(queuedReason) })).rejects.toBe(
        queuedReason,
      );
      expect(spin.queued).toBe(0);
    } finally {
      await spin.close();
    }
  });

  it("closes when its signal aborts: pending and later calls reject with the reason", async () => {
    const controller = new AbortController();
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", {
      threads: 1,
      signal: controller.signal,
    });
    const running = spin.run(20_000);
    const queued = spin.run(1);
    await within(
      (async () => {
        while (spin.busy === 0) await new Promise((r) => setTimeout(r, 10));
      })(),
      "the first call starting",
      10_000,
    );
    const reason = new Error("shutting down");
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    await expect(queued).rejects.toBe(reason);
    await expect(spin.run(1)).rejects.toBe(reason);
    await spin.close();
    expect(spin.workers).toBe(0);
    // A pool made with an aborted signal is closed from the start.
    const stillborn = threadPool(TASKS, "double", { signal: AbortSignal.abort(reason) });
    await expect(stillborn.run(1)).rejects.toBe(reason);
    expect(stillborn.workers).toBe(0);
  });

  it("sends a call ahead to a busy worker: its deadline starts when the one before ends, and an abort settles it alone", async () => {
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 1, timeoutMs: 1_500 });
    try {
      // The second call is sent at once but starts after the first: counted from sending, its
      // deadline would pass before it ends.
      expect(await Promise.all([spin.run(1_000), spin.run(1_000)])).toEqual([1_000, 1_000]);
      const controller = new AbortController();
      const first = spin.run(600);
      const ahead = spin.run(1, { signal: controller.signal });
      const third = spin.run(3);
      await within(
        (async () => {
          while (spin.busy === 0) await new Promise((r) => setTimeout(r, 10));
        })(),
        "the first call starting",
        10_000,
      );
      // One call running, one sent ahead, one waiting here.
      expect(spin.queued).toBe(1);
      const reason = new Error("not needed");
      controller.abort(reason);
      await expect(ahead).rejects.toBe(reason);
      // The worker was not terminated for it: the running call ends normally.
      expect(await first).toBe(600);
      expect(await third).toBe(3);
      expect(spin.workers).toBe(1);
    } finally {
      await spin.close();
    }
  });

  it("lets an idle worker take over a call sent ahead behind a long one", async () => {
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 2 });
    try {
      await Promise.all([spin.run(200), spin.run(200)]);
      expect(spin.workers).toBe(2);
      const long = codeOf(spin.run(20_000));
      const short = spin.run(300);
      // Both workers busy: this one is sent ahead to one of them, maybe behind the long call.
      const behind = spin.run(1);
      const started = performance.now();
      expect(await within(behind, "the call sent ahead", 10_000)).toBe(1);
      // Well before the long call ends; generous for a loaded machine.
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(await short).toBe(300);
      await spin.close();
      expect(await long).toBe("THREAD_POOL_CLOSED");
    } finally {
      await spin.close();
    }
  });

  it("close() rejects pending calls with THREAD_POOL_CLOSED and leaves no worker, port or timer", async () => {
    const before = poolHandles();
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 2, timeoutMs: 60_000 });
    const calls = [spin.run(20_000), spin.run(20_000), spin.run(1)].map(codeOf);
    await within(
      (async () => {
        while (spin.busy < 2) await new Promise((r) => setTimeout(r, 10));
      })(),
      "two calls starting",
      10_000,
    );
    // Bun does not list worker ports among active resources: there the check below is blind.
    if (runtime !== "bun") expect(poolHandles()).not.toEqual(before);
    await within(spin.close(), "close()", 5_000);
    expect(await Promise.all(calls)).toEqual([
      "THREAD_POOL_CLOSED",
      "THREAD_POOL_CLOSED",
      "THREAD_POOL_CLOSED",
    ]);
    expect(spin.workers).toBe(0);
    expectNoLeak(before);
    await expect(spin.run(1)).rejects.toThrow(/the pool of "spin" of file:.*tasks\.mjs closed/);
    await spin.close();

    // `await using` closes the pool the same way.
    const disposed = threadPool<typeof Tasks.double>(TASKS, "double", { threads: 1 });
    expect(await disposed.run(1)).toBe(2);
    await disposed[Symbol.asyncDispose]();
    expect(disposed.workers).toBe(0);
    expect(await codeOf(disposed.run(1))).toBe("THREAD_POOL_CLOSED");
    expectNoLeak(before);
  });

  it("transfers ArrayBuffers to the worker and back instead of copying them", async () => {
    const fill = threadPool<typeof Tasks.fill>(TASKS, "fill", { threads: 1 });
    try {
      const buffer = new ArrayBuffer(1024);
      const result = await fill.run({ buffer, value: 7 }, { transfer: [buffer] });
      // Moved there: detached here.
      expect(buffer.byteLength).toBe(0);
      expect(new Uint8Array(result.buffer)).toEqual(new Uint8Array(1024).fill(7));
      // The transfer list itself stays behind.
      expect(Object.getOwnPropertySymbols(result)).toEqual([]);
      expect(THREAD_TRANSFER).toBe(Symbol.for("sluice.threadPool.transfer"));
      // Moved back: the worker's own reference to the first buffer is detached now.
      const second = await fill.run({ buffer: new ArrayBuffer(8), value: 1 });
      expect(second.previousLength).toBe(0);
      // Not listed for transfer, the input was copied: the caller's buffer is intact.
      const kept = new ArrayBuffer(16);
      await fill.run({ buffer: kept, value: 2 });
      expect(new Uint8Array(kept)).toEqual(new Uint8Array(16));
    } finally {
      await fill.close();
    }
  });

  it("imports the preload module before the task module", async () => {
    const pool = threadPool<typeof Tasks.loadOrder>(TASKS, "loadOrder", {
      threads: 1,
      preload: PRELOAD,
    });
    const plain = threadPool<typeof Tasks.loadOrder>(TASKS, "loadOrder", { threads: 1 });
    const byPath = threadPool<typeof Tasks.loadOrder>(fileURLToPath(TASKS), "loadOrder", {
      threads: 1,
      preload: fileURLToPath(PRELOAD),
    });
    try {
      expect(await pool.run(undefined)).toEqual(["preload", "tasks"]);
      expect(await plain.run(undefined)).toEqual(["tasks"]);
      expect(await byPath.run(undefined)).toEqual(["preload", "tasks"]);
    } finally {
      await Promise.all([pool.close(), plain.close(), byPath.close()]);
    }
  });

  it("starts one worker ahead when warmed up, and uses it", async () => {
    const pool = threadPool<typeof Tasks.double>(TASKS, "double", { threads: 2 });
    try {
      expect(pool.workers).toBe(0);
      pool.warmUp();
      pool.warmUp();
      expect(pool.workers).toBe(1);
      expect(await pool.run(5)).toBe(10);
      expect(pool.workers).toBe(1);
    } finally {
      await pool.close();
    }
    pool.warmUp();
    expect(pool.workers).toBe(0);
  });

  it("validates its options, naming the one at fault", () => {
    expect(threadPool(TASKS, "double").threads).toBe(Math.max(1, availableParallelism() - 1));
    expect(() => threadPool(TASKS, "double", { threads: 0 })).toThrow(
      new RangeError("threadPool: threads must be a positive integer, got 0"),
    );
    expect(() => threadPool(TASKS, "double", { threads: 1.5 })).toThrow(RangeError);
    expect(() => threadPool(TASKS, "double", { timeoutMs: 0 })).toThrow(/timeoutMs/);
    expect(() => threadPool(TASKS, "double", { timeoutMs: 2 ** 31 })).toThrow(/timeoutMs/);
    expect(() => threadPool(TASKS, "double", { maxHeapMb: -1 })).toThrow(/maxHeapMb/);
    expect(() => threadPool("./relative.mjs", "double")).toThrow(
      new TypeError("threadPool: module must be a URL or an absolute path, got ./relative.mjs"),
    );
    expect(() => threadPool(TASKS, "double", { preload: "tsx" })).toThrow(/preload/);
    expect(() => threadPool(TASKS, "")).toThrow(/exportName/);
    expect(() =>
      threadPool(TASKS, "double", { execArgv: "--inspect" as unknown as string[] }),
    ).toThrow(/execArgv/);
  });

  it("runs under plain node (tsx), where idle and closed pools let the process exit", async () => {
    const script = join(dir, "use-pool.mts");
    const poolModule = new URL("./thread-pool.ts", import.meta.url).href;
    await writeFile(
      script,
      [
        `import { threadPool } from ${JSON.stringify(poolModule)};`,
        `const closed = threadPool(${JSON.stringify(TASKS.href)}, "double", { threads: 1 });`,
        "console.log(await closed.run(1));",
        "await closed.close();",
        // Left open on purpose: neither its idle worker nor the warmed-up one may hold the process.
        `const idle = threadPool(${JSON.stringify(TASKS.href)}, "double", { threads: 2 });`,
        "console.log(await idle.run(2));",
        `const warm = threadPool(${JSON.stringify(TASKS.href)}, "double", { threads: 1 });`,
        "warm.warmUp();",
      ].join("\n"),
    );
    const { code, stdout, stderr } = await new Promise<{
      code: number | null;
      stdout: string;
      stderr: string;
    }>((resolve, reject) => {
      const node = runtime === "node" ? process.execPath : "node";
      const child = spawn(node, ["--import", "tsx", script], {
        cwd: repo,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout.on("data", (d) => {
        out += d;
      });
      child.stderr.on("data", (d) => {
        err += d;
      });
      const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.on("error", reject);
      child.on("close", (c, signal) => {
        clearTimeout(kill);
        resolve({ code: signal === null ? c : -1, stdout: out, stderr: err });
      });
    });
    // Killed (-1) would mean a worker held the process open.
    expect(code, stderr).toBe(0);
    expect(stdout.trim().split("\n")).toEqual(["2", "4"]);
  });
});

describe("threadPool in pipelines", () => {
  it("keeps input order while calls finish out of order, exactly as an in-thread stage", async () => {
    const pool = threadPool<typeof Tasks.delayed>(TASKS, "delayed", { threads: 3 });
    try {
      const items = [0, 1, 2, 3, 4, 5].map((value) => ({ value, ms: value === 0 ? 400 : 10 }));
      const ordered = StreamingPipeline.start<{ value: number; ms: number }>().map(
        "value",
        pool.task,
        { concurrency: pool.threads },
      );
      const unordered = StreamingPipeline.start<{ value: number; ms: number }>().map(
        "value",
        pool.task,
        { concurrency: pool.threads, ordered: false },
      );
      expect(await collect(ordered.executeFrom(items))).toEqual([0, 1, 2, 3, 4, 5]);
      // The same calls unordered: the slow first one finishes after the others.
      const done = await collect(unordered.executeFrom(items));
      expect(done).not.toEqual([0, 1, 2, 3, 4, 5]);
      expect([...done].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    } finally {
      await pool.close();
    }
  });

  it("holds no more than the stage's concurrency in the pool, and pulls no further ahead than the stage allows", async () => {
    const pool = threadPool<typeof Tasks.delayed>(TASKS, "delayed", { threads: 2 });
    try {
      let pulled = 0;
      let delivered = 0;
      let maxAhead = 0;
      let maxInPool = 0;
      async function* source() {
        for (let value = 0; value < 30; value++) {
          pulled++;
          maxAhead = Math.max(maxAhead, pulled - delivered);
          maxInPool = Math.max(maxInPool, pool.busy + pool.queued);
          yield { value, ms: value % 3 };
        }
      }
      const out: number[] = [];
      const run = StreamingPipeline.start<{ value: number; ms: number }>()
        .map("value", pool.task, { concurrency: pool.threads, buffer: 1 })
        .executeFrom(source());
      for await (const v of run) {
        delivered++;
        out.push(v);
        await new Promise((r) => setTimeout(r, 2));
      }
      expect(out).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect(maxInPool).toBeLessThanOrEqual(2);
      // concurrency 2 + buffer 1, plus the item in the consumer's hand.
      expect(maxAhead).toBeLessThanOrEqual(2 + 1 + 1);
    } finally {
      await pool.close();
    }
  });

  it("retries a failing task by the stage's policy: the thrown code crosses the thread", async () => {
    // One thread, so that the task's record of what it has seen is one worker's.
    const pool = threadPool<typeof Tasks.flaky>(TASKS, "flaky", { threads: 1 });
    try {
      const keys = ["a", "b", "c"];
      const retried = await collect(
        StreamingPipeline.start<string>()
          .map("out", pool.task, { concurrency: 2, retry: { maxAttempts: 2, backoffMs: 1 } })
          .executeFrom(keys),
      );
      expect(retried).toEqual(["a after 2 calls", "b after 2 calls", "c after 2 calls"]);
      // Without retry, the first failure (ECONNRESET, from the worker) fails the run.
      await expect(
        collect(
          StreamingPipeline.start<string>()
            .map("out", pool.task, { concurrency: 2 })
            .executeFrom(["d"]),
        ),
      ).rejects.toMatchObject({ code: "ECONNRESET", key: "out", itemIndex: 0 });
    } finally {
      await pool.close();
    }
  });

  it("SKIP_FAILED drops the failed items in both builders, each failure keeping its code", async () => {
    const pool = threadPool<typeof Tasks.evenOnly>(TASKS, "evenOnly", { threads: 2 });
    try {
      const items = [0, 1, 2, 3, 4, 5].map((n) => ({ n, ms: (6 - n) * 5 }));
      const streamed = await collect(
        StreamingPipeline.start<{ n: number; ms: number }>()
          .map("even", pool.task, { concurrency: pool.threads, errorStrategy: "SKIP_FAILED" })
          .executeFrom(items),
      );
      expect(streamed).toEqual([0, 2, 4]);

      const batch = await Pipeline.start<{ n: number; ms: number }[]>()
        .map(
          "even",
          createStep("even", ({ input, signal }) => pool.run(input, { signal })),
          { parallel: true, concurrencyLimit: pool.threads, errorStrategy: "SKIP_FAILED" },
        )
        .execute(items);
      expect(batch.success).toBe(true);
      if (!batch.success) return;
      expect(batch.data).toEqual([0, 2, 4]);
      expect(batch.metadata.errors?.map((e) => [e.itemIndex, e.code])).toEqual([
        [1, "BAD_ITEM"],
        [3, "BAD_ITEM"],
        [5, "BAD_ITEM"],
      ]);
    } finally {
      await pool.close();
    }
  });

  it("FAIL_FAST ends the run at the first failure and terminates the calls still spinning, in both builders", async () => {
    const pool = threadPool<typeof Tasks.spinOrFail>(TASKS, "spinOrFail", { threads: 2 });
    try {
      // Item 0 spins for 20 s; item 1 fails as soon as it runs.
      const items = [{ spinMs: 20_000 }, { failWith: "E_ITEM" }, { spinMs: 1 }];
      const started = performance.now();
      await expect(
        within(
          collect(
            StreamingPipeline.start<{ spinMs?: number; failWith?: string }>()
              .map("spin", pool.task, { concurrency: 2 })
              .executeFrom(items),
          ),
          "the streaming run",
          10_000,
        ),
      ).rejects.toMatchObject({ code: "E_ITEM", key: "spin", itemIndex: 1 });
      expect(pool.busy).toBe(0);

      const result = await within(
        Pipeline.start<{ spinMs?: number; failWith?: string }[]>()
          .map(
            "spin",
            createStep("spin", ({ input, signal }) => pool.run(input, { signal })),
            { parallel: true, concurrencyLimit: 2 },
          )
          .execute(items),
        "the batch run",
        10_000,
      );
      expect(result.success).toBe(false);
      if (result.success) return;
      expect(result.error).toMatchObject({ code: "E_ITEM", itemIndex: 1 });
      expect(pool.busy).toBe(0);
      // Neither run waited out the 20 s loop; generous for a loaded machine.
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(await pool.run({ spinMs: 1 })).toBe(1);
    } finally {
      await pool.close();
    }
  });

  it("breaking out of a run aborts every in-flight call at once and leaves no worker busy", async () => {
    const spin = threadPool<typeof Tasks.spin>(TASKS, "spin", { threads: 2 });
    try {
      const items = [5, 20_000, 20_000, 20_000];
      const seen: number[] = [];
      const started = performance.now();
      await within(
        (async () => {
          for await (const ms of StreamingPipeline.start<number>()
            .map("spin", spin.task, { concurrency: 3, ordered: false })
            .executeFrom(items)) {
            seen.push(ms);
            break;
          }
        })(),
        "breaking out of the run",
        10_000,
      );
      expect(seen).toEqual([5]);
      expect(performance.now() - started).toBeLessThan(10_000);
      expect(spin.busy).toBe(0);
      expect(spin.queued).toBe(0);
      // The workers of the aborted calls are gone; fresh ones serve the next call.
      expect(spin.workers).toBeLessThanOrEqual(1);
      expect(await spin.run(1)).toBe(1);
    } finally {
      await spin.close();
    }
  });
});
