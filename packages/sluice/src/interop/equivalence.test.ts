import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  createStep,
  type ListErrorStrategy,
  Pipeline,
  type StepError,
  StreamingPipeline,
} from "../index.js";

/** What either builder reports about one list stage run. */
interface Observed {
  outputs: number[] | undefined;
  errorCode: string | undefined;
  errorIndices: number[];
  counts: { in: number; out: number; succeeded: number; failed: number; retried: number };
}

interface Case {
  input: number[];
  failing: Set<number>;
  transient: Set<number>;
  strategy: ListErrorStrategy;
  concurrency: number;
}

/** Items in `failing` always fail; items in `transient` fail once, then succeed on retry. */
function makeStep(c: Case) {
  const attempts = new Map<number, number>();
  return createStep<number, number>(
    "work",
    async ({ input }) => {
      const n = (attempts.get(input) ?? 0) + 1;
      attempts.set(input, n);
      await Promise.resolve();
      if (c.failing.has(input)) throw Object.assign(new Error(`bad ${input}`), { code: "E_BAD" });
      if (c.transient.has(input) && n === 1)
        throw Object.assign(new Error("blip"), { code: "ECONNRESET" });
      return input * 2 + 1;
    },
    { retry: { maxAttempts: 2, backoffMs: 0 } },
  );
}

async function viaBatch(c: Case): Promise<Observed> {
  const r = await Pipeline.start<number[]>()
    .map("m", makeStep(c), {
      parallel: c.concurrency > 1,
      concurrencyLimit: c.concurrency,
      errorStrategy: c.strategy,
    })
    .execute(c.input);
  const stage = r.metadata.stages?.[0];
  const counts = stage?.counts ?? {
    in: 0,
    out: 0,
    succeeded: 0,
    failed: 0,
    retried: 0,
    skipped: 0,
  };
  const errorIndices = r.success
    ? (r.metadata.errors ?? []).map((e) => e.itemIndex ?? -1)
    : r.error.errors
      ? r.error.errors.map((e) => e.index)
      : [r.error.itemIndex ?? -1];
  return {
    outputs: r.success
      ? r.data
      : r.error.code === "COLLECTED_ERRORS"
        ? [...(r.error.results as number[])]
        : undefined,
    errorCode: r.success ? undefined : r.error.code,
    errorIndices: errorIndices.sort((a, b) => a - b),
    counts: pick(counts),
  };
}

async function viaStreaming(c: Case): Promise<Observed> {
  const run = StreamingPipeline.start<number>()
    .map("m", makeStep(c), { concurrency: c.concurrency, errorStrategy: c.strategy })
    .executeFrom(c.input);
  const outputs: number[] = [];
  let error: StepError | undefined;
  try {
    for await (const v of run) outputs.push(v);
  } catch (e) {
    error = e as StepError;
  }
  const meta = run.metadata();
  const errorIndices =
    error === undefined
      ? meta.errors.map((e) => e.itemIndex ?? -1)
      : error.errors
        ? error.errors.map((e) => e.index)
        : [error.itemIndex ?? -1];
  const failedFast = error !== undefined && error.code !== "COLLECTED_ERRORS";
  return {
    outputs: failedFast ? undefined : outputs,
    errorCode: error?.code,
    errorIndices: errorIndices.sort((a, b) => a - b),
    counts: pick(meta.stages[0]?.counts ?? { in: 0, out: 0, succeeded: 0, failed: 0, retried: 0 }),
  };
}

function pick(c: Observed["counts"]): Observed["counts"] {
  return { in: c.in, out: c.out, succeeded: c.succeeded, failed: c.failed, retried: c.retried };
}

const caseArb = fc
  .record({
    input: fc.uniqueArray(fc.integer({ min: 0, max: 200 }), { maxLength: 40 }),
    failMask: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 40, maxLength: 40 }),
    strategy: fc.constantFrom<ListErrorStrategy>("FAIL_FAST", "SKIP_FAILED", "COLLECT_ERRORS"),
    concurrency: fc.constantFrom(1, 3, 10),
  })
  .map(({ input, failMask, strategy, concurrency }): Case => {
    const failing = new Set<number>();
    const transient = new Set<number>();
    input.forEach((v, i) => {
      const m = failMask[i] ?? 0;
      if (m === 0) failing.add(v);
      else if (m === 1) transient.add(v);
    });
    return { input, failing, transient, strategy, concurrency };
  });

describe("batch and streaming builders run one engine", () => {
  it("agree on outputs, errors and counts for random inputs and failure patterns", async () => {
    await fc.assert(
      fc.asyncProperty(caseArb, async (c) => {
        const batch = await viaBatch(c);
        const streaming = await viaStreaming(c);
        if (c.strategy === "FAIL_FAST" && batch.errorCode !== undefined) {
          // Which failure wins a parallel race may differ; both must fail on a failing item.
          expect(streaming.errorCode).toBe(batch.errorCode);
          expect(c.failing.has(c.input[streaming.errorIndices[0] ?? -1] ?? -1)).toBe(true);
          expect(c.failing.has(c.input[batch.errorIndices[0] ?? -1] ?? -1)).toBe(true);
          return;
        }
        expect(streaming).toEqual(batch);
        const expectedOut = c.input.filter((v) => !c.failing.has(v)).map((v) => v * 2 + 1);
        expect(batch.outputs).toEqual(expectedOut);
        expect(batch.counts.retried).toBe(c.input.filter((v) => c.transient.has(v)).length);
      }),
      { numRuns: 150 },
    );
  });
});
