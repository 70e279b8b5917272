import type { StageSpec } from "../engine/stage-spec.js";
import { GroupStage } from "./group-stage.js";
import { positiveInt, positiveNumber, requireFunction } from "./options.js";

/**
 * How `batch` groups items: by count, by weight (tokens, bytes) and by time, whichever
 * closes the group first.
 *
 * @example
 * ```ts
 * const byTokens: BatchOptions<string> = { size: 64, maxWeight: 8_000, weigh: (s) => s.length / 4, maxWaitMs: 500 };
 * ```
 */
export interface BatchOptions<T = unknown> {
  /** Most items per batch. Optional when `maxWeight` or `maxWaitMs` is given. */
  size?: number;
  /** Most total weight per batch; needs `weigh`. */
  maxWeight?: number;
  /** An item's weight: a finite number ≥ 0. */
  weigh?: (item: T) => number;
  /** Emit a partial batch once its first item has waited this long. */
  maxWaitMs?: number;
}

/** Groups items into arrays; the final partial batch is emitted. */
export function batchStage(key: string, sizeOrOptions: number | BatchOptions<never>): StageSpec {
  const o: BatchOptions<never> =
    typeof sizeOrOptions === "number" ? { size: sizeOrOptions } : (sizeOrOptions ?? {});
  if (typeof o !== "object") {
    throw new TypeError(`Stage "${key}": batch takes a size or an options object, got ${typeof o}`);
  }
  if (o.size === undefined && o.maxWeight === undefined && o.maxWaitMs === undefined) {
    throw new RangeError(`Stage "${key}": batch needs size, maxWeight or maxWaitMs`);
  }
  const size = o.size === undefined ? Number.POSITIVE_INFINITY : positiveInt(o.size, "size", key);
  const maxWeight =
    o.maxWeight === undefined ? undefined : positiveNumber(o.maxWeight, "maxWeight", key);
  if (maxWeight !== undefined) requireFunction(o.weigh, "weigh (required with maxWeight)", key);
  else if (o.weigh !== undefined) requireFunction(o.weigh, "weigh", key);
  const maxWaitMs =
    o.maxWaitMs === undefined ? undefined : positiveNumber(o.maxWaitMs, "maxWaitMs", key);
  const weigh = o.weigh as ((item: unknown) => number) | undefined;
  return {
    key,
    kind: "batch",
    readsState: false,
    create: (upstream, rt) => new GroupStage(upstream, rt, { size, maxWeight, weigh, maxWaitMs }),
  };
}
