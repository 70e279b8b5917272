import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type AckOutcome, acknowledged, StreamingPipeline } from "../index.js";

/**
 * Property tests of acknowledgement: random chains of every traceable operator, each value
 * carrying the ids of the deliveries it derives from. On a completed run every delivery is
 * acknowledged exactly once, with the outcome its derived items had, and never before the
 * last output derived from it was consumed; a run stopped early acknowledges nothing twice
 * and nothing whose outputs were still to come.
 */

interface V {
  readonly ids: readonly number[];
  readonly n: number;
}

interface Opts {
  concurrency: number;
  ordered: boolean;
  async: boolean;
}

type Op =
  | ({ kind: "map"; f: number } & Opts)
  | ({ kind: "filter"; m: number } & Opts)
  | ({ kind: "flatMap"; salt: number } & Opts)
  | ({ kind: "fail"; m: number; strategy: "SKIP_FAILED" | "SPLIT_ERRORS" } & Opts)
  | { kind: "skip"; n: number }
  | { kind: "skipWhile"; m: number }
  | { kind: "batch"; size: number }
  | { kind: "bufferUntil"; m: number; maxSize: number }
  | { kind: "distinct"; m: number; window: number | undefined }
  | { kind: "scan" }
  | { kind: "window"; size: number; slide: number };

const optsArb = (ordered: boolean | undefined) =>
  fc.record({
    concurrency: fc.integer({ min: 1, max: 4 }),
    ordered: ordered === undefined ? fc.boolean() : fc.constant(ordered),
    async: fc.boolean(),
  });

const opArb = (ordered: boolean | undefined): fc.Arbitrary<Op> =>
  fc.oneof(
    fc
      .record({ f: fc.nat(3), o: optsArb(ordered) })
      .map(({ f, o }): Op => ({ kind: "map", f, ...o })),
    fc
      .record({ m: fc.integer({ min: 2, max: 4 }), o: optsArb(ordered) })
      .map(({ m, o }): Op => ({ kind: "filter", m, ...o })),
    fc
      .record({ salt: fc.nat(3), o: optsArb(ordered) })
      .map(({ salt, o }): Op => ({ kind: "flatMap", salt, ...o })),
    fc
      .record({
        m: fc.integer({ min: 3, max: 6 }),
        strategy: fc.constantFrom("SKIP_FAILED" as const, "SPLIT_ERRORS" as const),
        o: optsArb(ordered),
      })
      .map(({ m, strategy, o }): Op => ({ kind: "fail", m, strategy, ...o })),
    fc.nat(3).map((n): Op => ({ kind: "skip", n })),
    fc.integer({ min: 2, max: 4 }).map((m): Op => ({ kind: "skipWhile", m })),
    fc.integer({ min: 1, max: 3 }).map((size): Op => ({ kind: "batch", size })),
    fc
      .record({ m: fc.integer({ min: 2, max: 4 }), maxSize: fc.integer({ min: 1, max: 4 }) })
      .map(({ m, maxSize }): Op => ({ kind: "bufferUntil", m, maxSize })),
    fc
      .record({
        m: fc.integer({ min: 2, max: 6 }),
        window: fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
      })
      .map(({ m, window }): Op => ({ kind: "distinct", m, window })),
    fc.constant<Op>({ kind: "scan" }),
    fc
      .record({ size: fc.integer({ min: 1, max: 3 }), slide: fc.integer({ min: 1, max: 3 }) })
      .map(({ size, slide }): Op => ({ kind: "window", size, slide })),
  );

const MAPS = [(n: number) => n + 1, (n: number) => n * 3, (n: number) => n - 2, (n: number) => n];

const join = (group: readonly V[]): V => ({
  ids: group.flatMap((v) => v.ids),
  n: group.reduce((a, v) => a + v.n, 0),
});

/** Awaits a macrotask now and then, so that parallel calls finish out of order. */
const later = <T>(value: T, v: V): Promise<T> | T =>
  new Promise((resolve) =>
    (Math.abs(v.n) % 3 === 0 ? setTimeout : queueMicrotask)(() => resolve(value)),
  );

function build(ops: readonly Op[], failedIds: Set<number>) {
  // biome-ignore lint/suspicious/noExplicitAny: the chain's type changes with every random op
  let p: any = StreamingPipeline.start<V>();
  ops.forEach((op, i) => {
    const key = `s${i}`;
    const call =
      <T>(f: (v: V) => T) =>
      (v: V) =>
        "async" in op && op.async ? later(f(v), v) : f(v);
    const options =
      "concurrency" in op ? { concurrency: op.concurrency, ordered: op.ordered } : undefined;
    switch (op.kind) {
      case "map":
        p = p.map(
          key,
          call((v) => ({ ids: v.ids, n: (MAPS[op.f] as (n: number) => number)(v.n) })),
          options,
        );
        break;
      case "filter":
        p = p.filter(
          key,
          call((v) => Math.abs(v.n) % op.m !== 0),
          options,
        );
        break;
      case "flatMap":
        p = p.flatMap(
          key,
          call((v) =>
            Array.from({ length: (Math.abs(v.n) + op.salt) % 4 }, (_, j) => ({
              ids: v.ids,
              n: v.n + j,
            })),
          ),
          options,
        );
        break;
      case "fail":
        p = p.map(
          key,
          call((v) => {
            if (Math.abs(v.n) % op.m === 1) {
              for (const id of v.ids) failedIds.add(id);
              throw new Error("planned failure");
            }
            return v;
          }),
          { ...options, errorStrategy: op.strategy },
        );
        break;
      case "skip":
        p = p.skip(key, op.n);
        break;
      case "skipWhile":
        p = p.skipWhile(key, (v: V) => Math.abs(v.n) % op.m !== 0);
        break;
      case "batch":
        p = p.batch(key, op.size).map(`${key}j`, join);
        break;
      case "window":
        p = p.window(key, op.size, op.slide).map(`${key}j`, join);
        break;
      case "bufferUntil":
        p = p
          .bufferUntil(key, (v: V) => Math.abs(v.n) % op.m === 0, { maxSize: op.maxSize })
          .map(`${key}j`, join);
        break;
      case "distinct":
        p = p.distinct(
          key,
          (v: V) => Math.abs(v.n) % op.m,
          op.window === undefined ? undefined : { window: op.window },
        );
        break;
      case "scan":
        p = p.scan(key, (acc: V, v: V) => ({ ids: v.ids, n: acc.n + v.n }), { ids: [], n: 0 });
        break;
    }
  });
  return p as StreamingPipeline<V, V, {}, unknown>;
}

interface Observed {
  /** Per delivery: its outcomes, in call order, and how many outputs held it at each call. */
  acks: Map<number, { outcome: AckOutcome; outputsSoFar: number }[]>;
  /** Per delivery: how many consumed outputs held it. */
  outputs: Map<number, number>;
  failedIds: Set<number>;
}

async function observe(ops: readonly Op[], n: number, stopAfter?: number): Promise<Observed> {
  const failedIds = new Set<number>();
  const acks: Observed["acks"] = new Map();
  const outputs = new Map<number, number>();
  const deliveries = Array.from({ length: n }, (_, id) => ({
    value: { ids: [id], n: id } as V,
    ack: (outcome: AckOutcome) => {
      const list = acks.get(id) ?? [];
      list.push({ outcome, outputsSoFar: outputs.get(id) ?? 0 });
      acks.set(id, list);
    },
  }));
  const run = build(ops, failedIds).executeFrom(acknowledged(deliveries));
  const drainErrors = (async () => {
    for await (const _ of run.errors) {
      // SPLIT_ERRORS records: they leave the pipeline through run.errors.
    }
  })();
  let count = 0;
  for await (const out of run) {
    for (const id of new Set(out.ids)) outputs.set(id, (outputs.get(id) ?? 0) + 1);
    if (stopAfter !== undefined && ++count >= stopAfter) break;
  }
  await drainErrors;
  return { acks, outputs, failedIds };
}

describe("acknowledgement: random pipelines", () => {
  it("a completed run acks every delivery exactly once, with its outcome, never early", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb(undefined), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 0, max: 25 }),
        async (ops, n) => {
          const { acks, outputs, failedIds } = await observe(ops, n);
          for (let id = 0; id < n; id++) {
            const list = acks.get(id);
            expect(list, `delivery ${id}`).toHaveLength(1);
            const [ack] = list as [{ outcome: AckOutcome; outputsSoFar: number }];
            const held = outputs.get(id) ?? 0;
            expect(ack.outputsSoFar, `delivery ${id} acked before its last output`).toBe(held);
            const expected = failedIds.has(id) ? "failed" : held > 0 ? "done" : "filtered";
            expect(ack.outcome, `delivery ${id}`).toBe(expected);
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a run stopped early acks nothing twice and nothing whose outputs were still to come", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb(true), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 25 }),
        fc.integer({ min: 1, max: 10 }),
        async (ops, n, stopAfter) => {
          const full = await observe(ops, n);
          const cut = await observe(ops, n, stopAfter);
          for (const [id, list] of cut.acks) {
            expect(list, `delivery ${id}`).toHaveLength(1);
            const [ack] = list as [{ outcome: AckOutcome; outputsSoFar: number }];
            // Ordered stages make the outputs the same in both runs: an acked delivery
            // had all its outputs consumed.
            expect(ack.outputsSoFar, `delivery ${id}`).toBe(full.outputs.get(id) ?? 0);
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
