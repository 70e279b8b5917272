import fc from "fast-check";
import { afterEach, describe, expect, it, vi } from "vitest";
import { StreamingPipeline } from "../index.js";
import { type FusedGroup, type FusedStop, fusedGroup, genericGroup } from "./fused-loop.js";
import { EmitMode } from "./item-worker.js";
import { LoopStop } from "./loop-stop.js";

type Fn = (item: unknown) => unknown;

/** A stop record that no loop writes, so a field a loop leaves alone shows as "unset". */
const unsetStop = (): FusedStop => ({
  kind: -1 as LoopStop,
  stage: -1,
  item: "unset",
  value: "unset",
});

describe("fused loop code generation", () => {
  it.each([
    ["generated", fusedGroup],
    ["generic", genericGroup],
  ])("resumes at stage 0 by running every stage (%s)", (_, make) => {
    const { resume } = make(
      [EmitMode.MAP, EmitMode.MAP],
      [(x) => (x as number) + 1, (x) => (x as number) * 10],
    );
    const out: unknown[] = [];
    const counts = [0, 0];
    const stop = unsetStop();
    resume(0, 4, out, counts, stop);
    expect(out).toEqual([50]);
    expect(counts).toEqual([1, 1]);
    expect(stop.kind).toBe(LoopStop.NONE);
  });

  it("returns generated functions where the runtime allows code generation", () => {
    // The generic fallback's functions are closures compiled with this module, so neither
    // their names nor their source can look like the template's.
    const { loop, resume } = fusedGroup([EmitMode.MAP, EmitMode.FILTER], [(x) => x, (x) => x]);
    expect(loop.name).toBe("fusedLoop");
    expect(resume.name).toBe("fusedResume");
    expect(loop.toString()).toMatch(/\bf1\(v\)/);
    expect(resume.toString()).toMatch(/\bf1\(v\)/);
  });

  // The frame text `fusedLoop (eval at …)` is V8's stack format (Node, Deno, Chromium).
  it.skipIf("Bun" in globalThis)(
    "runs a pipeline's fused stages in the generated loop",
    async () => {
      let stack = "";
      const run = StreamingPipeline.start<number>()
        .map("a", (x) => x + 1)
        .map("b", (x) => {
          stack ||= new Error("where").stack ?? "";
          return x;
        })
        .executeFrom([1, 2, 3]);
      const out: number[] = [];
      for await (const v of run) out.push(v);
      expect(out).toEqual([2, 3, 4]);
      // V8 names the frame after the template's function and places it in eval'd code; the
      // generic loop's frames are anonymous closures in this package's source files.
      expect(stack).toMatch(/\bfusedLoop\b.*\(eval at /);
    },
  );
});

describe("fused loop under a runtime that refuses code generation", () => {
  const realFunction = globalThis.Function;
  afterEach(() => {
    globalThis.Function = realFunction;
  });

  /**
   * A fresh copy of the module (its "can we generate code" memory unset) and a `Function`
   * constructor that throws `error`, installed only while `body` runs so nothing else sees it.
   */
  async function withRefusingFunction<T>(
    error: () => unknown,
    body: (mod: typeof import("./fused-loop.js")) => T,
  ): Promise<{ result: T | undefined; thrown: unknown; calls: number }> {
    vi.resetModules();
    const mod = await import("./fused-loop.js");
    let calls = 0;
    const refusing = function refusingFunction() {
      calls++;
      throw error();
    } as unknown as FunctionConstructor;
    globalThis.Function = refusing;
    try {
      return { result: body(mod), thrown: undefined, calls };
    } catch (thrown) {
      return { result: undefined, thrown, calls };
    } finally {
      globalThis.Function = realFunction;
    }
  }

  const modes = [EmitMode.MAP, EmitMode.MAP];
  const fns: Fn[] = [(x) => (x as number) + 1, (x) => (x as number) * 10];

  it("falls back to the generic loop on EvalError, and stops trying", async () => {
    const csp = () => new EvalError("Code generation from strings disallowed for this context");
    const { result, thrown, calls } = await withRefusingFunction(csp, (mod) => [
      mod.fusedGroup(modes, fns),
      mod.fusedGroup(modes, [(x) => x, (x) => x]),
    ]);
    expect(thrown).toBeUndefined();
    // The second group does not ask again: the refusal holds for the whole realm.
    expect(calls).toBe(1);
    const [group] = result as FusedGroup[];
    const { loop } = group as FusedGroup;
    expect(loop.name).not.toBe("fusedLoop");
    const out: unknown[] = [];
    const stop = unsetStop();
    expect(loop([1, 2], 0, out, [0, 0], stop)).toBe(2);
    expect(out).toEqual([20, 30]);
    expect(stop.kind).toBe(LoopStop.NONE);
  });

  it("does not swallow any other error from compiling the template", async () => {
    const templateBug = new SyntaxError("Unexpected token '}'");
    const { thrown } = await withRefusingFunction(
      () => templateBug,
      (mod) => mod.fusedGroup(modes, fns),
    );
    expect(thrown).toBe(templateBug);
  });

  it("keeps generating code after a non-EvalError", async () => {
    vi.resetModules();
    const mod = await import("./fused-loop.js");
    globalThis.Function = function refusingFunction() {
      throw new TypeError("template bug");
    } as unknown as FunctionConstructor;
    try {
      expect(() => mod.fusedGroup(modes, fns)).toThrow(TypeError);
    } finally {
      globalThis.Function = realFunction;
    }
    expect(mod.fusedGroup(modes, fns).loop.name).toBe("fusedLoop");
  });
});

/** How one stage of a random group behaves on integer input `n`. */
interface StageSpec {
  mode: EmitMode;
  mul: number;
  add: number;
  /** The result is taken modulo this (for filters: a zero is falsy, so the item is dropped). */
  mod: number;
  /** Throws when `n % throwMod === 0` (never when 0). */
  throwMod: number;
  throws: "error" | "undefined" | "string";
  /** Returns a thenable when `n % awaitMod === 1` (never when 0). */
  awaitMod: number;
  thenable: "promise" | "object" | "function";
}

const stageSpec: fc.Arbitrary<StageSpec> = fc.record({
  mode: fc.constantFrom(EmitMode.MAP, EmitMode.FILTER, EmitMode.TAP),
  mul: fc.integer({ min: -3, max: 3 }),
  add: fc.integer({ min: -5, max: 5 }),
  mod: fc.integer({ min: 1, max: 40 }),
  throwMod: fc.integer({ min: 0, max: 7 }),
  throws: fc.constantFrom("error", "undefined", "string"),
  awaitMod: fc.integer({ min: 0, max: 7 }),
  thenable: fc.constantFrom("promise", "object", "function"),
});

/**
 * The stage functions for `specs`. Thrown errors and returned thenables are memoized per
 * stage and input, so the generated and generic runs see the very same objects.
 */
function stageFns(specs: readonly StageSpec[]): Fn[] {
  const memo = new Map<string, unknown>();
  const once = (key: string, make: () => unknown) => {
    if (!memo.has(key)) memo.set(key, make());
    return memo.get(key);
  };
  return specs.map((s, j) => (x) => {
    const n = x as number;
    if (s.throwMod > 0 && n % s.throwMod === 0) {
      if (s.throws === "undefined") throw undefined;
      throw once(`throw ${j} ${n}`, () =>
        s.throws === "error" ? new Error(`stage ${j} on ${n}`) : `stage ${j} on ${n}`,
      );
    }
    if (s.awaitMod > 0 && n % s.awaitMod === 1) {
      return once(`await ${j} ${n}`, () => {
        if (s.thenable === "promise") return Promise.resolve(n);
        // biome-ignore lint/suspicious/noThenProperty: any thenable stops the loop, not only promises
        if (s.thenable === "object") return { then: () => {}, n };
        // biome-ignore lint/suspicious/noThenProperty: a function can be a thenable too
        return Object.assign(() => n, { then: () => {} });
      });
    }
    return (n * s.mul + s.add) % s.mod;
  });
}

interface Trace {
  out: unknown[];
  counts: number[];
  steps: unknown[];
}

/** Drives `loop` over `vals` from `start` as the fused stage does: past each stop, to the end. */
function driveLoop(group: FusedGroup, k: number, vals: readonly unknown[], start: number): Trace {
  const trace: Trace = { out: [], counts: new Array(k).fill(0), steps: [] };
  const stop = unsetStop();
  let pos = start;
  do {
    pos = group.loop(vals, pos, trace.out, trace.counts, stop);
    trace.steps.push({ pos, ...stop });
    if (stop.kind === LoopStop.NONE) break;
    pos++;
  } while (pos < vals.length);
  return trace;
}

/** Resumes each of `vals` at stage `from`. */
function driveResume(group: FusedGroup, k: number, vals: readonly unknown[], from: number): Trace {
  const trace: Trace = { out: [], counts: new Array(k).fill(0), steps: [] };
  const stop = unsetStop();
  for (const v of vals) {
    group.resume(from, v, trace.out, trace.counts, stop);
    trace.steps.push({ ...stop });
  }
  return trace;
}

describe("generated and generic fused groups", () => {
  it("give the same outputs, counts and stops for random groups, from every stage", () => {
    fc.assert(
      fc.property(
        fc.array(stageSpec, { minLength: 1, maxLength: 5 }),
        fc.array(fc.integer({ min: -30, max: 30 }), { maxLength: 12 }),
        fc.nat(),
        (specs, vals, startSeed) => {
          const fns = stageFns(specs);
          const modes = specs.map((s) => s.mode);
          const k = specs.length;
          const generated = fusedGroup(modes, fns);
          const generic = genericGroup(modes, fns);
          expect(generated.loop.name).toBe("fusedLoop");
          const start = startSeed % (vals.length + 1);
          expect(driveLoop(generated, k, vals, start)).toStrictEqual(
            driveLoop(generic, k, vals, start),
          );
          for (let from = 0; from <= k; from++) {
            expect(driveResume(generated, k, vals, from)).toStrictEqual(
              driveResume(generic, k, vals, from),
            );
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
