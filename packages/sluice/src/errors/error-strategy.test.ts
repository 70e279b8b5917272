import { describe, expect, it } from "vitest";
import {
  type ErrorRecord,
  StepError,
  StreamingError,
  StreamingErrorStrategy,
  StreamingPipeline,
} from "../index.js";

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

async function* asyncOf<T>(items: readonly T[]) {
  for (const x of items) {
    await Promise.resolve();
    yield x;
  }
}

/** Fails on multiples of 3 with a coded error. */
const failOn3 = (n: number) => {
  if (n % 3 === 0) throw Object.assign(new Error(`bad ${n}`), { code: "E_THREE" });
  return n * 10;
};
const failOn3Async = async (n: number) => {
  await Promise.resolve();
  return failOn3(n);
};

const modes = [
  { name: "sequential sync", fn: failOn3, options: {} },
  { name: "sequential async", fn: failOn3Async, options: {} },
  { name: "parallel ordered", fn: failOn3Async, options: { concurrency: 3 } },
  { name: "parallel unordered", fn: failOn3Async, options: { concurrency: 3, ordered: false } },
  { name: "buffered", fn: failOn3Async, options: { buffer: 2 } },
] as const;

const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);

describe("FAIL_FAST (default)", () => {
  for (const mode of modes) {
    it(`throws a StreamingError with the failure's details (${mode.name})`, async () => {
      const p = StreamingPipeline.start<number>()
        .map("id", (n) => n)
        .map("work", mode.fn, mode.options);
      const run = p.executeFrom(asyncOf([1, 2, 3, 4, 5]));
      const { error } = await outcome(run);
      expect(error).toBeInstanceOf(StreamingError);
      expect(error).toBeInstanceOf(StepError);
      const e = error as StreamingError;
      expect(e.name).toBe("StreamingError");
      expect(e.code).toBe("E_THREE");
      expect(e.key).toBe("work");
      expect(e.itemIndex).toBe(2);
      expect(e.attempts).toBe(1);
      expect(e.retryable).toBe(false);
      expect(e.traceId).toBe(run.traceId);
      expect(e.spanId).toBe(run.metadata().stages[1]?.spanId);
      expect((e.cause as Error).message).toBe("bad 3");
      expect(e.message).toContain("bad 3");
      expect(e.message).toContain('"work"');
      expect(run.metadata().status).toBe("failed");
      expect(run.metadata().errors).toEqual([]);
    });
  }

  it("delivers items that succeeded before the failure (async source)", async () => {
    const p = StreamingPipeline.start<number>().map("work", failOn3);
    const { items, error } = await outcome(p.executeFrom(asyncOf([1, 2, 3, 4])));
    expect(items).toEqual([10, 20]);
    expect(error).toBeInstanceOf(StreamingError);
  });

  it("uses STEP_FAILED when the cause has no code, and wraps thrown non-errors", async () => {
    const plain = StreamingPipeline.start<number>().map("m", () => {
      throw new Error("plain");
    });
    const { error } = await outcome(plain.executeFrom([1]));
    expect((error as StreamingError).code).toBe("STEP_FAILED");

    const str = StreamingPipeline.start<number>().map("m", () => {
      throw "just a string";
    });
    const r = await outcome(str.executeFrom([1]));
    const e = r.error as StreamingError;
    expect(e).toBeInstanceOf(StreamingError);
    expect(e.code).toBe("NON_ERROR_THROWN");
    expect(e.message).toContain("just a string");
  });

  it("keeps a retryable flag the cause declared", async () => {
    const p = StreamingPipeline.start<number>().map("m", () => {
      throw Object.assign(new Error("try later"), { status: 503 });
    });
    const { error } = await outcome(p.executeFrom([1]));
    expect((error as StreamingError).retryable).toBe(true);
  });

  it("fails on rejected promises like on throws, in filter, tap and flatMap too", async () => {
    const bad = async () => {
      throw new Error("async bad");
    };
    for (const p of [
      StreamingPipeline.start<number>().filter("f", bad),
      StreamingPipeline.start<number>().tap("t", bad),
      StreamingPipeline.start<number>().flatMap("fm", bad),
    ]) {
      const { error } = await outcome(p.executeFrom([1]));
      expect(error).toBeInstanceOf(StreamingError);
      expect((error as StreamingError).key).toMatch(/^(f|t|fm)$/);
    }
  });
});

describe("SKIP_FAILED", () => {
  for (const mode of modes) {
    it(`drops failures, records each in metadata.errors (${mode.name})`, async () => {
      const p = StreamingPipeline.start<number>().map("work", mode.fn, {
        ...mode.options,
        errorStrategy: "SKIP_FAILED",
      });
      const run = p.executeFrom(asyncOf([1, 2, 3, 4, 5, 6, 7]));
      const out = await collect(run);
      const expected = [10, 20, 40, 50, 70];
      expect("ordered" in mode.options ? sorted(out) : out).toEqual(expected);
      const meta = run.metadata();
      expect(meta.status).toBe("completed");
      expect(meta.errors).toHaveLength(2);
      for (const e of meta.errors) {
        expect(e).toBeInstanceOf(StreamingError);
        expect(e.code).toBe("E_THREE");
        expect(e.key).toBe("work");
      }
      expect(sorted(meta.errors.map((e) => e.itemIndex ?? -1))).toEqual([2, 5]);
      expect(meta.stages[0]?.counts).toMatchObject({ failed: 2, skipped: 2, succeeded: 5, out: 5 });
    });
  }

  it("a skipped filter or tap item is dropped, not passed", async () => {
    const p = StreamingPipeline.start<number>()
      .filter(
        "f",
        (n) => {
          if (n === 2) throw new Error("f");
          return true;
        },
        { errorStrategy: "SKIP_FAILED" },
      )
      .tap(
        "t",
        (n) => {
          if (n === 3) throw new Error("t");
        },
        { errorStrategy: "SKIP_FAILED" },
      );
    const run = p.executeFrom([1, 2, 3, 4]);
    expect(await collect(run)).toEqual([1, 4]);
    expect(run.metadata().errors.map((e) => e.key)).toEqual(["f", "t"]);
  });
});

describe("COLLECT_ERRORS", () => {
  for (const mode of modes) {
    it(`lets successes flow, then throws COLLECTED_ERRORS with every error (${mode.name})`, async () => {
      const p = StreamingPipeline.start<number>().map("work", mode.fn, {
        ...mode.options,
        errorStrategy: "COLLECT_ERRORS",
      });
      const run = p.executeFrom(asyncOf([1, 2, 3, 4, 5, 6, 7]));
      const { items, error } = await outcome(run);
      expect("ordered" in mode.options ? sorted(items) : items).toEqual([10, 20, 40, 50, 70]);
      expect(error).toBeInstanceOf(StreamingError);
      const e = error as StreamingError;
      expect(e.code).toBe("COLLECTED_ERRORS");
      expect(e.traceId).toBe(run.traceId);
      expect(e.errors).toHaveLength(2);
      const byIndex = [...(e.errors ?? [])].sort((a, b) => a.index - b.index);
      expect(byIndex.map((x) => x.item)).toEqual([3, 6]);
      expect(byIndex.map((x) => x.index)).toEqual([2, 5]);
      for (const x of byIndex) {
        expect(x.error).toBeInstanceOf(StreamingError);
        expect(x.error.code).toBe("E_THREE");
      }
      expect(e.message).toContain("work");
      expect(run.metadata().status).toBe("failed");
      expect(run.metadata().errors).toHaveLength(2);
    });
  }

  it("completes normally when nothing failed", async () => {
    const p = StreamingPipeline.start<number>().map("m", (n) => n, {
      errorStrategy: "COLLECT_ERRORS",
    });
    const run = p.executeFrom([1, 2]);
    expect(await collect(run)).toEqual([1, 2]);
    expect(run.metadata().status).toBe("completed");
  });

  it("collects across stages and names every failing stage", async () => {
    const p = StreamingPipeline.start<number>(undefined, { errorStrategy: "COLLECT_ERRORS" })
      .map("a", (n) => {
        if (n === 1) throw new Error("a1");
        return n;
      })
      .map("b", (n) => {
        if (n === 2) throw new Error("b2");
        return n;
      });
    const { items, error } = await outcome(p.executeFrom([1, 2, 3]));
    expect(items).toEqual([3]);
    const e = error as StreamingError;
    expect(e.code).toBe("COLLECTED_ERRORS");
    expect(e.errors?.map((x) => x.item)).toEqual([1, 2]);
    expect(e.message).toMatch(/a, b/);
  });

  it("a consumer that stops early gets no collected error", async () => {
    const p = StreamingPipeline.start<number>().map("m", failOn3, {
      errorStrategy: "COLLECT_ERRORS",
    });
    const run = p.executeFrom([3, 1, 2]);
    for await (const n of run) if (n === 10) break;
    expect(run.metadata().status).toBe("cancelled");
  });
});

describe("SPLIT_ERRORS", () => {
  for (const mode of modes) {
    it(`routes failures to run.errors and the main stream succeeds (${mode.name})`, async () => {
      const p = StreamingPipeline.start<number>().map("work", mode.fn, {
        ...mode.options,
        errorStrategy: "SPLIT_ERRORS",
      });
      const run = p.executeFrom(asyncOf([1, 2, 3, 4, 5, 6, 7]));
      const [items, errors] = await Promise.all([collect(run), collect(run.errors)]);
      expect("ordered" in mode.options ? sorted(items) : items).toEqual([10, 20, 40, 50, 70]);
      expect(run.metadata().status).toBe("completed");
      const byIndex = [...errors].sort((a, b) => a.index - b.index);
      expect(byIndex.map((r) => [r.item, r.key, r.index])).toEqual([
        [3, "work", 2],
        [6, "work", 5],
      ]);
      for (const r of byIndex) {
        expect(r.error).toBeInstanceOf(StreamingError);
        expect(r.error.code).toBe("E_THREE");
      }
      expect(run.metadata().errors).toHaveLength(2);
    });
  }

  it("run.errors is readable while the main stream runs", async () => {
    const p = StreamingPipeline.start<number>().map("m", failOn3, {
      errorStrategy: "SPLIT_ERRORS",
    });
    const run = p.executeFrom(asyncOf([1, 2, 3, 4, 5, 6]));
    const side = run.errors[Symbol.asyncIterator]();
    const sideFirst = side.next();
    const main: number[] = [];
    let sideSeenAt = -1;
    void sideFirst.then(() => {
      sideSeenAt = main.length;
    });
    for await (const n of run) {
      main.push(n);
      await new Promise((r) => setImmediate(r));
    }
    expect(main).toEqual([10, 20, 40, 50]);
    expect((await sideFirst).value).toMatchObject({ item: 3, index: 2, key: "m" });
    // The side stream's first record arrived before the main stream ended.
    expect(sideSeenAt).toBeGreaterThanOrEqual(0);
    expect(sideSeenAt).toBeLessThan(main.length);
    expect((await side.next()).value).toMatchObject({ item: 6 });
    expect(await side.next()).toEqual({ value: undefined, done: true });
  });

  it("run.errors can be read after the main stream ended, then ends", async () => {
    const p = StreamingPipeline.start<number>().map("m", failOn3, {
      errorStrategy: "SPLIT_ERRORS",
    });
    const run = p.executeFrom([3, 4, 6]);
    expect(await collect(run)).toEqual([40]);
    const errors: ErrorRecord[] = await collect(run.errors);
    expect(errors.map((r) => r.item)).toEqual([3, 6]);
  });

  it("run.errors ends when the run is cancelled", async () => {
    const p = StreamingPipeline.start<number>().map("m", failOn3, {
      errorStrategy: "SPLIT_ERRORS",
    });
    const run = p.executeFrom(asyncOf([3, 1, 2, 3]));
    const side = collect(run.errors);
    for await (const n of run) if (n === 10) break;
    expect((await side).map((r) => r.item)).toEqual([3]);
  });

  it("a FAIL_FAST stage later in the pipeline still fails the run", async () => {
    const p = StreamingPipeline.start<number>()
      .map("a", failOn3, { errorStrategy: "SPLIT_ERRORS" })
      .map("b", (n) => {
        if (n === 40) throw new Error("b fails");
        return n;
      });
    const run = p.executeFrom([3, 4]);
    const side = collect(run.errors);
    const { error } = await outcome(run);
    expect((error as StreamingError).key).toBe("b");
    expect((await side).map((r) => r.key)).toEqual(["a"]);
  });
});

describe("strategy defaults and validation", () => {
  it("start(undefined, { errorStrategy }) is the default of every per-item stage", async () => {
    const p = StreamingPipeline.start<number>(undefined, { errorStrategy: "SKIP_FAILED" })
      .map("a", failOn3)
      .filter("f", (n) => {
        if (n === 40) throw new Error("f");
        return true;
      })
      .flatMap("fm", (n) => {
        if (n === 50) throw new Error("fm");
        return [n];
      })
      .tap("t", (n) => {
        if (n === 70) throw new Error("t");
      });
    const run = p.executeFrom([1, 2, 3, 4, 5, 7, 8]);
    expect(await collect(run)).toEqual([10, 20, 80]);
    expect(run.metadata().errors.map((e) => e.key)).toEqual(["a", "f", "fm", "t"]);
    expect(run.metadata().stages.map((s) => s.strategy)).toEqual([
      "SKIP_FAILED",
      "SKIP_FAILED",
      "SKIP_FAILED",
      "SKIP_FAILED",
    ]);
  });

  it("a stage's own errorStrategy overrides the pipeline default", async () => {
    const p = StreamingPipeline.start<number>(undefined, { errorStrategy: "SKIP_FAILED" })
      .map("lenient", failOn3)
      .map(
        "strict",
        (n) => {
          if (n === 40) throw new Error("strict");
          return n;
        },
        { errorStrategy: "FAIL_FAST" },
      );
    const { items, error } = await outcome(p.executeFrom(asyncOf([3, 1, 4, 5])));
    expect(items).toEqual([10]);
    expect((error as StreamingError).key).toBe("strict");
  });

  it("exposes the strategies as constants", () => {
    expect(StreamingErrorStrategy).toMatchObject({
      FAIL_FAST: "FAIL_FAST",
      SKIP_FAILED: "SKIP_FAILED",
      COLLECT_ERRORS: "COLLECT_ERRORS",
      SPLIT_ERRORS: "SPLIT_ERRORS",
    });
  });

  it("rejects an unknown strategy with a RangeError naming the option and the key", () => {
    const call = () =>
      StreamingPipeline.start<number>().map("myStage", (n) => n, {
        errorStrategy: "IGNORE" as StreamingErrorStrategy,
      });
    expect(call).toThrow(RangeError);
    expect(call).toThrow(/errorStrategy/);
    expect(call).toThrow(/myStage/);
    expect(() =>
      StreamingPipeline.start<number>(undefined, {
        errorStrategy: "nope" as StreamingErrorStrategy,
      }),
    ).toThrow(RangeError);
  });
});
