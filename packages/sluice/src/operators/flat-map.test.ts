import { describe, expect, it } from "vitest";
import { createStep, StreamingError, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const modes = [
  { name: "sequential", options: {} },
  { name: "parallel", options: { concurrency: 3 } },
  { name: "buffered", options: { buffer: 1 } },
] as const;

describe("flatMap", () => {
  for (const { name, options } of modes) {
    it(`passes on every element of arrays, in order, dropping empty expansions (${name})`, async () => {
      const p = StreamingPipeline.start<number>().flatMap(
        "rep",
        (n) => Array.from({ length: n }, () => n),
        options,
      );
      expect(await collect(p.executeFrom([2, 0, 3, 1]))).toEqual([2, 2, 3, 3, 3, 1]);
    });

    it(`accepts Iterables, generators, AsyncIterables and async fns (${name})`, async () => {
      const p = StreamingPipeline.start<number>().flatMap(
        "many",
        (n) => {
          switch (n % 4) {
            case 0:
              return new Set([n, n]);
            case 1:
              return (function* () {
                yield n;
                yield -n;
              })();
            case 2:
              return (async function* () {
                await Promise.resolve();
                yield n;
              })();
            default:
              return [n, n, n];
          }
        },
        options,
      );
      expect(await collect(p.executeFrom([0, 1, 2, 3]))).toEqual([0, 1, -1, 2, 3, 3, 3]);
      const a = StreamingPipeline.start<number>().flatMap("a", async (n) => [n, n * 10], options);
      expect(await collect(a.executeFrom([1, 2]))).toEqual([1, 10, 2, 20]);
    });

    it(`keeps undefined and null elements (${name})`, async () => {
      const p = StreamingPipeline.start<number>().flatMap("m", () => [undefined, null], options);
      expect(await collect(p.executeFrom([1]))).toEqual([undefined, null]);
    });

    it(`gives every output its source item's lineage (${name})`, async () => {
      const p = StreamingPipeline.start<string>()
        .map("src", (s) => s.toUpperCase())
        .flatMap("parts", (s) => s.split("-"), options)
        .map("out", (part, ctx) => `${ctx.state.src}:${part}:${ctx.state.parts}`);
      expect(await collect(p.executeFrom(["a-b", "c"]))).toEqual(["A-B:A:A", "A-B:B:B", "C:C:C"]);
    });
  }

  it("an item's ctx.index counts inputs, not outputs", async () => {
    const p = StreamingPipeline.start<number>()
      .flatMap("dup", (n) => [n, n])
      .flatMap("idx", (n, ctx) => [[n, ctx.index]]);
    expect(await collect(p.executeFrom([5, 6]))).toEqual([
      [5, 0],
      [5, 1],
      [6, 2],
      [6, 3],
    ]);
  });

  it("fails an item whose result is not iterable", async () => {
    const p = StreamingPipeline.start<number>().flatMap("bad", () => 42 as unknown as number[]);
    let error: unknown;
    try {
      await collect(p.executeFrom([1]));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StreamingError);
    expect((error as StreamingError).key).toBe("bad");
    expect((error as Error).message).toMatch(/array, Iterable or AsyncIterable/);
  });

  it("a failing async expansion under SKIP_FAILED emits none of its elements", async () => {
    const p = StreamingPipeline.start<number>().flatMap(
      "fm",
      async function* (n: number) {
        yield n;
        if (n === 2) throw new Error("half way");
        yield n * 10;
      },
      { errorStrategy: "SKIP_FAILED" },
    );
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([1, 10, 3, 30]);
  });

  it("a large expansion is delivered completely", async () => {
    const p = StreamingPipeline.start<number>()
      .flatMap("big", (n) => Array.from({ length: n }, (_, i) => i))
      .map("m", async (i) => i, { concurrency: 4 });
    const out = await collect(p.executeFrom([1000]));
    expect(out).toHaveLength(1000);
    expect(out[999]).toBe(999);
  });

  it("validates its options at build time", () => {
    const build = () =>
      StreamingPipeline.start<number>().flatMap("fmKey", (n) => [n], { concurrency: 0 });
    expect(build).toThrow(RangeError);
    expect(build).toThrow(/concurrency/);
    expect(build).toThrow(/fmKey/);
    expect(() =>
      StreamingPipeline.start<number>().flatMap("x", null as unknown as () => number[]),
    ).toThrow(TypeError);
  });
});

describe("flatMap with a batch Step (createStep)", () => {
  it("expands each item by the step's array, with its state, context, name and retry", async () => {
    let calls = 0;
    const words = createStep<string, string[], { line: string }, { sep: string }>(
      "words",
      ({ input, state, context }) => {
        calls++;
        if (calls === 1) throw Object.assign(new Error("flaky"), { status: 503 });
        return `${state.line}${context.sep}${input}`.split(context.sep);
      },
      { retry: { maxAttempts: 2, backoffMs: 1 } },
    );
    const run = StreamingPipeline.start<string, { sep: string }>(() => ({ sep: " " }))
      .map("line", (s) => s.trim())
      .flatMap("words", words)
      .executeFrom([" a b ", "c"]);
    expect(await collect(run)).toEqual(["a", "b", "a", "b", "c", "c"]);
    expect(run.metadata().stages[1]?.stepName).toBe("words");
    expect(run.metadata().stages[1]?.counts.retried).toBe(1);
  });
});
