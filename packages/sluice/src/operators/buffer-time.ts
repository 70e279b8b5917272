import type { StageSpec } from "../engine/stage-spec.js";
import { GroupStage } from "./group-stage.js";
import { positiveInt, positiveNumber } from "./options.js";

/**
 * Collects items for `ms` from the first item of each buffer (or until `maxSize` items),
 * then emits them as an array. Never emits an empty array; never waits on an idle source
 * after cancellation.
 */
export function bufferTimeStage(key: string, ms: number, maxSize?: number): StageSpec {
  const maxWaitMs = positiveNumber(ms, "ms", key);
  const size =
    maxSize === undefined ? Number.POSITIVE_INFINITY : positiveInt(maxSize, "maxSize", key);
  return {
    key,
    kind: "bufferTime",
    readsState: false,
    create: (upstream, rt) =>
      new GroupStage(upstream, rt, { size, maxWeight: undefined, weigh: undefined, maxWaitMs }),
  };
}
