/**
 * Case `merge-sources`: the sync chain of `sync-chain` fed by `merge` of 4 arrays of n/4
 * items, against the same chain over one array of n items, both sluice, in the same run.
 * Measures what merging costs per item.
 */
import { loadSluice } from "../lib/sluice.ts";
import type { BenchCase, Implementation } from "../types.ts";
import {
  chainInput,
  chainMeasurement,
  double,
  half,
  inc,
  notFive,
  notThree,
} from "./chain-stages.ts";

/** How many sources the merged variant reads. */
export const MERGED_SOURCES = 4;

async function chain() {
  const sluice = await loadSluice();
  const pipeline = sluice.StreamingPipeline.start<number>()
    .map("double", double)
    .filter("notThree", notThree)
    .map("inc", inc)
    .filter("notFive", notFive)
    .map("half", half);
  return { sluice, pipeline };
}

const implementations: Record<string, Implementation> = {
  "sluice-single": {
    description: "sluice, five sync stages over one array of n items (`executeFrom(data)`)",
    async prepare({ size }) {
      const { pipeline } = await chain();
      const data = chainInput(size);
      return async () => {
        let sum = 0;
        for await (const x of pipeline.executeFrom(data)) sum += x;
        return sum;
      };
    },
  },
  "sluice-merge": {
    description: `sluice, the same stages over \`merge\` of ${MERGED_SOURCES} arrays of n/${MERGED_SOURCES} items`,
    async prepare({ size }) {
      const { sluice, pipeline } = await chain();
      const data = chainInput(size);
      const part = Math.ceil(size / MERGED_SOURCES);
      const parts = Array.from({ length: MERGED_SOURCES }, (_, i) =>
        data.slice(i * part, (i + 1) * part),
      );
      return async () => {
        let sum = 0;
        // A merged source is read once: a fresh one per run, over the same arrays.
        for await (const x of pipeline.executeFrom(sluice.merge(...parts))) sum += x;
        return sum;
      };
    },
  },
};

/** The `merge-sources` case. */
export const mergeSources: BenchCase = {
  name: "merge-sources",
  description: `Integers 0…n−1 through the 5 sync stages of sync-chain, summed: from \`merge\` of ${MERGED_SOURCES} arrays of n/${MERGED_SOURCES}, against one array of n. Reports ns per input item.`,
  baseline: "sluice-single",
  ...chainMeasurement,
  // The sum does not depend on the order in which the merged items arrive.
  implementations,
};
