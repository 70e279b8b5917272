/**
 * Case `sync-chain`: 1,000,000 numbers through five synchronous stages
 * (map, filter, map, filter, map), summed. Measures per-item overhead.
 */
import { Readable } from "node:stream";
import { fold } from "../lib/consume.ts";
import { filterGen, mapGen } from "../lib/generators.ts";
import { loadSluice } from "../lib/sluice.ts";
import type { BenchCase, Implementation } from "../types.ts";
import {
  add,
  chainInput,
  chainMeasurement,
  double,
  half,
  inc,
  notFive,
  notThree,
} from "./chain-stages.ts";

const implementations: Record<string, Implementation> = {
  "plain-loop": {
    description: "a `for` loop with the five stages inlined (the floor)",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        let sum = 0;
        for (const x of data) {
          const a = double(x);
          if (!notThree(a)) continue;
          const b = inc(a);
          if (!notFive(b)) continue;
          sum += half(b);
        }
        return sum;
      };
    },
  },
  "async-generators": {
    description: "five hand-written async generator functions, consumed with `for await`",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        const out = mapGen(
          filterGen(mapGen(filterGen(mapGen(data, double), notThree), inc), notFive),
          half,
        );
        let sum = 0;
        for await (const x of out) sum += x;
        return sum;
      };
    },
  },
  "streaming-iterables": {
    description: "`pipeline(map, filter, …, reduce)` (every stage is async)",
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
          siMap(double),
          siFilter(notThree),
          siMap(inc),
          siFilter(notFive),
          siMap(half),
          siReduce(add, 0),
        );
    },
  },
  ix: {
    description: "`ix/asynciterable` `from(data).pipe(map, filter, …)`, `for await`",
    async prepare({ size }) {
      const { from: ixFrom } = await import("ix/asynciterable");
      const { filter: ixFilter, map: ixMap } = await import("ix/asynciterable/operators");
      const data = chainInput(size);
      return async () => {
        const out = ixFrom(data).pipe(
          ixMap(double),
          ixFilter(notThree),
          ixMap(inc),
          ixFilter(notFive),
          ixMap(half),
        );
        let sum = 0;
        for await (const x of out) sum += x;
        return sum;
      };
    },
  },
  "it-pipe": {
    description: "`it-pipe` with `it-map` / `it-filter` (they stay synchronous on a sync source)",
    async prepare({ size }) {
      const { pipe: itPipe } = await import("it-pipe");
      const { default: itMap } = await import("it-map");
      const { default: itFilter } = await import("it-filter");
      const data = chainInput(size);
      return async () => {
        const out = itPipe(
          () => data,
          (s) => itMap(s, double),
          (s) => itFilter(s, notThree),
          (s) => itMap(s, inc),
          (s) => itFilter(s, notFive),
          (s) => itMap(s, half),
        );
        return fold(out, 0, add);
      };
    },
  },
  "node-readable": {
    description: "`Readable.from(data).map().filter()…reduce()` (Node stream helpers)",
    async prepare({ size }) {
      const data = chainInput(size);
      return async () => {
        const total: number = await Readable.from(data)
          .map((x: number) => double(x))
          .filter((x: number) => notThree(x))
          .map((x: number) => inc(x))
          .filter((x: number) => notFive(x))
          .map((x: number) => half(x))
          .reduce((acc: number, x: number) => acc + x, 0);
        return total;
      };
    },
  },
  effect: {
    description: "effect `Stream.fromIterable` + `Stream.map/filter` + `Stream.runFold`",
    async prepare({ size }) {
      const { Effect, Stream } = await import("effect");
      const data = chainInput(size);
      return () =>
        Effect.runPromise(
          Stream.fromIterable(data).pipe(
            Stream.map(double),
            Stream.filter(notThree),
            Stream.map(inc),
            Stream.filter(notFive),
            Stream.map(half),
            Stream.runFold(0, add),
          ),
        );
    },
  },
  rxjs: {
    description: "rxjs (push-based) `from(data).pipe(map, filter, …, reduce)`",
    async prepare({ size }) {
      const rx = await import("rxjs");
      const { from: rxFrom, filter: rxFilter, map: rxMap, reduce: rxReduce, lastValueFrom } = rx;
      const data = chainInput(size);
      return () =>
        lastValueFrom(
          rxFrom(data).pipe(
            rxMap(double),
            rxFilter(notThree),
            rxMap(inc),
            rxFilter(notFive),
            rxMap(half),
            rxReduce(add, 0),
          ),
        );
    },
  },
  sluice: sluiceChain(true),
  "sluice-metrics-off": sluiceChain(false),
};

/** The sluice implementation, with metrics on (the default) or off, to measure their cost. */
function sluiceChain(metrics: boolean): Implementation {
  const call = metrics ? "executeFrom(data)" : "executeFrom(data, { metrics: false })";
  return {
    description: `sluice \`StreamingPipeline\` with five sync stages, \`${call}\``,
    async prepare({ size }) {
      const sluice = await loadSluice();
      const data = chainInput(size);
      const pipeline = sluice.StreamingPipeline.start<number>()
        .map("double", double)
        .filter("notThree", notThree)
        .map("inc", inc)
        .filter("notFive", notFive)
        .map("half", half);
      const options = metrics ? {} : { metrics: false };
      return async () => {
        let sum = 0;
        for await (const x of pipeline.executeFrom(data, options)) sum += x;
        return sum;
      };
    },
  };
}

/** The `sync-chain` case. */
export const syncChain: BenchCase = {
  name: "sync-chain",
  description:
    "Integers 0…n−1 through 5 synchronous stages (map ×2, filter %3, map +1, filter %5, map ×0.5), summed. Reports ns per input item.",
  baseline: "async-generators",
  ...chainMeasurement,
  implementations,
};
