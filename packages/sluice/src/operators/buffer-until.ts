import type { StageSpec } from "../engine/stage-spec.js";
import { GroupStage } from "./group-stage.js";
import { positiveInt, positiveNumber, requireFunction } from "./options.js";

/**
 * Options of `bufferUntil`: limits that close a group before its predicate does.
 *
 * @example
 * ```ts
 * const limits: BufferUntilOptions = { maxSize: 50, maxWaitMs: 2_000 };
 * ```
 */
export interface BufferUntilOptions {
  /** Close the group once it holds this many items. */
  maxSize?: number;
  /** Close a non-empty group once its first item has waited this long. */
  maxWaitMs?: number;
}

/**
 * Whether a group is complete: called for each item with the group that item just
 * joined (the item is its last member). Synchronous.
 *
 * @example
 * ```ts
 * const endsSection: BufferUntilPredicate<string> = (line) => line.endsWith("\n\n");
 * ```
 */
export type BufferUntilPredicate<T> = (item: T, group: readonly T[]) => unknown;

/**
 * Groups items into arrays, closing a group after the item for which `predicate(item,
 * group)` is truthy, or earlier at `maxSize` items or `maxWaitMs` after the group's first
 * item. The last group is emitted when the input ends, complete or not; never an empty
 * one. The predicate must be synchronous; one that throws fails the run.
 */
export function bufferUntilStage(
  key: string,
  predicate: BufferUntilPredicate<unknown>,
  options: BufferUntilOptions | undefined,
): StageSpec {
  requireFunction(predicate, "bufferUntil's predicate", key);
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(
      `Stage "${key}": bufferUntil's options must be an object, got ${typeof options}`,
    );
  }
  const maxSize =
    options?.maxSize === undefined
      ? Number.POSITIVE_INFINITY
      : positiveInt(options.maxSize, "maxSize", key);
  const maxWaitMs =
    options?.maxWaitMs === undefined
      ? undefined
      : positiveNumber(options.maxWaitMs, "maxWaitMs", key);
  return {
    key,
    kind: "bufferUntil",
    readsState: false,
    create: (upstream, rt) =>
      new GroupStage(upstream, rt, {
        size: maxSize,
        maxWeight: undefined,
        weigh: undefined,
        maxWaitMs,
        closesAfter: predicate,
      }),
  };
}
