/**
 * Case `async-chain`: the `sync-chain` pipeline with the three maps async
 * (`async x => x * 2`), the two filters synchronous. Measures the per-item cost
 * of awaiting a promise in each stage.
 */
import { Readable } from "node:stream";
import type { Effect as EffectType } from "effect/Effect";
import { fold } from "../lib/consume.ts";
import { filterGen, mapGen } from "../lib/generators.ts";
import { loadSluice } from "../lib/sluice.ts";
import type { BenchCase, Implementation } from "../types.ts";
import {
  add,
  chainInput,
  chainMeasurement,
  doubleAsync,
  halfAsync,
  incAsync,
  notFive,
  notThree,
} from "./chain-stages.ts";

const implementations: Record<string, Implementation> = {
  "plain-loop": {
    description: "a `for` loop awaiting the three async maps inline (the floor)",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        let sum = 0;
        for (const x of data) {
          const a = await doubleAsync(x);
          if (!notThree(a)) continue;
          const b = await incAsync(a);
          if (!notFive(b)) continue;
          sum += await halfAsync(b);
        }
        return sum;
      };
    },
  },
  "async-generators": {
    description: "five hand-written async generator functions (`yield await fn(x)`)",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        const out = mapGen(
          filterGen(mapGen(filterGen(mapGen(data, doubleAsync), notThree), incAsync), notFive),
          halfAsync,
        );
        let sum = 0;
        for await (const x of out) sum += x;
        return sum;
      };
    },
  },
  "streaming-iterables": {
    description: "`pipeline(map(async), filter, …, reduce)`",
    async prepare({ size }) {
      const {
        filter: siFilter,
        map: siMap,
        pipeline: siPipeline,
        reduce: siReduce,
      } = await import("streaming-iterables");
      const data = chainInput(size);
      return () =>
        siPipeline(
          () => data,
          siMap(doubleAsync),
          siFilter(notThree),
          siMap(incAsync),
          siFilter(notFive),
          siMap(halfAsync),
          siReduce(add, 0),
        );
    },
  },
  ix: {
    description: "`ix/asynciterable` `map(async)` / `filter`",
    async prepare({ size }) {
      const { from: ixFrom } = await import("ix/asynciterable");
      const { filter: ixFilter, map: ixMap } = await import("ix/asynciterable/operators");
      const data = chainInput(size);
      return async () => {
        const out = ixFrom(data).pipe(
          ixMap(doubleAsync),
          ixFilter(notThree),
          ixMap(incAsync),
          ixFilter(notFive),
          ixMap(halfAsync),
        );
        let sum = 0;
        for await (const x of out) sum += x;
        return sum;
      };
    },
  },
  "it-pipe": {
    description: "`it-pipe` with `it-map(async)` / `it-filter`",
    async prepare({ size }) {
      const { pipe: itPipe } = await import("it-pipe");
      const { default: itMap } = await import("it-map");
      const { default: itFilter } = await import("it-filter");
      const data = chainInput(size);
      return async () => {
        const out = itPipe(
          () => data,
          (s) => itMap(s, doubleAsync),
          (s) => itFilter(s, notThree),
          (s) => itMap(s, incAsync),
          (s) => itFilter(s, notFive),
          (s) => itMap(s, halfAsync),
        );
        return fold(out, 0, add);
      };
    },
  },
  "node-readable": {
    description: "`Readable.from(data).map(async).filter()…reduce()`",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        const total: number = await Readable.from(data)
          .map((x: number) => doubleAsync(x))
          .filter((x: number) => notThree(x))
          .map((x: number) => incAsync(x))
          .filter((x: number) => notFive(x))
          .map((x: number) => halfAsync(x))
          .reduce((acc: number, x: number) => acc + x, 0);
        return total;
      };
    },
  },
  effect: {
    description: "effect `Stream.mapEffect(x => Effect.promise(() => f(x)))` + `Stream.filter`",
    async prepare({ size }) {
      const { Effect, Stream } = await import("effect");
      const eff =
        (fn: (x: number) => Promise<number>) =>
        (x: number): EffectType<number> =>
          Effect.promise(() => fn(x));
      const data = chainInput(size);
      return () =>
        Effect.runPromise(
          Stream.fromIterable(data).pipe(
            Stream.mapEffect(eff(doubleAsync)),
            Stream.filter(notThree),
            Stream.mapEffect(eff(incAsync)),
            Stream.filter(notFive),
            Stream.mapEffect(eff(halfAsync)),
            Stream.runFold(0, add),
          ),
        );
    },
  },
  rxjs: {
    description: "rxjs `concatMap(async)` (sequential, order kept) + `filter` + `reduce`",
    async prepare({ size }) {
      const rx = await import("rxjs");
      const { from: rxFrom, filter: rxFilter, concatMap: rxConcatMap, reduce: rxReduce } = rx;
      const { lastValueFrom } = rx;
      const data = chainInput(size);
      return () =>
        lastValueFrom(
          rxFrom(data).pipe(
            rxConcatMap(doubleAsync),
            rxFilter(notThree),
            rxConcatMap(incAsync),
            rxFilter(notFive),
            rxConcatMap(halfAsync),
            rxReduce(add, 0),
          ),
        );
    },
  },
  sluice: {
    description: "sluice `StreamingPipeline` with three async maps and two sync filters",
    async prepare({ size }) {
      const sluice = await loadSluice();
      const data = chainInput(size);
      const pipeline = sluice.StreamingPipeline.start<number>()
        .map("double", doubleAsync)
        .filter("notThree", notThree)
        .map("inc", incAsync)
        .filter("notFive", notFive)
        .map("half", halfAsync);
      return async () => {
        let sum = 0;
        for await (const x of pipeline.executeFrom(data)) sum += x;
        return sum;
      };
    },
  },
};

/** The `async-chain` case. */
export const asyncChain: BenchCase = {
  name: "async-chain",
  description:
    "The sync-chain pipeline with its three maps async (`async x => …`), the filters sync, summed. Reports ns per input item.",
  baseline: "async-generators",
  ...chainMeasurement,
  implementations,
};
