import type { Puller } from "./chunk.js";
import type { ItemOp } from "./item-worker.js";

/**
 * V8 holds the hidden classes ("maps") that a constructor's field stores create only weakly,
 * through the transition tree. Once a run's objects die, a full GC frees their maps, and with
 * them every optimized function built against those maps: the next run starts again in the
 * interpreter, deoptimizes and re-optimizes (measured: ~100 deopts per run of a parallel map,
 * efficiency at concurrency 128 falling from 0.8 to 0.5 with a GC between runs).
 *
 * One idle instance per engine class, alive for the life of the process, keeps those maps,
 * so code optimized in one run stays valid for the next.
 */
const kept: object[] = [];

/** A per-item stage's settings for the idle instances of the item stages. */
export const idleItemOp: ItemOp = {
  mode: 0, // EmitMode.MAP: a type-only import keeps this module free of import cycles
  invoke: () => undefined,
  wantsCtx: false,
  retry: undefined,
  strategy: "FAIL_FAST",
  stepName: undefined,
};

/** A puller that never answers, upstream of the idle instances. */
export const idlePuller: Puller = {
  pull: () => new Promise<never>(() => {}),
  stop: () => {},
  cancel: () => Promise.resolve(),
};

/**
 * Keeps `instance` alive for good, so the hidden class of its class stays valid across GCs.
 *
 * Every number-valued field is first given a fractional value and then its own back: a field
 * that first holds a small integer and later a fraction (a timestamp, a duration) otherwise
 * switches representation in the first run, which builds a new map that only that run's
 * objects hold. Fields that hold a number only later (`undefined` at first) change in place
 * and need nothing.
 */
export function keepShape<T extends object>(instance: T): T {
  const fields = instance as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (typeof value === "number") {
      fields[key] = 0.5;
      fields[key] = value;
    }
  }
  kept.push(instance);
  return instance;
}
