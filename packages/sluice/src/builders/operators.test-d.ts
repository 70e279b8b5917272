import { describe, expectTypeOf, test } from "vitest";
import {
  compose,
  createStep,
  type MergedSource,
  merge,
  Pipeline,
  StreamingPipeline as SP,
  type Step,
  type StreamingPipeline,
  type Tagged,
} from "../index.js";

type StateOf<P> = P extends StreamingPipeline<infer _I, infer _O, infer S, infer _C> ? S : never;
type OutOf<P> = P extends StreamingPipeline<infer _I, infer O, infer _S, infer _C> ? O : never;

describe("merge", () => {
  test("the merged item type is the sources' items; named sources can tag items", () => {
    async function* words() {
      yield "w";
    }
    expectTypeOf(merge([1, 2], new Set([3]))).toEqualTypeOf<MergedSource<number>>();
    expectTypeOf(merge({ a: [1], b: words() })).toEqualTypeOf<MergedSource<number | string>>();
    expectTypeOf(merge({ a: [1], b: words() }, { tag: true })).toEqualTypeOf<
      MergedSource<Tagged<number | string, "a" | "b">>
    >();
    // A merged source is a source for executeFrom.
    SP.start<number>().executeFrom(merge([1], [2]));
    // @ts-expect-error: strings are not the pipeline's numbers
    SP.start<number>().executeFrom(merge(["x"]));
  });

  test("the builder's merge names sources in state; earlier keys become optional", () => {
    const p = SP.start<string>()
      .map("len", (s) => s.length)
      .merge("origin", { backlog: [1, 2], live: () => [3] });
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number>();
    expectTypeOf<StateOf<typeof p>>().toEqualTypeOf<{
      readonly len?: number;
      readonly origin: "backlog" | "live" | "input";
    }>();
    const q = SP.start<string>().merge("src", { other: ["x"] }, { inputName: "main" });
    expectTypeOf<StateOf<typeof q>["src"]>().toEqualTypeOf<"other" | "main">();
    // @ts-expect-error: a source of numbers cannot join a stream of strings
    SP.start<string>().merge("m", { n: [1] });
  });
});

describe("bufferUntil, scan, distinct", () => {
  test("bufferUntil groups into arrays; earlier keys give the members' values", () => {
    const p = SP.start<string>()
      .map("len", (s) => s.length)
      .bufferUntil("g", (n, group) => {
        expectTypeOf(n).toEqualTypeOf<number>();
        expectTypeOf(group).toEqualTypeOf<readonly number[]>();
        return group.length > 2;
      });
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number[]>();
    expectTypeOf<StateOf<typeof p>>().toEqualTypeOf<{
      readonly len: number[];
      readonly g: number[];
    }>();
  });

  test("scan's output is the accumulation type, from the seed and the reducer", () => {
    const p = SP.start<string>().scan(
      "chars",
      (acc, s, i) => {
        expectTypeOf(acc).toEqualTypeOf<number>();
        expectTypeOf(s).toEqualTypeOf<string>();
        expectTypeOf(i).toEqualTypeOf<number>();
        return acc + s.length;
      },
      0,
    );
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<number>();
    const q = SP.start<number>().scan("seen", async (acc: number[], n) => [...acc, n], []);
    expectTypeOf<OutOf<typeof q>>().toEqualTypeOf<number[]>();
    // @ts-expect-error: the reducer must return the seed's type
    SP.start<number>().scan("bad", (acc: number, n) => `${acc}${n}`, 0);
    const list = Pipeline.start<number[]>().scan("totals", (a, n) => a + n, 0);
    expectTypeOf(list.execute).returns.resolves.toMatchTypeOf<
      { success: true; data: number[] } | { success: false }
    >();
  });

  test("distinct keeps the item type; by takes the item", () => {
    const p = SP.start<{ id: string }>().distinct(
      "d",
      (doc) => {
        expectTypeOf(doc).toEqualTypeOf<{ id: string }>();
        return doc.id;
      },
      { window: 10 },
    );
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<{ id: string }>();
    // @ts-expect-error: window must be a number
    SP.start<number>().distinct("d", undefined, { window: "10" });
    // @ts-expect-error: distinct on the batch Pipeline needs an array
    Pipeline.start<number>().distinct("d");
  });
});

describe("compose", () => {
  const trim = createStep<string, string>("trim", ({ input }) => input.trim());
  const parse = createStep<string, number>("parse", ({ input }) => Number(input));
  const isBig = createStep<number, boolean>("big", ({ input }) => input > 10);

  test("goes from the first step's input to the last step's output", () => {
    expectTypeOf(compose(trim, parse, isBig)).toEqualTypeOf<Step<string, boolean, {}, unknown>>();
    expectTypeOf(compose(trim)).toEqualTypeOf<Step<string, string, {}, unknown>>();
    const p = SP.start<string>().map("big", compose(trim, parse, isBig));
    expectTypeOf<OutOf<typeof p>>().toEqualTypeOf<boolean>();
  });

  test("mismatched neighbours are compile errors", () => {
    // @ts-expect-error: parse outputs a number, trim takes a string
    compose(parse, trim);
    // @ts-expect-error: isBig outputs a boolean, parse takes a string
    compose(trim, parse, isBig, parse);
  });

  test("carries the state the steps need", () => {
    const label = createStep<number, string, { raw: string }>(
      "label",
      ({ input, state }) => `${state.raw}:${input}`,
    );
    const step = compose(parse, label);
    expectTypeOf(step).toEqualTypeOf<Step<string, string, { raw: string }, unknown>>();
    Pipeline.start<string>().add("raw", trim).add("labelled", step);
  });
});

// A 50-stage chain mixing the new operators with the existing ones, with no annotations
// beyond start<TInput>().
const doubled = compose(
  createStep<number, number>("inc", ({ input }) => input + 1),
  createStep<number, number>("dbl", ({ input }) => input * 2),
);

const chain = SP.start<string>()
  .map("m01", (s) => s.length)
  .merge("mg02", { extra: [1, 2, 3] })
  .distinct("d03")
  .scan("sc04", (acc, n) => acc + n, 0)
  .map("m05", doubled)
  .filter("f06", (n) => n > 0)
  .bufferUntil("bu07", (_n, g) => g.length === 3, { maxSize: 4, maxWaitMs: 100 })
  .map("m08", (arr, ctx) => {
    expectTypeOf(arr).toEqualTypeOf<number[]>();
    expectTypeOf(ctx.state.mg02).toEqualTypeOf<("extra" | "input")[]>();
    expectTypeOf(ctx.state.m01).toEqualTypeOf<(number | undefined)[]>();
    expectTypeOf(ctx.state.sc04).toEqualTypeOf<number[]>();
    return arr.reduce((a, b) => a + b, 0);
  })
  .take("tk09", 100)
  .scan("sc10", (acc: string[], n) => [...acc, String(n)], [])
  .map("m11", (arr) => arr.join(","))
  .distinct("d12", (s) => s.length, { window: 5 })
  .flatMap("fm13", (s) => s.split(","))
  .map("m14", (s) => Number(s))
  .bufferUntil("bu15", (n) => n % 2 === 0)
  .flatMap("fm16", (g) => g)
  .window("w17", 2)
  .map("m18", (w) => w.length)
  .skip("sk19", 0)
  .scan("sc20", (acc, n) => ({ total: acc.total + n }), { total: 0 })
  .map("m21", (o, ctx) => {
    expectTypeOf(o).toEqualTypeOf<{ total: number }>();
    expectTypeOf(ctx.state.sc20).toEqualTypeOf<{ total: number }>();
    return o.total;
  })
  .distinct("d22")
  .batch("b23", 3)
  .flatMap("fm24", (b) => b)
  .takeWhile("tw25", (n) => n < 1e9)
  .map("m26", (n) => `${n}`)
  .merge("mg27", { more: () => ["1"] }, { readAhead: 2, sourceErrors: "DROP_SOURCE" })
  .tap("t28", (s) => {
    expectTypeOf(s).toEqualTypeOf<string>();
  })
  .map("m29", async (s) => s.length)
  .scan("sc30", (a, n) => a + n, 0)
  .bufferTime("bt31", 10, 5)
  .flatMap("fm32", (g) => g)
  .distinct("d33", (n) => n % 7)
  .map("m34", (n) => n > 3)
  .filter("f35", (b): b is true => b)
  .map("m36", (t) => ({ t }))
  .skipWhile("sw37", () => false)
  .checkpoint("cp38")
  .map("m39", (o, ctx) => {
    expectTypeOf(o).toEqualTypeOf<{ t: true }>();
    expectTypeOf(ctx.state.materialize("cp38")).toEqualTypeOf<readonly { t: true }[]>();
    // bufferTime (bt31) made the earlier keys arrays of the members' values.
    expectTypeOf(ctx.state.mg27).toEqualTypeOf<("more" | "input")[]>();
    expectTypeOf(ctx.state.sc30).toEqualTypeOf<number[]>();
    expectTypeOf(ctx.state.m26).toEqualTypeOf<(string | undefined)[]>();
    return String(o.t);
  })
  .bufferUntil("bu40", (s) => s === "true")
  .map("m41", (g) => g.length)
  .scan("sc42", (a, n) => a * n, 1)
  .distinct("d43")
  .map("m44", (n) => [n, n] as const)
  .flatMap("fm45", (pair) => pair)
  .take("tk46", 10)
  .map("m47", (n) => BigInt(n))
  .scan("sc48", (a, n) => a + n, 0n)
  .distinct("d49", (b) => String(b))
  .map("m50", (b, ctx) => {
    expectTypeOf(b).toEqualTypeOf<bigint>();
    expectTypeOf(ctx.state.sc48).toEqualTypeOf<bigint>();
    expectTypeOf(ctx.state.fm45).toEqualTypeOf<number>();
    expectTypeOf(ctx.state.bu40).toEqualTypeOf<string[]>();
    return b.toString();
  });

describe("a 50-stage chain with the new operators", () => {
  test("infers through every stage", () => {
    expectTypeOf<OutOf<typeof chain>>().toEqualTypeOf<string>();
    expectTypeOf(chain.keys).toEqualTypeOf<readonly string[]>();
    type S = StateOf<typeof chain>;
    expectTypeOf<S["m50"]>().toEqualTypeOf<string>();
    expectTypeOf<S["sc48"]>().toEqualTypeOf<bigint>();
    // @ts-expect-error: duplicate key
    chain.scan("sc48", (a, n) => a + n, "");
  });
});
