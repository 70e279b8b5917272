import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline, type StreamingRun } from "../index.js";

/**
 * Property tests: random operator chains run through StreamingPipeline must agree with a
 * plain array model. Values are numbers or (after batch/window) nested arrays; every
 * function works on `num(v)`, a number projection, so any op can follow any other.
 */

type Value = number | Value[];

const num = (v: unknown): number =>
  Array.isArray(v) ? v.reduce((a: number, x) => a + num(x), 0) : (v as number);

const MAPS: ((v: Value) => Value)[] = [
  (v) => num(v) + 1,
  (v) => num(v) * 2,
  (v) => num(v) - 3,
  (v) => num(v) % 5,
  (v) => -num(v),
  (v) => v,
];
const PREDICATES: ((v: Value) => boolean)[] = [
  (v) => num(v) % 2 === 0,
  (v) => num(v) % 2 !== 0,
  (v) => num(v) > 0,
  (v) => num(v) % 3 !== 0,
  () => true,
  () => false,
];
/** 0–3 outputs per item, depending on the item. */
const expand = (k: number) => (v: Value) =>
  Array.from({ length: (Math.abs(num(v)) + k) % 4 }, (_, i) => num(v) + i);

interface Timing {
  /** Whether the fn returns a promise. */
  async: boolean;
  /** Microtasks an async fn waits, plus a per-item share so completion order varies. */
  delay: number;
  /** Declare (item) only, or (item, ctx): the engine takes different paths. */
  withCtx: boolean;
}
interface ItemOpts extends Timing {
  concurrency: number;
  buffer: number;
}

type Op =
  | ({ kind: "map"; f: number } & ItemOpts)
  | ({ kind: "filter"; p: number } & ItemOpts)
  | ({ kind: "flatMap"; k: number } & ItemOpts)
  | ({ kind: "tap" } & ItemOpts)
  | ({ kind: "checkPrev" } & ItemOpts)
  | { kind: "take"; n: number }
  | { kind: "skip"; n: number }
  | ({ kind: "takeWhile"; p: number } & Timing)
  | ({ kind: "skipWhile"; p: number } & Timing)
  | { kind: "batch"; size: number }
  | { kind: "window"; size: number; slide: number };

const timingArb = fc.record({
  async: fc.boolean(),
  delay: fc.integer({ min: 0, max: 2 }),
  withCtx: fc.boolean(),
});
const itemOptsArb = fc
  .record({
    timing: timingArb,
    concurrency: fc.integer({ min: 1, max: 8 }),
    buffer: fc.constantFrom(0, 0, 1, 3),
  })
  .map(({ timing, concurrency, buffer }) => ({ ...timing, concurrency, buffer }));

const perItemOps = [
  fc
    .record({ f: fc.nat(MAPS.length - 1), o: itemOptsArb })
    .map(({ f, o }): Op => ({ kind: "map", f, ...o })),
  fc
    .record({ p: fc.nat(PREDICATES.length - 1), o: itemOptsArb })
    .map(({ p, o }): Op => ({ kind: "filter", p, ...o })),
  fc.record({ k: fc.nat(3), o: itemOptsArb }).map(({ k, o }): Op => ({ kind: "flatMap", k, ...o })),
  itemOptsArb.map((o): Op => ({ kind: "tap", ...o })),
  itemOptsArb.map((o): Op => ({ kind: "checkPrev", ...o })),
];

const opArb: fc.Arbitrary<Op> = fc.oneof(
  ...perItemOps,
  fc.nat(10).map((n): Op => ({ kind: "take", n })),
  fc.nat(10).map((n): Op => ({ kind: "skip", n })),
  fc
    .record({ p: fc.nat(PREDICATES.length - 1), t: timingArb })
    .map(({ p, t }): Op => ({ kind: "takeWhile", p, ...t })),
  fc
    .record({ p: fc.nat(PREDICATES.length - 1), t: timingArb })
    .map(({ p, t }): Op => ({ kind: "skipWhile", p, ...t })),
  fc.integer({ min: 1, max: 4 }).map((size): Op => ({ kind: "batch", size })),
  fc
    .record({ size: fc.integer({ min: 1, max: 4 }), slide: fc.integer({ min: 1, max: 4 }) })
    .map(({ size, slide }): Op => ({ kind: "window", size, slide })),
);

/** At most two expansions per chain keeps runs small. */
const chainArb = fc
  .array(opArb, { minLength: 1, maxLength: 8 })
  .filter((ops) => ops.filter((o) => o.kind === "flatMap").length <= 2);

const inputArb = fc.oneof(
  fc.constant([] as number[]),
  fc.array(fc.integer({ min: -6, max: 6 }), { maxLength: 24 }),
);

// ---------------------------------------------------------------------------------------
// The reference model.

function windows(xs: Value[], size: number, slide: number): Value[][] {
  const out: Value[][] = [];
  let s = 0;
  let lastCovered = -1;
  for (; s + size <= xs.length; s += slide) {
    out.push(xs.slice(s, s + size));
    lastCovered = s + size - 1;
  }
  if (s < xs.length && xs.length - 1 > lastCovered) out.push(xs.slice(s));
  return out;
}

function model(ops: readonly Op[], input: readonly Value[]): Value[] {
  let xs: Value[] = [...input];
  for (const op of ops) {
    switch (op.kind) {
      case "map":
        xs = xs.map(MAPS[op.f] as (v: Value) => Value);
        break;
      case "filter":
        xs = xs.filter(PREDICATES[op.p] as (v: Value) => boolean);
        break;
      case "flatMap":
        xs = xs.flatMap(expand(op.k));
        break;
      case "tap":
      case "checkPrev":
        break;
      case "take":
        xs = xs.slice(0, op.n);
        break;
      case "skip":
        xs = xs.slice(op.n);
        break;
      case "takeWhile": {
        const p = PREDICATES[op.p] as (v: Value) => boolean;
        const cut = xs.findIndex((x) => !p(x));
        xs = cut === -1 ? xs : xs.slice(0, cut);
        break;
      }
      case "skipWhile": {
        const p = PREDICATES[op.p] as (v: Value) => boolean;
        const cut = xs.findIndex((x) => !p(x));
        xs = cut === -1 ? [] : xs.slice(cut);
        break;
      }
      case "batch": {
        const out: Value[] = [];
        for (let i = 0; i < xs.length; i += op.size) out.push(xs.slice(i, i + op.size));
        xs = out;
        break;
      }
      case "window":
        xs = windows(xs, op.size, op.slide);
        break;
    }
  }
  return xs;
}

// ---------------------------------------------------------------------------------------
// The system under test.

/** The builder seen without its static types: chains are built at run time. */
interface Loose {
  map(key: string, fn: unknown, options?: object): Loose;
  filter(key: string, fn: unknown, options?: object): Loose;
  flatMap(key: string, fn: unknown, options?: object): Loose;
  tap(key: string, fn: unknown, options?: object): Loose;
  take(key: string, n: number): Loose;
  skip(key: string, n: number): Loose;
  takeWhile(key: string, fn: unknown): Loose;
  skipWhile(key: string, fn: unknown): Loose;
  batch(key: string, size: number): Loose;
  window(key: string, size: number, slide: number): Loose;
  executeFrom(source: unknown): StreamingRun<unknown>;
}

/** Live counters shared by the functions of one run. */
interface Probe {
  active: number;
  calls: number;
  mismatches: number;
}

async function microtasks(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}

/** Wraps a pure fn with the timing the op asks for and the probe's counters. */
function wrap<R>(pure: (v: Value) => R, t: Timing, probe: Probe): unknown {
  const delayOf = (v: Value) => t.delay + (Math.abs(num(v)) % 3);
  if (!t.async) {
    const sync = (v: Value) => {
      probe.calls++;
      return pure(v);
    };
    return t.withCtx ? (v: Value, _ctx: ItemContext) => sync(v) : (v: Value) => sync(v);
  }
  const run = async (v: Value) => {
    probe.calls++;
    probe.active++;
    try {
      await microtasks(delayOf(v));
      return pure(v);
    } finally {
      probe.active--;
    }
  };
  return t.withCtx ? (v: Value, _ctx: ItemContext) => run(v) : (v: Value) => run(v);
}

function itemOptions(op: ItemOpts, ordered: boolean) {
  return { concurrency: op.concurrency, buffer: op.buffer, ordered };
}

function build(ops: readonly Op[], probe: Probe, ordered = true): Loose {
  let p = StreamingPipeline.start<Value>() as unknown as Loose;
  ops.forEach((op, i) => {
    const key = `s${i}`;
    const prevKey = i > 0 ? `s${i - 1}` : undefined;
    switch (op.kind) {
      case "map":
        p = p.map(
          key,
          wrap(MAPS[op.f] as (v: Value) => Value, op, probe),
          itemOptions(op, ordered),
        );
        break;
      case "filter":
        p = p.filter(
          key,
          wrap(PREDICATES[op.p] as (v: Value) => boolean, op, probe),
          itemOptions(op, ordered),
        );
        break;
      case "flatMap":
        p = p.flatMap(key, wrap(expand(op.k), op, probe), itemOptions(op, ordered));
        break;
      case "tap":
        p = p.tap(
          key,
          wrap(() => "ignored", op, probe),
          itemOptions(op, ordered),
        );
        break;
      case "checkPrev": {
        // Lineage: the state at the previous key is the very item this stage receives.
        const check = async (v: Value, ctx: ItemContext<Record<string, unknown>>) => {
          probe.calls++;
          probe.active++;
          try {
            await microtasks(op.async ? op.delay : 0);
            if (prevKey !== undefined && !Object.is(ctx.state[prevKey], v)) probe.mismatches++;
            return v;
          } finally {
            probe.active--;
          }
        };
        p = p.map(key, check, itemOptions(op, ordered));
        break;
      }
      case "take":
        p = p.take(key, op.n);
        break;
      case "skip":
        p = p.skip(key, op.n);
        break;
      case "takeWhile":
        p = p.takeWhile(key, wrap(PREDICATES[op.p] as (v: Value) => boolean, op, probe));
        break;
      case "skipWhile":
        p = p.skipWhile(key, wrap(PREDICATES[op.p] as (v: Value) => boolean, op, probe));
        break;
      case "batch":
        p = p.batch(key, op.size);
        break;
      case "window":
        p = p.window(key, op.size, op.slide);
        break;
    }
  });
  return p;
}

function countingSource(input: readonly Value[]) {
  const c = { started: 0, finallyRan: 0 };
  async function* gen() {
    c.started++;
    try {
      for (const x of input) yield x;
    } finally {
      c.finallyRan++;
    }
  }
  return { c, gen };
}

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const newProbe = (): Probe => ({ active: 0, calls: 0, mismatches: 0 });

// ---------------------------------------------------------------------------------------

describe("StreamingPipeline agrees with the array model", () => {
  it("ordered chains over an array and over an async generator", async () => {
    await fc.assert(
      fc.asyncProperty(chainArb, inputArb, async (ops, input) => {
        const expected = model(ops, input);

        const probeA = newProbe();
        const fromArray = await collect(build(ops, probeA).executeFrom(input));
        expect(fromArray).toEqual(expected);
        expect(probeA.mismatches).toBe(0);

        const probeB = newProbe();
        const src = countingSource(input);
        const run = build(ops, probeB).executeFrom(src.gen());
        expect(await collect(run)).toEqual(expected);
        expect(probeB.mismatches).toBe(0);
        expect(probeB.active).toBe(0);
        expect(run.metadata().status).toBe("completed");
        if (src.c.started > 0) expect(src.c.finallyRan).toBe(1);
      }),
      { numRuns: 250 },
    );
  });

  it("unordered per-item chains give the same multiset", async () => {
    const unorderedOp = fc.oneof(...perItemOps);
    const key = (v: unknown) => JSON.stringify(v);
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(unorderedOp, { minLength: 1, maxLength: 6 })
          .filter((ops) => ops.filter((o) => o.kind === "flatMap").length <= 2),
        inputArb,
        fc.boolean(),
        async (ops, input, asyncSource) => {
          const expected = model(ops, input).map(key).sort();
          const probe = newProbe();
          const source = asyncSource ? countingSource(input).gen() : input;
          const out = await collect(build(ops, probe, false).executeFrom(source));
          expect(out.map(key).sort()).toEqual(expected);
          expect(probe.mismatches).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a consumer's early break closes every source and leaves nothing in flight", async () => {
    await fc.assert(
      fc.asyncProperty(
        chainArb,
        fc.array(fc.integer({ min: -6, max: 6 }), { minLength: 1, maxLength: 24 }),
        fc.nat(6),
        async (ops, input, breakAfter) => {
          const expected = model(ops, input);
          const probe = newProbe();
          const src = countingSource(input);
          const run = build(ops, probe).executeFrom(src.gen());
          const seen: unknown[] = [];
          for await (const x of run) {
            seen.push(x);
            if (seen.length > breakAfter) break;
          }
          // The break awaited run.return(): everything has settled now.
          expect(seen).toEqual(expected.slice(0, breakAfter + 1));
          expect(probe.active).toBe(0);
          for (const s of run.metadata().stages) expect(s.inFlight).toBe(0);
          if (src.c.started > 0) expect(src.c.finallyRan).toBe(1);
          const status = run.metadata().status;
          expect(status).toBe(seen.length > breakAfter ? "cancelled" : "completed");
          const calls = probe.calls;
          await microtasks(20);
          expect(probe.calls).toBe(calls);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("re-running the same pipeline gives the same output", async () => {
    await fc.assert(
      fc.asyncProperty(chainArb, inputArb, async (ops, input) => {
        const p = build(ops, newProbe());
        const a = await collect(p.executeFrom(input));
        const b = await collect(p.executeFrom(countingSource(input).gen()));
        expect(b).toEqual(a);
      }),
      { numRuns: 60 },
    );
  });

  it("the model's window matches the spec's examples", () => {
    const r = (n: number) => Array.from({ length: n }, (_, i) => i + 1);
    expect(windows(r(5), 3, 1)).toEqual([
      [1, 2, 3],
      [2, 3, 4],
      [3, 4, 5],
    ]);
    expect(windows(r(5), 2, 2)).toEqual([[1, 2], [3, 4], [5]]);
    expect(windows(r(4), 2, 3)).toEqual([[1, 2], [4]]);
    expect(windows(r(2), 3, 3)).toEqual([[1, 2]]);
  });
});
