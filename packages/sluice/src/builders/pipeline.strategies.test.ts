import { describe, expect, it } from "vitest";
import { createStep, ListErrorStrategy, Pipeline, StepError, type StepResult } from "../index.js";

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function ok<T>(r: StepResult<T>): T {
  if (!r.success) throw new Error(`expected success, got ${r.error.code}: ${r.error.message}`);
  return r.data;
}

function failure<T>(r: StepResult<T>): StepError {
  if (r.success) throw new Error(`expected failure, got ${JSON.stringify(r.data)}`);
  return r.error;
}

/** A step failing on the given inputs, counting calls per input. */
function failingOn(bad: ReadonlySet<number>, delay?: (n: number) => number) {
  const calls = new Map<number, number>();
  const step = createStep("work", async ({ input }: { input: number }) => {
    calls.set(input, (calls.get(input) ?? 0) + 1);
    const ms = delay?.(input) ?? 0;
    if (ms > 0) await sleep(ms);
    if (bad.has(input)) throw Object.assign(new Error(`bad ${input}`), { input });
    return input * 10;
  });
  return { step, calls };
}

const MODES = [
  { name: "sequential", options: {} },
  { name: "parallel", options: { parallel: true, concurrencyLimit: 3 } },
] as const;

describe("FAIL_FAST (default)", () => {
  it.each(MODES)(
    "$name: the first failure fails the run with the item's error",
    async ({ options }) => {
      const { step } = failingOn(new Set([3]));
      const r = await Pipeline.start<number[]>().map("m", step, options).execute([1, 2, 3, 4, 5]);
      const e = failure(r);
      expect(e).toBeInstanceOf(StepError);
      expect(e.key).toBe("m");
      expect(e.itemIndex).toBe(2);
      expect(e.message).toContain("bad 3");
      expect(r.metadata.status).toBe("failed");
      expect(r.metadata.stages?.[0]?.strategy).toBe("FAIL_FAST");
    },
  );

  it("sequential: no item after the failing one is started", async () => {
    const { step, calls } = failingOn(new Set([2]));
    const r = await Pipeline.start<number[]>().map("m", step).execute([1, 2, 3, 4]);
    expect(r.success).toBe(false);
    expect([...calls.keys()]).toEqual([1, 2]);
  });

  it("parallel: starts no new item after the first failure and aborts in-flight signals", async () => {
    const started: number[] = [];
    const abortedSignals: number[] = [];
    const settled: number[] = [];
    const step = createStep("w", ({ input, signal }: { input: number; signal: AbortSignal }) => {
      started.push(input);
      if (input === 0) {
        return new Promise<number>((_, reject) => setTimeout(() => reject(new Error("fail 0")), 5));
      }
      return new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => {
          settled.push(input);
          resolve(input);
        }, 2_000);
        signal.addEventListener("abort", () => {
          abortedSignals.push(input);
          clearTimeout(t);
          reject(signal.reason);
        });
      });
    });
    const t0 = performance.now();
    const r = await Pipeline.start<number[]>()
      .map("m", step, { parallel: true, concurrencyLimit: 4 })
      .execute(Array.from({ length: 20 }, (_, i) => i));
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(failure(r).message).toContain("fail 0");
    expect(failure(r).itemIndex).toBe(0);
    expect(started.sort((a, b) => a - b)).toEqual([0, 1, 2, 3]);
    expect(abortedSignals.sort((a, b) => a - b)).toEqual([1, 2, 3]);
    expect(settled).toEqual([]);
  });

  it("parallel: items that finish after the failure do not start new items either", async () => {
    // Item 1 fails at 5 ms; items 0,2 finish at 10 ms (ignoring the signal). Nothing else starts.
    const started: number[] = [];
    const step = createStep("w", async ({ input }: { input: number }) => {
      started.push(input);
      if (input === 1) {
        await sleep(5);
        throw new Error("one");
      }
      await sleep(15);
      return input;
    });
    const r = await Pipeline.start<number[]>()
      .map("m", step, { parallel: true, concurrencyLimit: 3 })
      .execute([0, 1, 2, 3, 4, 5]);
    expect(failure(r).message).toContain("one");
    await sleep(30);
    expect(started.sort()).toEqual([0, 1, 2]);
  });

  it("FAIL_FAST in a filter and a flatMap stage", async () => {
    const f = await Pipeline.start<number[]>()
      .filter("f", (n) => {
        if (n === 2) throw new Error("pred");
        return true;
      })
      .execute([1, 2, 3]);
    expect(failure(f)).toMatchObject({ key: "f", itemIndex: 1 });
    const fm = await Pipeline.start<number[]>()
      .flatMap(
        "fm",
        createStep("fm", ({ input }) => {
          if (input === 3) throw new Error("fm");
          return [input];
        }),
        { parallel: true },
      )
      .execute([1, 2, 3]);
    expect(failure(fm)).toMatchObject({ key: "fm", itemIndex: 2 });
  });
});

describe("SKIP_FAILED", () => {
  it.each(MODES)(
    "$name: returns successes in input order and records every failure",
    async ({ options }) => {
      const bad = new Set([0, 3, 4, 9]);
      const { step, calls } = failingOn(bad, (n) => (n * 7) % 5);
      const input = Array.from({ length: 10 }, (_, i) => i);
      const r = await Pipeline.start<number[]>()
        .map("m", step, { ...options, errorStrategy: ListErrorStrategy.SKIP_FAILED })
        .execute(input);
      expect(ok(r)).toEqual([1, 2, 5, 6, 7, 8].map((n) => n * 10));
      expect(calls.size).toBe(10);
      const errors = r.metadata.errors ?? [];
      expect(errors).toHaveLength(4);
      expect(errors.map((e) => e.itemIndex).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([
        0, 3, 4, 9,
      ]);
      for (const e of errors) {
        expect(e).toBeInstanceOf(StepError);
        expect(e.key).toBe("m");
        expect(e.message).toContain(`bad ${e.itemIndex}`);
      }
      const stage = r.metadata.stages?.[0];
      expect(stage?.counts).toMatchObject({ in: 10, out: 6, succeeded: 6, failed: 4, skipped: 4 });
      expect(stage?.strategy).toBe("SKIP_FAILED");
      expect(r.metadata.status).toBe("completed");
    },
  );

  it("all items failing yields an empty array, not a failure", async () => {
    const { step } = failingOn(new Set([1, 2]));
    const r = await Pipeline.start<number[]>()
      .map("m", step, { errorStrategy: "SKIP_FAILED", parallel: true })
      .execute([1, 2]);
    expect(ok(r)).toEqual([]);
    expect(r.metadata.errors).toHaveLength(2);
  });

  it("records failures of several stages, and later stages see only the successes", async () => {
    const seenByLater: number[][] = [];
    const r = await Pipeline.start<number[]>()
      .map(
        "a",
        createStep("a", ({ input }) => {
          if (input === 1) throw new Error("a1");
          return input;
        }),
        { errorStrategy: "SKIP_FAILED" },
      )
      .filter(
        "b",
        (n) => {
          if (n === 3) throw new Error("b3");
          return true;
        },
        { errorStrategy: "SKIP_FAILED" },
      )
      .add(
        "c",
        createStep("c", ({ input, state }) => {
          seenByLater.push([...state.a], [...state.b]);
          return input;
        }),
      )
      .execute([0, 1, 2, 3]);
    expect(ok(r)).toEqual([0, 2]);
    expect(seenByLater).toEqual([
      [0, 2, 3],
      [0, 2],
    ]);
    expect(r.metadata.errors?.map((e) => [e.key, e.itemIndex])).toEqual([
      ["a", 1],
      ["b", 2],
    ]);
  });

  it("keeps undefined/null successes and skips a failure returning nothing", async () => {
    const r = await Pipeline.start<(number | null | undefined)[]>()
      .map(
        "m",
        createStep("m", ({ input }) => {
          if (input === 0) throw new Error("zero");
          return input;
        }),
        { errorStrategy: "SKIP_FAILED", parallel: true },
      )
      .execute([undefined, 0, null, 1]);
    expect(ok(r)).toEqual([undefined, null, 1]);
  });
});

describe("COLLECT_ERRORS", () => {
  it.each(MODES)(
    "$name: processes every item, then fails with every error and every success",
    async ({ options }) => {
      const bad = new Set([1, 4, 5]);
      const { step, calls } = failingOn(bad, (n) => (n * 3) % 4);
      const input = [0, 1, 2, 3, 4, 5, 6];
      const r = await Pipeline.start<number[]>()
        .map("m", step, { ...options, errorStrategy: ListErrorStrategy.COLLECT_ERRORS })
        .execute(input);
      const e = failure(r);
      expect(calls.size).toBe(7);
      expect(e.code).toBe("COLLECTED_ERRORS");
      expect(e.key).toBe("m");
      const errors = e.errors ?? [];
      expect(errors.map((x) => x.index).sort()).toEqual([1, 4, 5]);
      for (const x of errors) {
        expect(x.item).toBe(input[x.index]);
        expect(x.error).toBeInstanceOf(StepError);
        expect(x.error.message).toContain(`bad ${x.item}`);
      }
      expect(e.results).toEqual([0, 2, 3, 6].map((n) => n * 10));
      expect(r.metadata.status).toBe("failed");
      expect(r.metadata.stages?.[0]?.counts).toMatchObject({ in: 7, succeeded: 4, failed: 3 });
    },
  );

  it("succeeds when nothing fails", async () => {
    const { step } = failingOn(new Set());
    const r = await Pipeline.start<number[]>()
      .map("m", step, { errorStrategy: "COLLECT_ERRORS", parallel: true })
      .execute([1, 2]);
    expect(ok(r)).toEqual([10, 20]);
  });

  it("stops the pipeline: later stages do not run", async () => {
    let later = false;
    const { step } = failingOn(new Set([2]));
    const r = await Pipeline.start<number[]>()
      .map("m", step, { errorStrategy: "COLLECT_ERRORS" })
      .add(
        "later",
        createStep("later", ({ input }) => {
          later = true;
          return input;
        }),
      )
      .execute([1, 2, 3]);
    expect(failure(r).code).toBe("COLLECTED_ERRORS");
    expect(later).toBe(false);
  });

  it("keeps items whose value is undefined or null, in errors and in results", async () => {
    const r = await Pipeline.start<(number | null | undefined)[]>()
      .map(
        "m",
        createStep("m", ({ input }) => {
          if (input === undefined) throw new Error("undef item");
          return input;
        }),
        { errorStrategy: "COLLECT_ERRORS" },
      )
      .execute([null, undefined, 1]);
    const e = failure(r);
    expect(e.errors?.map((x) => [x.index, x.item])).toEqual([[1, undefined]]);
    expect(e.results).toEqual([null, 1]);
  });

  it("flatMap under COLLECT_ERRORS collects the flattened successes in order", async () => {
    const r = await Pipeline.start<number[]>()
      .flatMap(
        "fm",
        createStep("fm", async ({ input }) => {
          await sleep((input * 5) % 3);
          if (input === 2) throw new Error("two");
          return [input, input];
        }),
        { parallel: true, errorStrategy: "COLLECT_ERRORS" },
      )
      .execute([1, 2, 3]);
    const e = failure(r);
    expect(e.results).toEqual([1, 1, 3, 3]);
    expect(e.errors?.map((x) => x.index)).toEqual([1]);
  });
});

describe("strategies with many items and random failures (order and completeness)", () => {
  it("every strategy × mode keeps input order among successes", async () => {
    for (const errorStrategy of Object.values(ListErrorStrategy)) {
      for (const { options } of MODES) {
        const input = Array.from({ length: 40 }, (_, i) => i);
        const bad = new Set(input.filter(() => Math.random() < 0.2));
        const { step } = failingOn(bad, () => Math.floor(Math.random() * 3));
        const r = await Pipeline.start<number[]>()
          .map("m", step, { ...options, errorStrategy })
          .execute(input);
        const expected = input.filter((n) => !bad.has(n)).map((n) => n * 10);
        if (bad.size === 0) {
          expect(ok(r)).toEqual(expected);
        } else if (errorStrategy === "SKIP_FAILED") {
          expect(ok(r)).toEqual(expected);
        } else if (errorStrategy === "COLLECT_ERRORS") {
          const e = failure(r);
          expect(e.results).toEqual(expected);
          expect(e.errors?.map((x) => x.index).sort((a, b) => a - b)).toEqual(
            [...bad].sort((a, b) => a - b),
          );
        } else {
          expect(failure(r).itemIndex !== undefined && bad.has(failure(r).itemIndex ?? -1)).toBe(
            true,
          );
        }
      }
    }
  });
});
