/**
 * Case `memory` (which also gives the time-to-first-result figures): 100,000
 * lazily generated 4 KB documents through three stages, consumed one at a
 * time. Reports peak RSS, peak heap and time to first result.
 */
import { Readable } from "node:stream";
import { type AnySource, mapGen } from "../lib/generators.ts";
import { loadSluice } from "../lib/sluice.ts";
import type { BenchCase, Implementation, Probe } from "../types.ts";
import {
  addRecord,
  countWords,
  type Doc,
  type DocRecord,
  documents,
  documentsReference,
  shout,
  toRecord,
} from "./documents.ts";

/** The consumer every implementation ends with: one record at a time. */
async function summarize(records: AnySource<DocRecord>, probe: Probe): Promise<number> {
  let sum = 0;
  let k = 0;
  for await (const r of records) {
    probe.delivered();
    if ((++k & 63) === 0) probe.sample();
    sum = addRecord(sum, r);
  }
  return sum;
}

const implementations: Record<string, Implementation> = {
  "async-generators": {
    description: "three hand-written async generator stages over the lazy source",
    async prepare({ size }) {
      return (probe) =>
        summarize(
          mapGen(mapGen(mapGen(documents(size, probe), shout), countWords), toRecord),
          probe,
        );
    },
  },
  "array-batch": {
    description: "batch style: materialize every stage as an array (`[...source]`, `.map` ×3)",
    async prepare({ size }) {
      return (probe) => {
        const docs = [...documents(size, probe)];
        probe.sample();
        const shouted = docs.map(shout);
        probe.sample();
        const counted = shouted.map(countWords);
        probe.sample();
        const records = counted.map(toRecord);
        probe.sample();
        return summarize(records, probe);
      };
    },
  },
  "streaming-iterables": {
    description: "`pipeline(() => source, map, map, map)`",
    async prepare({ size }) {
      const { map: siMap, pipeline: siPipeline } = await import("streaming-iterables");
      return (probe) =>
        summarize(
          siPipeline(
            () => documents(size, probe),
            siMap(shout),
            siMap(countWords),
            siMap(toRecord),
          ),
          probe,
        );
    },
  },
  ix: {
    description: "`ix/asynciterable` `from(source).pipe(map, map, map)`",
    async prepare({ size }) {
      const { from: ixFrom } = await import("ix/asynciterable");
      const { map: ixMap } = await import("ix/asynciterable/operators");
      return (probe) =>
        summarize(
          ixFrom(documents(size, probe)).pipe(ixMap(shout), ixMap(countWords), ixMap(toRecord)),
          probe,
        );
    },
  },
  "node-readable": {
    description: "`Readable.from(source).map().map().map()` (object mode, default highWaterMark)",
    async prepare({ size }) {
      return (probe) =>
        summarize(
          Readable.from(documents(size, probe))
            .map((d: Doc) => shout(d))
            .map((d: Doc) => countWords(d))
            .map((d: ReturnType<typeof countWords>) => toRecord(d)),
          probe,
        );
    },
  },
  "sluice-streaming": {
    description: "sluice `StreamingPipeline` with three maps, `executeFrom(source)`",
    async prepare({ size }) {
      const sluice = await loadSluice();
      const pipeline = sluice.StreamingPipeline.start<Doc>()
        .map("shout", shout)
        .map("count", countWords)
        .map("record", toRecord);
      return (probe) => summarize(pipeline.executeFrom(documents(size, probe)), probe);
    },
  },
  "sluice-batch": {
    description: "sluice batch `Pipeline` with three `createStep` maps over the materialized array",
    async prepare({ size }) {
      const sluice = await loadSluice();
      const { createStep } = sluice;
      const pipeline = sluice.Pipeline.start<Doc[]>()
        .map(
          "shout",
          createStep<Doc, Doc>("shout", ({ input }) => shout(input)),
        )
        .map(
          "count",
          createStep("count", ({ input }: { readonly input: Doc }) => countWords(input)),
        )
        .map(
          "record",
          createStep("record", ({ input }: { readonly input: ReturnType<typeof countWords> }) =>
            toRecord(input),
          ),
        );
      return async (probe) => {
        const docs = [...documents(size, probe)];
        probe.sample();
        const result = await pipeline.execute(docs);
        probe.sample();
        if (!result.success) throw result.error;
        if (!Array.isArray(result.data)) throw new Error("sluice batch: data is not an array");
        return summarize(result.data, probe);
      };
    },
  },
};

/** The `memory` case. */
export const memory: BenchCase = {
  name: "memory",
  description:
    "n lazily generated 4 KB documents → upper-case → word count → {id, words, hash}, consumed one at a time. Reports peak RSS, peak heap and time to first result.",
  baseline: "async-generators",
  columns: ["firstResult", "rss", "heap", "readAhead", "nsPerItem"],
  warmRuns: 3,
  figures: [{ key: "warmFirstResultMs", header: "warm first result (ms)", digits: 3 }],
  variants: (quick) => {
    const size = quick ? 2_000 : 100_000;
    return [{ name: `n=${size}`, params: { size } }];
  },
  reference: ({ size }) => documentsReference(size),
  implementations,
};
