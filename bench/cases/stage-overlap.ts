/**
 * Case `stage-overlap`: three sequential async stages of 20 ms each over 100
 * items. Without overlap a run takes 100 × 3 × 20 ms = 6 s; with one item of
 * buffer per stage the stages work in parallel and it takes ≈ (100 + 2) × 20 ms.
 */
import { Readable } from "node:stream";
import { type AnySource, mapGen } from "../lib/generators.ts";
import { sleep } from "../lib/sleep.ts";
import { loadSluice } from "../lib/sluice.ts";
import type { BenchCase, Implementation, Probe } from "../types.ts";

const STAGE_MS = 20;
const STAGES = 3;

/** One stage: waits 20 ms, then adds one. */
const stage = async (x: number, signal?: AbortSignal): Promise<number> => {
  await sleep(STAGE_MS, signal);
  return x + 1;
};
const stageFn = (x: number): Promise<number> => stage(x);

function* counted(size: number, probe: Probe): Generator<number> {
  for (let i = 0; i < size; i++) {
    probe.pulled();
    yield i;
  }
}

/** Σ (k + 1) · vₖ over the delivered values: any reordering changes it. */
async function consume(results: AnySource<number>, probe: Probe): Promise<number> {
  let sum = 0;
  let k = 0;
  for await (const v of results) {
    probe.delivered();
    sum += ++k * v;
  }
  return sum;
}

function reference(size: number): number {
  let sum = 0;
  for (let i = 0; i < size; i++) sum += (i + 1) * (i + STAGES);
  return sum;
}

const implementations: Record<string, Implementation> = {
  "async-generators": {
    description: "three async generator stages: each pulls only when asked, so nothing overlaps",
    async prepare({ size }) {
      return (probe) =>
        consume(mapGen(mapGen(mapGen(counted(size, probe), stageFn), stageFn), stageFn), probe);
    },
  },
  sluice: {
    description: "sluice `.map(name, fn, { buffer: 1 })` ×3",
    async prepare({ size }) {
      const sluice = await loadSluice();
      const fn = (x: number, ctx: { readonly signal: AbortSignal }): Promise<number> =>
        stage(x, ctx.signal);
      const pipeline = sluice.StreamingPipeline.start<number>()
        .map("a", fn, { buffer: 1 })
        .map("b", fn, { buffer: 1 })
        .map("c", fn, { buffer: 1 });
      return (probe) => consume(pipeline.executeFrom(counted(size, probe)), probe);
    },
  },
  "streaming-iterables": {
    description: "`pipeline(map, buffer(1), map, buffer(1), map)` (extra peer)",
    async prepare({ size }) {
      const si = await import("streaming-iterables");
      const { buffer: siBuffer, map: siMap, pipeline: siPipeline } = si;
      return (probe) =>
        consume(
          siPipeline(
            () => counted(size, probe),
            siMap(stageFn),
            siBuffer(1),
            siMap(stageFn),
            siBuffer(1),
            siMap(stageFn),
          ),
          probe,
        );
    },
  },
  "node-readable": {
    description:
      "`Readable.from(source).map().map().map()`: stream buffers overlap stages (extra peer)",
    async prepare({ size }) {
      return (probe) =>
        consume(Readable.from(counted(size, probe)).map(stageFn).map(stageFn).map(stageFn), probe);
    },
  },
};

/** The `stage-overlap` case. */
export const stageOverlap: BenchCase = {
  name: "stage-overlap",
  description:
    "n items through 3 sequential async stages of `await sleep(20 ms)`. No overlap: n × 3 × 20 ms; full overlap: (n + 2) × 20 ms (= idealMs; efficiency = idealMs ÷ time).",
  baseline: "async-generators",
  columns: ["efficiency", "firstResult", "readAhead"],
  variants: (quick) => {
    const size = quick ? 10 : 100;
    return [{ name: `n=${size}`, params: { size, idealMs: (size + STAGES - 1) * STAGE_MS } }];
  },
  reference: ({ size }) => reference(size),
  implementations,
};
