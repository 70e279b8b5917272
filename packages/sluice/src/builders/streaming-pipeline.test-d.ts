import { describe, expectTypeOf, test } from "vitest";
import {
  type CheckpointKey,
  createStep,
  createStreamingStep,
  type ErrorRecord,
  type ItemContext,
  type ItemFn,
  type Members,
  type ReservedKey,
  type RunMetadata,
  type SnapshotApi,
  StreamingPipeline as SP,
  type StateView,
  type Step,
  type StreamingError,
  type StreamingPipeline,
  type StreamingRun,
  type StreamingStepContext,
  streamingToPipeline,
} from "../index.js";

// The 50-stage inference chain lives in streaming-pipeline.chain50.test-d.ts.

type StateOf<P> = P extends StreamingPipeline<infer _I, infer _O, infer S, infer _C> ? S : never;
type OutOf<P> = P extends StreamingPipeline<infer _I, infer O, infer _S, infer _C> ? O : never;
/** Checkpoint key to the item type its snapshot holds. */
type SnapshotsOf<P> =
  P extends StreamingPipeline<infer _I, infer _O, infer _S, infer _C, infer T> ? T : never;

describe("StreamingPipeline: per-item stages", () => {
  test("map infers from sync and async functions", () => {
    const p = SP.start<string>()
      .map("len", (s) => s.length)
      .map("big", async (n) => BigInt(n));
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<bigint>();
    // Not `.branded`: the state is one plain object type, not an intersection per key.
    expectTypeOf<StateOf<typeof p>>().toEqualTypeOf<{
      readonly len: number;
      readonly big: bigint;
    }>();
  });

  test("ctx.state gives this item's lineage values, plus the snapshot API", () => {
    SP.start<string, { base: number }>(() => ({ base: 10 }))
      .map("len", (s) => s.length)
      .checkpoint("cp")
      .map("label", (n, ctx) => {
        expectTypeOf(ctx).toEqualTypeOf<
          ItemContext<
            StateView<{ readonly len: number; readonly cp: number }, { readonly cp: number }>,
            { base: number }
          >
        >();
        expectTypeOf(ctx.state.len).toEqualTypeOf<number>();
        expectTypeOf(ctx.state.cp).toEqualTypeOf<number>();
        expectTypeOf(ctx.context.base).toEqualTypeOf<number>();
        expectTypeOf(ctx.state.materialize("cp")).toEqualTypeOf<readonly number[]>();
        expectTypeOf(ctx.state.stream("cp")).toEqualTypeOf<AsyncIterable<number>>();
        expectTypeOf(ctx.state.hasSnapshot).parameter(0).toEqualTypeOf<"cp">();
        // @ts-expect-error no such key
        ctx.state.materialize("nope");
        // @ts-expect-error a later key is not in state yet
        ctx.state.label;
        return `${n}`;
      });
  });

  test("after batch, window and bufferTime, earlier keys are arrays (Members)", () => {
    const p = SP.start<number>()
      .map("s", (n) => `${n}`)
      .batch("b", 3)
      .map("check", (arr, ctx) => {
        expectTypeOf(arr).toEqualTypeOf<string[]>();
        expectTypeOf(ctx.state.s).toEqualTypeOf<string[]>();
        expectTypeOf(ctx.state.b).toEqualTypeOf<string[]>();
        return arr.length;
      })
      .window("w", 2)
      .map("check2", (arr, ctx) => {
        expectTypeOf(arr).toEqualTypeOf<number[]>();
        expectTypeOf(ctx.state.s).toEqualTypeOf<string[][]>();
        expectTypeOf(ctx.state.check).toEqualTypeOf<number[]>();
        return arr;
      })
      .bufferTime("bt", 100);
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number[][]>();
    expectTypeOf<StateOf<typeof p>>().toEqualTypeOf<{
      readonly s: string[][][];
      readonly b: string[][][];
      readonly check: number[][];
      readonly w: number[][];
      readonly check2: number[][];
      readonly bt: number[][];
    }>();
    // Members maps each earlier key to the array of its members' values.
    expectTypeOf<Members<{ readonly a: number; readonly b: string }>>().toEqualTypeOf<{
      readonly a: number[];
      readonly b: string[];
    }>();
  });

  test("batch takes a size or options whose weigh sees the item type", () => {
    SP.start<{ text: string }>().batch("b", {
      size: 10,
      maxWeight: 100,
      weigh: (item) => {
        expectTypeOf(item).toEqualTypeOf<{ text: string }>();
        return item.text.length;
      },
    });
  });

  test("filter with a type guard narrows; a plain or async predicate does not", () => {
    const base = SP.start<string | number | null>();
    const guarded = base.filter("nn", (v): v is string | number => v !== null);
    expectTypeOf<OutOf<typeof guarded>>().toEqualTypeOf<string | number>();
    const strings = guarded.filter("str", (v) => typeof v === "string");
    // TS 5.5 infers `v is string` from `typeof v === "string"`.
    expectTypeOf<OutOf<typeof strings>>().toEqualTypeOf<string>();
    const plain = base.filter("p", (v) => v !== 0 && Boolean(v));
    expectTypeOf<OutOf<typeof plain>>().toEqualTypeOf<string | number | null>();
    const async = base.filter("a", async (v) => v !== null);
    expectTypeOf<OutOf<typeof async>>().toEqualTypeOf<string | number | null>();
  });

  test("flatMap yields the element type of arrays, iterables and async iterables", () => {
    const base = SP.start<string>();
    expectTypeOf<OutOf<ReturnType<typeof base.flatMap<"a", string>>>>().toEqualTypeOf<string>();
    const arr = base.flatMap("a", (s) => s.split(""));
    const set = base.flatMap("a", (s) => new Set([s.length]));
    const gen = base.flatMap("a", function* (s) {
      yield s.length > 0;
    });
    const agen = base.flatMap("a", async function* (s) {
      yield { s };
    });
    const promised = base.flatMap("a", async (s) => [s, 1] as const);
    expectTypeOf<OutOf<typeof arr>>().toEqualTypeOf<string>();
    expectTypeOf<OutOf<typeof set>>().toEqualTypeOf<number>();
    expectTypeOf<OutOf<typeof gen>>().toEqualTypeOf<boolean>();
    expectTypeOf<OutOf<typeof agen>>().toEqualTypeOf<{ s: string }>();
    expectTypeOf<OutOf<typeof promised>>().toEqualTypeOf<string | 1>();
    const split = createStep<string, string[]>("split", ({ input }) => input.split(""));
    const stepped = base.flatMap("a", split);
    expectTypeOf<OutOf<typeof stepped>>().toEqualTypeOf<string>();
    const numbers = createStep<number, number[]>("n", ({ input }) => [input]);
    // @ts-expect-error a step over numbers does not take strings
    base.flatMap("a", numbers);
    // @ts-expect-error a number is not iterable
    base.flatMap("a", (s) => s.length);
  });

  test("tap, take, skip, takeWhile, skipWhile, checkpoint keep the item type", () => {
    const p = SP.start<Date>()
      .tap("t", (d) => d.getTime())
      .take("tk", 5)
      .skip("sk", 1)
      .takeWhile("tw", (d) => d.getTime() > 0)
      .skipWhile("sw", async (d) => d.getTime() < 0)
      .checkpoint("cp", { maxItems: 10 });
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<Date>();
    expectTypeOf<StateOf<typeof p>["tw"]>().toEqualTypeOf<Date>();
  });
});

describe("StreamingPipeline: steps", () => {
  const parse = createStep<string, number>("parse", ({ input }) => Number.parseInt(input, 10));
  const label = createStep<number, string, { raw: string }>(
    "label",
    ({ input, state }) => `${state.raw}:${input}`,
  );

  test("map accepts a Step whose input matches", () => {
    const p = SP.start<string>()
      .map("raw", (s) => s)
      .map("n", parse)
      .map("l", label);
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<string>();
    expectTypeOf<StateOf<typeof p>["n"]>().toEqualTypeOf<number>();
  });

  test("a Step whose input does not match is rejected", () => {
    // @ts-expect-error parse takes a string, the items are numbers
    SP.start<number>().map("n", parse);
  });

  test("a reusable step needing `raw: string` fits where the lineage has it, not elsewhere", () => {
    SP.start<string>()
      .map("raw", (s) => s.trim())
      .map("other", (s) => s.length)
      .map("label", label);
    // @ts-expect-error no `raw` in state
    SP.start<number>().map("label", label);
    const rawNumber = SP.start<number>().map("raw", (n) => n);
    // @ts-expect-error `raw` is a number
    rawNumber.map("label", label);
    const batched = SP.start<string>()
      .map("raw", (s) => s)
      .batch("b", 2)
      .map("n", (a) => a.length);
    // @ts-expect-error after a batch, `raw` is string[] (Members), not string
    batched.map("l", label);
  });

  test("an inline createStep inside map infers input, state and output from the pipeline", () => {
    const p = SP.start<number>()
      .map("len", (n) => `${n}`.length)
      .map(
        "x",
        createStep("x", ({ input, state }) => {
          expectTypeOf(input).toEqualTypeOf<number>();
          expectTypeOf(input).not.toBeAny();
          expectTypeOf(state.len).toEqualTypeOf<number>();
          return input > 1;
        }),
      );
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<boolean>();
  });

  test("a Step's StepContext.state is the lineage's state view", () => {
    const needsLen = createStep<string, number, { len: number }>(
      "x",
      ({ input, state }) => input.length + state.len,
    );
    SP.start<string>()
      .map("len", (s) => s.length)
      .map("s", (n) => `${n}`)
      .map("x", needsLen);
  });

  test("add takes a streaming step; its output type flows on", () => {
    const dedupe = createStreamingStep(
      "dedupe",
      async function* ({ input }: StreamingStepContext<string>) {
        const seen = new Set<string>();
        for await (const s of input) {
          if (!seen.has(s)) {
            seen.add(s);
            yield s.length;
          }
        }
      },
    );
    const p = SP.start<string>().add("d", dedupe);
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number>();
    // @ts-expect-error a streaming step over strings cannot take numbers
    SP.start<number>().add("d", dedupe);
    // @ts-expect-error add takes a streaming step, not a batch Step
    SP.start<string>().add("d", parse);
  });

  test("the error strategies of streaming stages include SPLIT_ERRORS", () => {
    SP.start<number>().map("m", (n) => n, {
      errorStrategy: "SPLIT_ERRORS",
      concurrency: 4,
      ordered: false,
      buffer: 2,
      retry: { maxAttempts: 3, backoffMs: 10 },
    });
    // @ts-expect-error not a strategy
    SP.start<number>().map("m", (n) => n, { errorStrategy: "IGNORE" });
  });
});

describe("StreamingPipeline: checkpoint snapshots", () => {
  test("materialize, stream and hasSnapshot take only the keys of checkpoints upstream", () => {
    SP.start<number>()
      .map("double", (n) => n * 2)
      .map("early", (n, ctx) => {
        // @ts-expect-error no checkpoint upstream yet
        ctx.state.materialize("double");
        // @ts-expect-error the checkpoint "all" comes later
        ctx.state.stream("all");
        return n;
      })
      .checkpoint("all")
      .map("late", (n, ctx) => {
        expectTypeOf(ctx.state.materialize("all")).toEqualTypeOf<readonly number[]>();
        expectTypeOf(ctx.state.stream("all")).toEqualTypeOf<AsyncIterable<number>>();
        expectTypeOf(ctx.state.hasSnapshot).parameter(0).toEqualTypeOf<"all">();
        // @ts-expect-error "double" is in state, but no checkpoint took a snapshot of it
        ctx.state.materialize("double");
        // @ts-expect-error not a checkpoint key
        ctx.state.stream("double");
        // @ts-expect-error not a checkpoint key
        ctx.state.hasSnapshot("early");
        return n;
      });
  });

  test("with no checkpoint, the key parameter is a sentence saying what is missing", () => {
    expectTypeOf<CheckpointKey<{}>>().toExtend<`Error: no checkpoint upstream${string}`>();
    expectTypeOf<CheckpointKey<{ readonly a: number; readonly b: string }>>().toEqualTypeOf<
      "a" | "b"
    >();
    SP.start<number>().map("x", (n, ctx) => {
      expectTypeOf(ctx.state.hasSnapshot).parameter(0).toEqualTypeOf<CheckpointKey<{}>>();
      return n;
    });
  });

  test("the pipeline tracks its checkpoints, each with the item type it snapshots", () => {
    const p = SP.start<string>()
      .checkpoint("lines")
      .map("len", (s) => s.length)
      .checkpoint("lengths")
      .batch("b", 2);
    expectTypeOf<SnapshotsOf<typeof p>>().toEqualTypeOf<{
      readonly lines: string;
      readonly lengths: number;
    }>();
    expectTypeOf<SnapshotsOf<ReturnType<typeof SP.start<string>>>>().toEqualTypeOf<{}>();
  });

  test("through a batch, a snapshot still holds the checkpoint's items, not arrays", () => {
    SP.start<string>()
      .map("len", (s) => s.length)
      .checkpoint("cp")
      .batch("b", 2)
      .map("x", (group, ctx) => {
        expectTypeOf(ctx.state.cp).toEqualTypeOf<number[]>();
        expectTypeOf(ctx.state.materialize("cp")).toEqualTypeOf<readonly number[]>();
        return group.length;
      });
  });

  test("functions and steps declared without snapshots fit after a checkpoint; ones needing a snapshot fit only after it", () => {
    const plain: ItemFn<number, number, { readonly len: number }, unknown> = (n, ctx) =>
      n + ctx.state.len;
    const needsAll: ItemFn<number, number, {}, unknown, { all: number }> = (n, ctx) =>
      n / ctx.state.materialize("all").length;
    const withAll = SP.start<string>()
      .map("len", (s) => s.length)
      .checkpoint("all");
    withAll.map("a", plain).map("b", needsAll);
    // @ts-expect-error no checkpoint "all" upstream
    SP.start<number>().map("b", needsAll);

    const share = (n: number, state: StateView<{}, { all: number }>) =>
      n / state.materialize("all").length;
    withAll.map("share", (n, ctx) => share(n, ctx.state));
    // @ts-expect-error this state has no snapshot "all"
    SP.start<number>().map("share", (n, ctx) => share(n, ctx.state));

    const ranks = createStreamingStep(
      "ranks",
      async function* ({
        input,
        state,
      }: StreamingStepContext<number, SnapshotApi<{ all: number }>>) {
        for await (const n of input) yield state.materialize("all").filter((m) => m < n).length;
      },
    );
    withAll.add("ranks", ranks);
    // @ts-expect-error the step reads a snapshot "all" that this pipeline does not take
    SP.start<number>().add("ranks", ranks);
  });

  test("a pipeline with checkpoints still converts to a batch step", () => {
    const step = streamingToPipeline(SP.start<number>().checkpoint("all"));
    expectTypeOf(step.name).toEqualTypeOf<string>();
  });

  test("the reserved keys are exactly the snapshot API's members", () => {
    expectTypeOf<ReservedKey>().toEqualTypeOf<keyof SnapshotApi<{}>>();
    expectTypeOf<ReservedKey>().toEqualTypeOf<
      "accumulated" | "materialize" | "stream" | "hasSnapshot"
    >();
  });
});

describe("StreamingPipeline: keys", () => {
  test("duplicate keys are compile errors at the offending call", () => {
    SP.start<number>()
      .map("a", (n) => n)
      .filter("b", (n) => n > 0)
      // @ts-expect-error duplicate key "a"
      .tap("a", () => {})
      .map("c", (n) => n);
    const p = SP.start<number>().map("a", (n) => n);
    type KeyParam = Parameters<typeof p.map<"a", number>>[0];
    expectTypeOf<KeyParam>().toEqualTypeOf<`Error: duplicate key "a": every stage needs a key of its own`>();
    expectTypeOf<KeyParam>().toExtend<`Error: duplicate key${string}`>();
    // @ts-expect-error duplicate in batch
    p.batch("a", 2);
    // @ts-expect-error duplicate in window
    p.window("a", 2);
    // @ts-expect-error duplicate in take
    p.take("a", 2);
    // @ts-expect-error duplicate in checkpoint
    p.checkpoint("a");
    // @ts-expect-error duplicate in flatMap
    p.flatMap("a", (n) => [n]);
  });

  test("reserved keys are rejected", () => {
    const p = SP.start<number>();
    // @ts-expect-error reserved
    p.map("accumulated", (n) => n);
    // @ts-expect-error reserved
    p.filter("materialize", () => true);
    // @ts-expect-error reserved
    p.tap("stream", () => {});
    // @ts-expect-error reserved
    p.checkpoint("hasSnapshot");
  });
});

describe("StreamingPipeline: runs", () => {
  test("execute, executeFrom and the helpers are typed by input and output", () => {
    const p = SP.start<string>().map("n", (s) => s.length);
    expectTypeOf(p.execute).parameter(0).toEqualTypeOf<string>();
    expectTypeOf(p.execute("x")).toEqualTypeOf<StreamingRun<number>>();
    expectTypeOf(p.executeFrom(["a"])).toEqualTypeOf<StreamingRun<number>>();
    expectTypeOf(p.executeToArray).returns.resolves.toEqualTypeOf<number[]>();
    expectTypeOf(p.forEach).returns.resolves.toEqualTypeOf<RunMetadata>();
    expectTypeOf(
      p.executeReduce("x", (acc: string, n) => acc + n, ""),
    ).resolves.toEqualTypeOf<string>();
    // @ts-expect-error the source must hold strings
    p.executeFrom([1, 2]);
    const run = p.executeFrom(["a"]);
    expectTypeOf(run.errors).toEqualTypeOf<AsyncIterable<ErrorRecord>>();
    expectTypeOf<ErrorRecord["error"]>().toEqualTypeOf<StreamingError>();
    expectTypeOf(run.metadata()).toEqualTypeOf<RunMetadata>();
  });

  test("iterating a run yields the output type, never any", async () => {
    const p = SP.start<number>()
      .map("a", (n) => ({ n }))
      .batch("b", 2);
    for await (const item of p.executeFrom([1, 2, 3])) {
      expectTypeOf(item).toEqualTypeOf<{ n: number }[]>();
      expectTypeOf(item).not.toBeAny();
    }
  });

  test("a Step type used in map accepts Step<T, O, StateView<S>, C> contravariantly", () => {
    type Acceptable = Step<number, string, {}, unknown>;
    const s = {} as Acceptable;
    SP.start<number>().map("ok", s);
    type NeedsCtx = Step<number, string, {}, { db: string }>;
    const n = {} as NeedsCtx;
    SP.start<number, { db: string }>().map("ok", n);
    // @ts-expect-error the pipeline's context lacks db
    SP.start<number, { other: 1 }>().map("bad", n);
  });
});
