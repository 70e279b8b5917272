import { describe, expectTypeOf, test } from "vitest";
import {
  createStep,
  type ItemContext,
  type ListErrorStrategy,
  Pipeline,
  type Step,
  type StepContext,
  type StepError,
  type StepResult,
} from "../index.js";

/** The state type of a batch pipeline. */
type StateOf<P> = P extends Pipeline<infer _I, infer _O, infer S, infer _C> ? S : never;
/** The output type of a batch pipeline. */
type OutOf<P> = P extends Pipeline<infer _I, infer O, infer _S, infer _C> ? O : never;

describe("batch Pipeline: inference through a 30-step chain", () => {
  test("output and state are exact at the end, with no annotations beyond start<TInput>()", () => {
    const p = Pipeline.start<string[]>()
      .map(
        "s01",
        createStep("len", ({ input }) => input.length),
      )
      .filter("s02", (n) => n > 0)
      .map(
        "s03",
        createStep("str", ({ input }) => String(input)),
      )
      .flatMap(
        "s04",
        createStep("chars", ({ input }) => input.split("")),
      )
      .batch("s05", 2)
      .map(
        "s06",
        createStep("join", ({ input }) => input.join("")),
      )
      .add(
        "s07",
        createStep("count", ({ input }) => input.length),
      )
      .add(
        "s08",
        createStep("wrap", ({ input }) => ({ n: input })),
      )
      .add(
        "s09",
        createStep("twice", ({ input }) => [input, input]),
      )
      .map(
        "s10",
        createStep("pick", ({ input }) => input.n),
      )
      .batch("s11", 3)
      .flatten("s12")
      .map(
        "s13",
        createStep("gt", ({ input }) => input > 1),
      )
      .filter("s14", (b) => b)
      .map(
        "s15",
        createStep("pair", ({ input }) => ({ b: input, one: 1 as const })),
      )
      .flatMap(
        "s16",
        createStep("spread", ({ input }) => [input.b, input.one] as const),
      )
      .map(
        "s17",
        createStep("nullish", ({ input }) => (input === 1 ? null : undefined)),
      )
      .add(
        "s18",
        createStep("size", ({ input }) => input.length),
      )
      .add(
        "s19",
        createStep("fromState", ({ state }) => state.s01.map((n) => `${n}`)),
      )
      .map(
        "s20",
        createStep("asyncLen", async ({ input }) => input.length),
      )
      .map(
        "s21",
        createStep("withState", ({ input, state }) => ({ input, total: state.s07 })),
      )
      .filter("s22", async (x) => x.total > 0)
      .map(
        "s23",
        createStep("date", ({ input }) => new Date(input.input)),
      )
      .batch("s24", 4)
      .map(
        "s25",
        createStep("first", ({ input }) => input[0]),
      )
      .add(
        "s26",
        createStep("defined", ({ input }) => input.filter((d) => d !== undefined)),
      )
      .flatMap(
        "s27",
        createStep("pairs", ({ input }) => [{ at: input.getTime() }]),
      )
      .map(
        "s28",
        createStep("label", ({ input, state }) => `${state.s18}:${input.at}` as const),
      )
      .add(
        "s29",
        createStep("upper", ({ input }) => input.map((s) => s.toUpperCase())),
      )
      .branch(
        "s30",
        ({ input, state }) => input.length > state.s18,
        createStep("many", ({ input }) => ({ kind: "many" as const, count: input.length })),
        createStep("few", ({ input }) => input),
      );

    type Out = OutOf<typeof p>;
    expectTypeOf<Out>().toEqualTypeOf<{ kind: "many"; count: number } | string[]>();
    expectTypeOf<Out>().not.toBeAny();

    type S = StateOf<typeof p>;
    expectTypeOf<S>().not.toBeAny();
    // Not `.branded`: the state is one plain object type (readonly included), not an
    // intersection of one object per key.
    expectTypeOf<S>().toEqualTypeOf<{
      readonly s01: number[];
      readonly s02: number[];
      readonly s03: string[];
      readonly s04: string[];
      readonly s05: string[][];
      readonly s06: string[];
      readonly s07: number;
      readonly s08: { n: number };
      readonly s09: { n: number }[];
      readonly s10: number[];
      readonly s11: number[][];
      readonly s12: number[];
      readonly s13: boolean[];
      readonly s14: boolean[];
      readonly s15: { b: boolean; one: 1 }[];
      readonly s16: (boolean | 1)[];
      readonly s17: (null | undefined)[];
      readonly s18: number;
      readonly s19: string[];
      readonly s20: number[];
      readonly s21: { input: number; total: number }[];
      readonly s22: { input: number; total: number }[];
      readonly s23: Date[];
      readonly s24: Date[][];
      readonly s25: (Date | undefined)[];
      readonly s26: Date[];
      readonly s27: { at: number }[];
      readonly s28: `${number}:${number}`[];
      readonly s29: string[];
      readonly s30: { kind: "many"; count: number } | string[];
    }>();
    expectTypeOf<keyof S>().toEqualTypeOf<
      | "s01"
      | "s02"
      | "s03"
      | "s04"
      | "s05"
      | "s06"
      | "s07"
      | "s08"
      | "s09"
      | "s10"
      | "s11"
      | "s12"
      | "s13"
      | "s14"
      | "s15"
      | "s16"
      | "s17"
      | "s18"
      | "s19"
      | "s20"
      | "s21"
      | "s22"
      | "s23"
      | "s24"
      | "s25"
      | "s26"
      | "s27"
      | "s28"
      | "s29"
      | "s30"
    >();
    expectTypeOf<S["s30"]>().toEqualTypeOf<{ kind: "many"; count: number } | string[]>();
    expectTypeOf<S["s07"]>().toEqualTypeOf<number>();
    expectTypeOf<S["s21"]>().not.toBeAny();
    expectTypeOf<S["s25"]>().not.toBeAny();

    expectTypeOf(p.execute).parameter(0).toEqualTypeOf<string[]>();
    expectTypeOf(p.execute).returns.resolves.toEqualTypeOf<
      StepResult<{ kind: "many"; count: number } | string[]>
    >();
  });

  test("a step at the end sees the full state, typed", () => {
    Pipeline.start<number[]>()
      .map(
        "doubled",
        createStep("d", ({ input }) => input * 2),
      )
      .batch("groups", 2)
      .add(
        "probe",
        createStep("probe", ({ input, state, context, signal, traceId, spanId }) => {
          expectTypeOf(input).toEqualTypeOf<number[][]>();
          expectTypeOf(state.doubled).toEqualTypeOf<number[]>();
          expectTypeOf(state.groups).toEqualTypeOf<number[][]>();
          expectTypeOf(context).toEqualTypeOf<unknown>();
          expectTypeOf(signal).toEqualTypeOf<AbortSignal>();
          expectTypeOf(traceId).toEqualTypeOf<string>();
          expectTypeOf(spanId).toEqualTypeOf<string>();
          // @ts-expect-error a key that does not exist yet
          state.probe;
          return 0;
        }),
      );
  });

  test("execute's result narrows on success", async () => {
    const p = Pipeline.start<string>().add(
      "n",
      createStep("n", ({ input }) => input.length),
    );
    const r = await p.execute("abc");
    if (r.success) {
      expectTypeOf(r.data).toEqualTypeOf<number>();
      expectTypeOf(r.data).not.toBeAny();
    } else {
      expectTypeOf(r.error).toEqualTypeOf<StepError>();
      expectTypeOf(r.error.code).toEqualTypeOf<string>();
      expectTypeOf(r.error.errors).toEqualTypeOf<
        readonly import("../index.js").ItemError[] | undefined
      >();
    }
    // @ts-expect-error the input type is checked
    p.execute(42);
    p.execute("x", { signal: AbortSignal.abort() });
  });
});

describe("batch Pipeline: element types of list stages", () => {
  test("batch yields T[][], flatMap the element type, flatten one level less", () => {
    const base = Pipeline.start<{ id: number }[]>();
    expectTypeOf<OutOf<ReturnType<typeof base.batch<"b">>>>().toEqualTypeOf<{ id: number }[][]>();
    const fm = base.flatMap(
      "fm",
      createStep("fm", ({ input }) => [input.id, `${input.id}`]),
    );
    expectTypeOf<OutOf<typeof fm>>().toEqualTypeOf<(string | number)[]>();
    const nested = Pipeline.start<number[][]>().flatten("flat");
    expectTypeOf<OutOf<typeof nested>>().toEqualTypeOf<number[]>();
    const readonlyIn = Pipeline.start<readonly string[]>().filter("f", (s) => s !== "");
    expectTypeOf<OutOf<typeof readonlyIn>>().toEqualTypeOf<string[]>();
  });

  test("filter's predicate gets the element and the item context", () => {
    Pipeline.start<string[], { min: number }>(() => ({ min: 1 }))
      .map(
        "len",
        createStep("len", ({ input }) => input.length),
      )
      .filter("keep", (n, ctx) => {
        expectTypeOf(n).toEqualTypeOf<number>();
        expectTypeOf(ctx).toEqualTypeOf<ItemContext<{ readonly len: number[] }, { min: number }>>();
        expectTypeOf(ctx.state.len).toEqualTypeOf<number[]>();
        expectTypeOf(ctx.context.min).toEqualTypeOf<number>();
        return n >= ctx.context.min;
      });
  });

  test("filter with a type guard narrows the element type (batch builder)", () => {
    const p = Pipeline.start<(string | number)[]>().filter(
      "strings",
      (v): v is string => typeof v === "string",
    );
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<string[]>();
  });

  test("list options are typed", () => {
    const step = createStep<number, number>("id", ({ input }) => input);
    const p = Pipeline.start<number[]>();
    p.map("a", step, { parallel: true, concurrencyLimit: 4, errorStrategy: "SKIP_FAILED" });
    const strategy: ListErrorStrategy = "COLLECT_ERRORS";
    p.map("a", step, { errorStrategy: strategy });
    // @ts-expect-error SPLIT_ERRORS is a streaming-only strategy
    p.map("a", step, { errorStrategy: "SPLIT_ERRORS" });
    // @ts-expect-error parallel is a boolean
    p.map("a", step, { parallel: "yes" });
  });
});

describe("batch Pipeline: context", () => {
  test("the context type flows from the builder into every step", () => {
    Pipeline.start<number[], { db: { query(n: number): string } }>(async () => ({
      db: { query: (n: number) => `${n}` },
    }))
      .map(
        "rows",
        createStep("rows", ({ input, context }) => context.db.query(input)),
      )
      .add(
        "check",
        createStep("check", ({ input, context }) => {
          expectTypeOf(input).toEqualTypeOf<string[]>();
          expectTypeOf(context).toEqualTypeOf<{ db: { query(n: number): string } }>();
          return input.length;
        }),
      );
  });

  test("a step that needs a context is rejected where the context differs", () => {
    const needsDb = createStep<number, number, {}, { db: string }>("db", ({ input }) => input);
    Pipeline.start<number[], { db: string; extra: number }>().map("ok", needsDb);
    // @ts-expect-error the pipeline's context has no db
    Pipeline.start<number[], { other: string }>().map("bad", needsDb);
  });
});

describe("batch Pipeline: keys", () => {
  test("a duplicate key is a compile error at the offending call only", () => {
    const s = createStep<number, number>("s", ({ input }) => input);
    Pipeline.start<number>()
      .add("a", s)
      .add("b", s)
      // @ts-expect-error duplicate key "a"
      .add("a", s)
      .add("c", s);

    const toArray = createStep<number, number[]>("f", ({ input }) => [input]);
    const one = createStep("one", () => 1);
    const two = createStep("two", () => 2);
    const list = Pipeline.start<number[]>().map("m", s);
    // @ts-expect-error duplicate key "m" in map
    list.map("m", s);
    // @ts-expect-error duplicate key "m" in filter
    list.filter("m", () => true);
    // @ts-expect-error duplicate key "m" in batch
    list.batch("m", 2);
    // @ts-expect-error duplicate key "m" in flatMap
    list.flatMap("m", toArray);
    // @ts-expect-error duplicate key "m" in branch
    list.branch("m", () => true, one, two);
    // @ts-expect-error duplicate key "g" in flatten
    list.batch("g", 2).flatten("g");
  });

  test("the error reads as a sentence: the key parameter is an Error string literal", () => {
    const p = Pipeline.start<number>().add(
      "a",
      createStep<number, number>("s", ({ input }) => input),
    );
    type KeyParam = Parameters<typeof p.add<"a", number>>[0];
    expectTypeOf<KeyParam>().toEqualTypeOf<`Error: duplicate key "a": every stage needs a key of its own`>();
    expectTypeOf<KeyParam>().toExtend<`Error: duplicate key${string}`>();
    type Fresh = Parameters<typeof p.add<"b", number>>[0];
    expectTypeOf<Fresh>().toEqualTypeOf<"b">();
  });

  test("reserved keys are rejected", () => {
    const s = createStep<number, number>("s", ({ input }) => input);
    const p = Pipeline.start<number>();
    // @ts-expect-error reserved
    p.add("accumulated", s);
    // @ts-expect-error reserved
    p.add("materialize", s);
    // @ts-expect-error reserved
    p.add("stream", s);
    // @ts-expect-error reserved
    p.add("hasSnapshot", s);
    type KeyParam = Parameters<typeof p.add<"stream", number>>[0];
    expectTypeOf<KeyParam>().toExtend<`Error: ${string}reserved${string}`>();
  });

  test("a key that is not a string literal is rejected", () => {
    const s = createStep<number, number>("s", ({ input }) => input);
    const key: string = "dynamic";
    // @ts-expect-error keys must be literals so that state can be typed
    Pipeline.start<number>().add(key, s);
  });
});

describe("batch Pipeline: list operations need an array", () => {
  test("map / flatMap / filter / batch on a non-array output are compile errors", () => {
    const toArray = createStep<number, number[]>("f", ({ input }) => [input]);
    const p = Pipeline.start<number>();
    const s = createStep<number, number>("s", ({ input }) => input);
    // @ts-expect-error the previous stage does not output an array
    p.map("m", s);
    // @ts-expect-error the previous stage does not output an array
    p.flatMap("m", toArray);
    // @ts-expect-error the previous stage does not output an array
    p.filter("m", () => true);
    // @ts-expect-error the previous stage does not output an array
    p.batch("m", 2);
    type KeyParam = Parameters<typeof p.map<"m", number>>[0];
    expectTypeOf<KeyParam>().toEqualTypeOf<"Error: this list operation needs the previous stage to output an array">();
  });

  test("flatten needs an array of arrays", () => {
    // @ts-expect-error number[] is not an array of arrays
    Pipeline.start<number[]>().flatten("f");
    Pipeline.start<number[][]>().flatten("f");
  });

  test("a step whose input does not match the element type is rejected", () => {
    const parse = createStep<string, number>("parse", ({ input }) => Number(input));
    // @ts-expect-error number is not a string
    Pipeline.start<number[]>().map("p", parse);
    // @ts-expect-error add takes the whole array, not an element
    Pipeline.start<string[]>().add("p", parse);
    // @ts-expect-error flatMap's step must return an array
    Pipeline.start<string[]>().flatMap("p", parse);
  });
});

describe("reusable steps", () => {
  const parse = createStep<string, number>("parse", ({ input }) => Number.parseInt(input, 10));
  const label = createStep<number, string, { raw: string }>(
    "label",
    ({ input, state }) => `${state.raw} -> ${input}`,
  );

  test("their declared types are exact", () => {
    expectTypeOf(parse).toEqualTypeOf<Step<string, number, {}, unknown>>();
    expectTypeOf(label).toEqualTypeOf<Step<number, string, { raw: string }, unknown>>();
    expectTypeOf(label.execute)
      .parameter(0)
      .toEqualTypeOf<StepContext<number, { raw: string }, unknown>>();
  });

  test("fit any position in any pipeline whose state has at least `raw: string`", () => {
    const a = Pipeline.start<string>()
      .add(
        "raw",
        createStep("trim", ({ input }) => input.trim()),
      )
      .add("num", parse)
      .add("text", label);
    expectTypeOf<OutOf<typeof a>>().toEqualTypeOf<string>();

    const b = Pipeline.start<{ raw: string; n: string[] }>()
      .add(
        "raw",
        createStep("raw", ({ input }) => input.raw),
      )
      .add(
        "unrelated",
        createStep("u", () => new Map<string, number>()),
      )
      .add(
        "n",
        createStep("n", ({ state }) => [state.raw, state.raw]),
      )
      .map("parsed", parse, { parallel: true })
      .map("labels", label)
      .add(
        "more",
        createStep("more", ({ input }) => input.length),
      );
    expectTypeOf<StateOf<typeof b>["labels"]>().toEqualTypeOf<string[]>();
    expectTypeOf<StateOf<typeof b>["parsed"]>().toEqualTypeOf<number[]>();

    // A narrower `raw` (a literal type) also satisfies `raw: string`.
    Pipeline.start<number>()
      .add(
        "raw",
        createStep("lit", () => "fixed" as const),
      )
      .add(
        "n",
        createStep("n", () => 1),
      )
      .add("x", label);
  });

  test("using a step where `raw` is missing or has the wrong type is a compile error", () => {
    // @ts-expect-error no `raw` in state
    Pipeline.start<number>().add("text", label);
    Pipeline.start<number[]>()
      .map(
        "raw",
        createStep("r", ({ input }) => input * 2),
      )
      // @ts-expect-error `raw` is number[], not string
      .map("text", label);
    Pipeline.start<number>()
      .add(
        "raw",
        createStep("r", ({ input }) => input),
      )
      // @ts-expect-error `raw` is a number
      .add("text", label);
  });

  test("inline createStep infers input, state and output from the pipeline", () => {
    Pipeline.start<number[]>()
      .map(
        "doubled",
        createStep("x", ({ input }) => input * 2),
      )
      .map(
        "check",
        createStep("check", ({ input, state }) => {
          expectTypeOf(input).toEqualTypeOf<number>();
          expectTypeOf(input).not.toBeAny();
          expectTypeOf(state).toEqualTypeOf<{ readonly doubled: number[] }>();
          return input;
        }),
      );
    const p = Pipeline.start<number[]>().map(
      "x",
      createStep("x", ({ input }) => input * 2),
    );
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number[]>();
  });

  test("a step typed Step<unknown, ...> accepts any input", () => {
    const log = createStep<unknown, string>("log", ({ input }) => String(input));
    Pipeline.start<Date[]>().map("a", log).map("b", log).add("c", log);
  });
});

describe("no any leaks", () => {
  test("outputs and state members are never any", () => {
    const p = Pipeline.start<string[]>()
      .map(
        "a",
        createStep("a", async ({ input }) => JSON.parse(input) as unknown),
      )
      .filter("b", (x): boolean => x !== null)
      .batch("c", 2)
      .flatten("d")
      .add(
        "e",
        createStep("e", ({ input }) => input.length),
      );
    type S = StateOf<typeof p>;
    expectTypeOf<OutOf<typeof p>>().not.toBeAny();
    expectTypeOf<S["a"]>().not.toBeAny();
    expectTypeOf<S["a"]>().toEqualTypeOf<unknown[]>();
    expectTypeOf<S["b"]>().not.toBeAny();
    expectTypeOf<S["c"]>().toEqualTypeOf<unknown[][]>();
    expectTypeOf<S["d"]>().toEqualTypeOf<unknown[]>();
    expectTypeOf<S["e"]>().toEqualTypeOf<number>();
  });

  test("start without arguments gives an empty state and an unknown context", () => {
    const p = Pipeline.start<number>();
    expectTypeOf<StateOf<typeof p>>().toEqualTypeOf<{}>();
    expectTypeOf(p).toEqualTypeOf<Pipeline<number, number, {}, unknown>>();
  });
});
