import { describe, expectTypeOf, test } from "vitest";
import { createStep, StreamingPipeline as SP, type StreamingPipeline } from "../index.js";

// A 50-stage streaming chain with no annotations beyond start<TInput>() (a reusable step
// declares its own types, as reusable steps do). Kept in its own file so that its
// type-checking cost is easy to measure: `tsc` on this file alone.

type StateOf<P> = P extends StreamingPipeline<infer _I, infer _O, infer S, infer _C> ? S : never;
type OutOf<P> = P extends StreamingPipeline<infer _I, infer O, infer _S, infer _C> ? O : never;

const describeItem = createStep<{ x: "x"; at: number }, number>("at", ({ input }) => input.at);

const chain = SP.start<string>()
  .map("m01", (s) => s.length)
  .filter("f02", (n) => n > 0)
  .map("m03", (n) => String(n))
  .flatMap("fm04", (s) => s.split(""))
  .tap("t05", (s) => {
    expectTypeOf(s).toEqualTypeOf<string>();
  })
  .map("m06", async (s) => s.charCodeAt(0))
  .map("m07", (n) => (n % 2 === 0 ? n : `odd${n}`))
  .filter("f08", (v): v is number => typeof v === "number")
  .take("tk09", 100)
  .skip("sk10", 1)
  .takeWhile("tw11", (n) => n < 1_000)
  .skipWhile("sw12", (n) => n < 0)
  .checkpoint("cp13")
  .map("m14", (n, ctx) => {
    // per lineage: one value per earlier key
    expectTypeOf(ctx.state.m01).toEqualTypeOf<number>();
    expectTypeOf(ctx.state.m03).toEqualTypeOf<string>();
    expectTypeOf(ctx.state.m07).toEqualTypeOf<string | number>();
    expectTypeOf(ctx.state.f08).toEqualTypeOf<number>();
    expectTypeOf(ctx.state.materialize("cp13")).toEqualTypeOf<readonly number[]>();
    return { n, s: ctx.state.m03 };
  })
  .map("m15", (o) => `${o.s}${o.n}`)
  .flatMap("fm16", async function* (s) {
    yield s;
  })
  .batch("b17", 4)
  .map("m18", (arr, ctx) => {
    // after a batch, earlier keys give the members' values
    expectTypeOf(arr).toEqualTypeOf<string[]>();
    expectTypeOf(ctx.state.m01).toEqualTypeOf<number[]>();
    expectTypeOf(ctx.state.m14).toEqualTypeOf<{ n: number; s: string }[]>();
    expectTypeOf(ctx.state.b17).toEqualTypeOf<string[]>();
    return arr.length;
  })
  .window("w19", 3, 1)
  .map("m20", (arr, ctx) => {
    expectTypeOf(arr).toEqualTypeOf<number[]>();
    expectTypeOf(ctx.state.m01).toEqualTypeOf<number[][]>();
    expectTypeOf(ctx.state.b17).toEqualTypeOf<string[][]>();
    expectTypeOf(ctx.state.m18).toEqualTypeOf<number[]>();
    return arr.reduce((a, b) => a + b, 0);
  })
  .bufferTime("bt21", 10, 8)
  .flatMap("fm22", (arr) => arr)
  .map("m23", (n) => n > 1)
  .filter("f24", (b) => b)
  .map("m25", (b) => Number(b))
  .map("m26", (n) => new Date(n))
  .filter("f27", (d) => !Number.isNaN(d.getTime()))
  .map("m28", (d) => BigInt(d.getTime()))
  .tap("t29", async () => {})
  .map("m30", (big) => ({ big }))
  .map("m31", (o) => String(o.big))
  .filter("f32", (s): s is "x" => s === "x")
  .map("m33", (x, ctx) => {
    expectTypeOf(x).toEqualTypeOf<"x">();
    expectTypeOf(ctx.state.m01).toEqualTypeOf<number[][][]>();
    expectTypeOf(ctx.state.bt21).toEqualTypeOf<number[]>();
    expectTypeOf(ctx.state.m30).toEqualTypeOf<{ big: bigint }>();
    expectTypeOf(ctx.index).toEqualTypeOf<number>();
    return { x, at: ctx.index };
  })
  .skip("sk34", 0)
  .take("tk35", 10)
  .map("m36", describeItem)
  .map("m37", (n) => ({ list: [n] }))
  .flatMap("fm38", (o) => o.list)
  .takeWhile("tw39", async (n) => n >= 0)
  .skipWhile("sw40", (n) => n < 0)
  .checkpoint("cp41")
  .map("m42", (n, ctx) => ctx.state.materialize("cp41").length + n)
  .map("m43", async (n) => n.toString(16))
  .filter("f44", async (s) => s.length > 0)
  .tap("t45", async (s) => {
    expectTypeOf(s).toEqualTypeOf<string>();
  })
  .map("m46", (s) => s.split(","))
  .flatMap("fm47", (a) => new Set(a))
  .map("m48", (s) => (s.length === 0 ? null : s))
  .filter("f49", (v): v is string => v !== null)
  .map("m50", (s) => ({ done: true as const, s }));

type S = StateOf<typeof chain>;

describe("StreamingPipeline: inference through a 50-stage chain", () => {
  test("the output type is exact", () => {
    expectTypeOf<OutOf<typeof chain>>().toEqualTypeOf<{ done: true; s: string }>();
    expectTypeOf<OutOf<typeof chain>>().not.toBeAny();
    expectTypeOf(chain.executeToArray).returns.resolves.toEqualTypeOf<
      { done: true; s: string }[]
    >();
  });

  test("the state at the end is exact: three groupings nest the earlier keys", () => {
    expectTypeOf<S>().not.toBeAny();
    // Not `.branded`: the state is one plain object type (readonly included), not an
    // intersection of one object per key.
    expectTypeOf<S>().toEqualTypeOf<{
      readonly m01: number[][][];
      readonly f02: number[][][];
      readonly m03: string[][][];
      readonly fm04: string[][][];
      readonly t05: string[][][];
      readonly m06: number[][][];
      readonly m07: (string | number)[][][];
      readonly f08: number[][][];
      readonly tk09: number[][][];
      readonly sk10: number[][][];
      readonly tw11: number[][][];
      readonly sw12: number[][][];
      readonly cp13: number[][][];
      readonly m14: { n: number; s: string }[][][];
      readonly m15: string[][][];
      readonly fm16: string[][][];
      readonly b17: string[][][];
      readonly m18: number[][];
      readonly w19: number[][];
      readonly m20: number[];
      readonly bt21: number[];
      readonly fm22: number;
      readonly m23: boolean;
      readonly f24: boolean;
      readonly m25: number;
      readonly m26: Date;
      readonly f27: Date;
      readonly m28: bigint;
      readonly t29: bigint;
      readonly m30: { big: bigint };
      readonly m31: string;
      readonly f32: "x";
      readonly m33: { x: "x"; at: number };
      readonly sk34: { x: "x"; at: number };
      readonly tk35: { x: "x"; at: number };
      readonly m36: number;
      readonly m37: { list: number[] };
      readonly fm38: number;
      readonly tw39: number;
      readonly sw40: number;
      readonly cp41: number;
      readonly m42: number;
      readonly m43: string;
      readonly f44: string;
      readonly t45: string;
      readonly m46: string[];
      readonly fm47: string;
      readonly m48: string | null;
      readonly f49: string;
      readonly m50: { done: true; s: string };
    }>();
  });

  test("no state member is any", () => {
    expectTypeOf<S["m01"]>().not.toBeAny();
    expectTypeOf<S["m07"]>().not.toBeAny();
    expectTypeOf<S["fm16"]>().not.toBeAny();
    expectTypeOf<S["m36"]>().not.toBeAny();
    expectTypeOf<S["fm47"]>().not.toBeAny();
    expectTypeOf<S["m50"]>().not.toBeAny();
  });

  test("keys stay unique to the end", () => {
    // @ts-expect-error duplicate key "m01" after 50 stages
    chain.map("m01", (o) => o);
    // @ts-expect-error duplicate key "b17" after 50 stages
    chain.batch("b17", 2);
    chain.map("m51", (o) => o.s);
  });
});
