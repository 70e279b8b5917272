import { describe, expect, it } from "vitest";
import {
  createStreamingStep,
  type SnapshotApi,
  StreamingPipeline,
  type StreamingStep,
  type StreamingStepContext,
} from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const dedupe = createStreamingStep(
  "dedupe",
  async function* ({ input }: StreamingStepContext<number>) {
    const seen = new Set<number>();
    for await (const n of input) {
      if (!seen.has(n)) {
        seen.add(n);
        yield n;
      }
    }
  },
);

const pairs = createStreamingStep(
  "pairs",
  async function* ({ input }: StreamingStepContext<number>) {
    let prev: number | undefined;
    for await (const n of input) {
      if (prev !== undefined) yield [prev, n] as const;
      prev = n;
    }
  },
);

describe("add(createStreamingStep)", () => {
  it("transforms the whole stream (filters, N:1, 1:N)", async () => {
    const p = StreamingPipeline.start<number>().add("d", dedupe).add("p", pairs);
    expect(await collect(p.executeFrom([1, 1, 2, 3, 2, 4]))).toEqual([
      [1, 2],
      [2, 3],
      [3, 4],
    ]);
    const expand = createStreamingStep(
      "expand",
      async function* ({ input }: StreamingStepContext<string>) {
        for await (const s of input) yield* s.split("");
      },
    );
    expect(
      await collect(StreamingPipeline.start<string>().add("e", expand).executeFrom(["ab", "c"])),
    ).toEqual(["a", "b", "c"]);
  });

  it("pulls its input lazily from upstream", async () => {
    let produced = 0;
    async function* gen() {
      for (let i = 0; i < 100; i++) {
        produced++;
        yield i;
      }
    }
    const run = StreamingPipeline.start<number>().add("d", dedupe).executeFrom(gen());
    expect(await run.next()).toEqual({ value: 0, done: false });
    expect(produced).toBeLessThan(100);
    await run.return();
  });

  it("gets context, signal, traceId, spanId and the snapshot API", async () => {
    type Ctx = StreamingStepContext<number, SnapshotApi<{ readonly cp: number }>, { tag: string }>;
    const seen: Ctx[] = [];
    const step = createStreamingStep("probe", async function* (ctx: Ctx) {
      seen.push(ctx);
      const state = ctx.state;
      // The checkpoint upstream materializes when the step first pulls its input.
      const before = state.hasSnapshot("cp");
      for await (const n of ctx.input) {
        yield `${ctx.context.tag}${n}/${state.materialize("cp").length}/${before}`;
      }
    });
    const p = StreamingPipeline.start<number, { tag: string }>(() => ({ tag: "#" }))
      .checkpoint("cp")
      .add("probe", step);
    const run = p.executeFrom([1, 2]);
    expect(await collect(run)).toEqual(["#1/2/false", "#2/2/false"]);
    const ctx = seen[0];
    expect(ctx?.traceId).toBe(run.traceId);
    expect(ctx?.spanId).toBe(run.metadata().stages[1]?.spanId);
    expect(ctx?.signal).toBeInstanceOf(AbortSignal);
    expect(run.metadata().stages[1]).toMatchObject({ kind: "transform", stepName: "probe" });
  });

  it("an output inherits the lineage of the last input the step pulled", async () => {
    const p = StreamingPipeline.start<string>()
      .map("orig", (s) => s)
      .map("len", (s) => s.length)
      .add("d", dedupe)
      .map("out", (n, ctx) => `${n}<-${ctx.state.orig}`);
    expect(await collect(p.executeFrom(["a", "b", "cc", "dd", "eee"]))).toEqual([
      "1<-a",
      "2<-cc",
      "3<-eee",
    ]);
    const q = StreamingPipeline.start<number>()
      .map("orig", (n) => n * 10)
      .add("p", pairs)
      .map("out", (pair, ctx) => [pair, ctx.state.orig, ctx.state.p]);
    expect(await collect(q.executeFrom([1, 2, 3]))).toEqual([
      [[10, 20], 20, [10, 20]],
      [[20, 30], 30, [20, 30]],
    ]);
  });

  it("a step that stops reading closes upstream down to the source; its outputs still flow", async () => {
    let finallyRan = 0;
    let produced = 0;
    async function* endless() {
      try {
        for (let i = 0; ; i++) {
          produced++;
          yield i;
        }
      } finally {
        finallyRan++;
      }
    }
    const firstThree = createStreamingStep(
      "first3",
      async function* ({ input }: StreamingStepContext<number>) {
        let k = 0;
        for await (const n of input) {
          yield n;
          if (++k === 3) break;
        }
        yield -1;
      },
    );
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n, { concurrency: 2 })
      .add("f", firstThree)
      .executeFrom(endless());
    expect(await collect(run)).toEqual([0, 1, 2, -1]);
    expect(finallyRan).toBe(1);
    expect(produced).toBeLessThan(20);
    expect(run.metadata().status).toBe("completed");
  });

  it("cancelling the run closes the step (its finally runs, its signal aborts) and the source", async () => {
    const c = { stepFinally: 0, sourceFinally: 0, abortedAtFinally: false };
    async function* endless() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        c.sourceFinally++;
      }
    }
    const step = createStreamingStep(
      "s",
      async function* ({ input, signal }: StreamingStepContext<number>) {
        try {
          for await (const n of input) yield n;
        } finally {
          c.stepFinally++;
          c.abortedAtFinally = signal.aborted;
        }
      },
    );
    const run = StreamingPipeline.start<number>().add("s", step).executeFrom(endless());
    for await (const n of run) if (n === 3) break;
    expect(c).toEqual({ stepFinally: 1, sourceFinally: 1, abortedAtFinally: true });
    expect(run.metadata().status).toBe("cancelled");
  });

  it("an error thrown by the step ends the run whatever the error strategy", async () => {
    const failing = createStreamingStep(
      "fails",
      async function* ({ input }: StreamingStepContext<number>) {
        for await (const n of input) {
          if (n === 2) throw new Error("step broke");
          yield n;
        }
      },
    );
    const p = StreamingPipeline.start<number>(undefined, { errorStrategy: "SKIP_FAILED" }).add(
      "f",
      failing,
    );
    const seen: number[] = [];
    const run = p.executeFrom([1, 2, 3]);
    await expect(
      (async () => {
        for await (const n of run) seen.push(n);
      })(),
    ).rejects.toThrow("step broke");
    expect(seen).toEqual([1]);
    expect(run.metadata().status).toBe("failed");
  });

  it("an upstream failure reaches the step's input and fails the run", async () => {
    const p = StreamingPipeline.start<number>()
      .map("m", (n) => {
        if (n === 2) throw new Error("upstream");
        return n;
      })
      .add("d", dedupe);
    await expect(collect(p.executeFrom([1, 2, 3]))).rejects.toThrow("upstream");
  });

  it("validates createStreamingStep and add", () => {
    expect(() =>
      createStreamingStep("", async function* () {
        yield 1;
      }),
    ).toThrow(TypeError);
    expect(() => createStreamingStep("x", 5 as unknown as () => AsyncIterable<number>)).toThrow(
      TypeError,
    );
    expect(() =>
      createStreamingStep(
        "x",
        async function* () {
          yield 1;
        },
        { retry: { maxAttempts: 0, backoffMs: 1 } },
      ),
    ).toThrow(RangeError);
    expect(() =>
      StreamingPipeline.start<number>().add("k", {} as unknown as StreamingStep<number, number>),
    ).toThrow(/createStreamingStep/);
    const untyped = StreamingPipeline.start<number>().add("d", dedupe) as unknown as {
      add(k: string, s: unknown): unknown;
    };
    expect(() => untyped.add("d", dedupe)).toThrow(TypeError);
  });
});
