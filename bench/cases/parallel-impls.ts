/**
 * The implementations shared by `parallel-latency` and
 * `parallel-latency-varied`: a concurrent map of a latency-bound task
 * (`await sleep(d)`, then `i * 2`) over a counted source, in input order or in
 * completion order.
 */
import { Readable } from "node:stream";
import type { AnySource } from "../lib/generators.ts";
import { callbackPool, minimalIterator } from "../lib/parallel-references.ts";
import { sleep } from "../lib/sleep.ts";
import { loadSluice } from "../lib/sluice.ts";
import {
  type Implementation,
  isSkip,
  type Probe,
  type RunFn,
  type Skip,
  type VariantParams,
} from "../types.ts";

/** How long task `i` sleeps, in ms. */
export type Duration = (i: number) => number;

/** The parameters every parallel variant carries. */
interface ParallelParams {
  readonly size: number;
  readonly concurrency: number;
  readonly ordered: boolean;
}

function parallelParams(params: VariantParams): ParallelParams {
  return {
    size: params.size,
    concurrency: Number(params.concurrency),
    ordered: params.ordered === true,
  };
}

/** The source: 0 … size − 1, counting every item it hands out. */
function* countedSource(size: number, probe: Probe): Generator<number> {
  for (let i = 0; i < size; i++) {
    probe.pulled();
    yield i;
  }
}

/**
 * The checksum of the delivered sequence: Σ (k + 1) · vₖ when the order must be
 * kept (a reordering changes it), Σ vₖ otherwise.
 */
export function parallelReference(size: number, ordered: boolean): number {
  let sum = 0;
  for (let k = 0; k < size; k++) sum += ordered ? (k + 1) * (k * 2) : k * 2;
  return sum;
}

/**
 * The checksum of delivered results as they arrive (see {@link parallelReference}): `add`
 * each one, in delivery order, then read `sum`. Counts each as delivered to the probe.
 */
function checksum(ordered: boolean, probe: Probe) {
  let sum = 0;
  let k = 0;
  return {
    add(v: number): void {
      probe.delivered();
      k++;
      sum += ordered ? k * v : v;
    },
    get sum(): number {
      return sum;
    },
  };
}

async function consume(
  results: AnySource<number>,
  ordered: boolean,
  probe: Probe,
): Promise<number> {
  const total = checksum(ordered, probe);
  for await (const v of results) total.add(v);
  return total.sum;
}

/**
 * The hand-written baseline: an ordered sliding window of at most
 * `concurrency` promises, written with one async generator.
 */
export async function* orderedWindow<T, U>(
  source: AnySource<T>,
  fn: (item: T) => Promise<U>,
  concurrency: number,
): AsyncGenerator<U> {
  const window: Promise<U>[] = [];
  for await (const item of source) {
    window.push(fn(item));
    if (window.length >= concurrency) yield await window.shift()!;
  }
  while (window.length > 0) yield await window.shift()!;
}

/** A task: sleeps `duration(i)` ms (abortable through `signal`), then returns `i * 2`. */
type Task = (i: number, signal?: AbortSignal) => Promise<number>;

type Runner = (
  p: ParallelParams,
  task: (i: number) => Promise<number>,
  withSignal: Task,
) => Promise<RunFn | Skip>;

function impl(
  description: string,
  runner: Runner,
  orderedOnly?: string,
): (duration: Duration) => Implementation {
  return (duration) => ({
    description,
    unsupported: (params) => (params.ordered === true ? undefined : orderedOnly),
    prepare: async (params) => {
      const p = parallelParams(params);
      // The task reports to the probe of the current run (one run per process).
      let probe: Probe | undefined;
      const withSignal: Task = async (i, signal) => {
        probe?.inFlight(1);
        try {
          await sleep(duration(i), signal);
          return i * 2;
        } finally {
          probe?.inFlight(-1);
        }
      };
      const prepared = await runner(p, (i) => withSignal(i), withSignal);
      if (isSkip(prepared)) return prepared;
      return (runProbe) => {
        probe = runProbe;
        return prepared(runProbe);
      };
    },
  });
}

const HAND_WRITTEN_ORDERED = "the hand-written baseline is ordered only";
const PMAP_ORDERED = "pMap (it resolves to an array) has no unordered mode";
const READABLE_ORDERED = "Readable.map has no unordered mode";
const REFERENCE_ORDERED = "the references are ordered only";

/**
 * `task`, counting each call as an item the source handed out: the references number their
 * items instead of reading a source, and call the task exactly when they would read one.
 */
function pulledTask(
  task: (i: number) => Promise<number>,
  probe: Probe,
): (i: number) => Promise<number> {
  return (i) => {
    probe.pulled();
    return task(i);
  };
}

const makers: Record<string, (duration: Duration) => Implementation> = {
  "hand-written": impl(
    "ordered sliding window of promises in one async generator (ordered only)",
    async (p, task) =>
      p.ordered
        ? (probe) =>
            consume(orderedWindow(countedSource(p.size, probe), task, p.concurrency), true, probe)
        : { skipped: HAND_WRITTEN_ORDERED },
    HAND_WRITTEN_ORDERED,
  ),
  "p-map": impl(
    "`pMap(source, fn, {concurrency})`: resolves to the whole array (ordered only)",
    async (p, task) => {
      if (!p.ordered) return { skipped: PMAP_ORDERED };
      const { default: pMap } = await import("p-map");
      return async (probe) => {
        const all = await pMap(countedSource(p.size, probe), task, {
          concurrency: p.concurrency,
        });
        return consume(all, true, probe);
      };
    },
    PMAP_ORDERED,
  ),
  "p-map-iterable": impl(
    "`pMapIterable(source, fn, {concurrency, preserveOrder})` (p-map 7.1)",
    async (p, task) => {
      const { pMapIterable } = await import("p-map");
      return (probe) =>
        consume(
          pMapIterable(countedSource(p.size, probe), task, {
            concurrency: p.concurrency,
            preserveOrder: p.ordered,
          }),
          p.ordered,
          probe,
        );
    },
  ),
  "it-parallel": impl("`parallel(source of thunks, {concurrency, ordered})`", async (p, task) => {
    const { default: parallel } = await import("it-parallel");
    return (probe) => {
      function* thunks(): Generator<() => Promise<number>> {
        for (const i of countedSource(p.size, probe)) yield () => task(i);
      }
      return consume(
        parallel(thunks(), { concurrency: p.concurrency, ordered: p.ordered }),
        p.ordered,
        probe,
      );
    };
  }),
  "node-readable": impl(
    "`Readable.from(source).map(fn, {concurrency})` (ordered only)",
    async (p, task) =>
      p.ordered
        ? (probe) =>
            consume(
              Readable.from(countedSource(p.size, probe)).map((i: number) => task(i), {
                concurrency: p.concurrency,
              }),
              true,
              probe,
            )
        : { skipped: READABLE_ORDERED },
    READABLE_ORDERED,
  ),
  "streaming-iterables": impl(
    "`parallelMap(c, fn)` when ordered, `transform(c, fn)` when unordered",
    async (p, task) => {
      const { parallelMap, transform } = await import("streaming-iterables");
      return (probe) =>
        consume(
          p.ordered
            ? parallelMap(p.concurrency, task, countedSource(p.size, probe))
            : transform(p.concurrency, task, countedSource(p.size, probe)),
          p.ordered,
          probe,
        );
    },
  ),
  "callback-pool": impl(
    "reference, not a peer: an ordered pool of callbacks that starts each replacement in the callback that delivered (no iterator; lib/parallel-references.ts): the least work any ordered concurrent map does (ordered only)",
    async (p, task) =>
      p.ordered
        ? async (probe) => {
            const total = checksum(true, probe);
            await callbackPool(p.size, pulledTask(task, probe), p.concurrency, total.add);
            return total.sum;
          }
        : { skipped: REFERENCE_ORDERED },
    REFERENCE_ORDERED,
  ),
  "minimal-iterator": impl(
    "reference, not a peer: the same behind a bare async iterator holding at most c items, a finished item handed straight to a waiting consumer (lib/parallel-references.ts): the least an async-iterator API with the peers' bound does (ordered only)",
    async (p, task) =>
      p.ordered
        ? (probe) =>
            consume(minimalIterator(p.size, pulledTask(task, probe), p.concurrency), true, probe)
        : { skipped: REFERENCE_ORDERED },
    REFERENCE_ORDERED,
  ),
  sluice: sluiceImpl(
    "sluice `.map(name, fn, {concurrency, ordered})`, `executeFrom`; the same task as the others",
    "ignore",
  ),
  "sluice-signal": sluiceImpl(
    "as `sluice`, but the mapper reads its `ctx.signal` (checks `aborted` before the task): the price of a per-item signal, which the others do not have",
    "read",
  ),
  "sluice-abortable": sluiceImpl(
    "as `sluice`, but each task passes its `ctx.signal` to an abortable sleep (the per-item signal plus an abort listener per task: what makes in-flight work cancellable, and what the others do not pay)",
    "listen",
  ),
};

/**
 * What a sluice mapper does with its item's signal: nothing, read it (the engine then has to
 * provide one), or hand it to the task, which adds and removes an abort listener.
 */
type SignalUse = "ignore" | "read" | "listen";

/** The sluice implementation, whose mapper uses each item's signal as `use` says. */
function sluiceImpl(description: string, use: SignalUse): (duration: Duration) => Implementation {
  return impl(description, async (p, task, withSignal) => {
    const sluice = await loadSluice();
    const options = { concurrency: p.concurrency, ordered: p.ordered };
    const start = sluice.StreamingPipeline.start<number>();
    const pipeline =
      use === "listen"
        ? start.map("task", (i: number, ctx) => withSignal(i, ctx.signal), options)
        : use === "read"
          ? start.map(
              "task",
              (i: number, ctx) => {
                const { signal } = ctx;
                if (signal.aborted) return Promise.reject(signal.reason);
                return task(i);
              },
              options,
            )
          : start.map("task", (i: number) => task(i), options);
    return (probe) => consume(pipeline.executeFrom(countedSource(p.size, probe)), p.ordered, probe);
  });
}

/** Builds the implementations map for a given task duration. */
export function parallelImplementations(duration: Duration): Record<string, Implementation> {
  return Object.fromEntries(Object.entries(makers).map(([name, make]) => [name, make(duration)]));
}

/** Σ duration(i) over the input: the total work, in ms. */
export function totalWorkMs(size: number, duration: Duration): number {
  let total = 0;
  for (let i = 0; i < size; i++) total += duration(i);
  return total;
}

/** The suffix of the variants whose recorded warm runs each follow a forced GC. */
export const GC_SUFFIX = ",gc-between-runs";

/** A parallel variant's name, e.g. `c=32,ordered` or `c=32,ordered,gc-between-runs`. */
export function parallelVariantName(concurrency: number, ordered: boolean, gc = false): string {
  return `c=${concurrency},${ordered ? "ordered" : "unordered"}${gc ? GC_SUFFIX : ""}`;
}

/**
 * The variants: every concurrency × {ordered, unordered}, and for the concurrencies in
 * `gcAt` the same pair again with `gcBetweenRuns` (a forced GC before every recorded warm
 * run), each right after its plain twin. `idealMs` is the total work divided by the
 * concurrency (no task longer than that bound), so `efficiency = idealMs / measured time`.
 */
export function parallelVariants(
  size: number,
  concurrencies: readonly number[],
  duration: Duration,
  gcAt: readonly number[] = [],
): { name: string; params: VariantParams }[] {
  const work = totalWorkMs(size, duration);
  let longest = 0;
  for (let i = 0; i < size; i++) longest = Math.max(longest, duration(i));
  return concurrencies.flatMap((concurrency) =>
    [true, false].flatMap((ordered) => {
      const params = {
        size,
        concurrency,
        ordered,
        idealMs: Math.max(work / concurrency, longest),
      };
      const plain = { name: parallelVariantName(concurrency, ordered), params };
      if (!gcAt.includes(concurrency)) return [plain];
      const gc = {
        name: parallelVariantName(concurrency, ordered, true),
        params: { ...params, gcBetweenRuns: true },
      };
      return [plain, gc];
    }),
  );
}
