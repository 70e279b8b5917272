/**
 * Why a synchronous per-item loop handed control back before the end of its chunk. The
 * loops run user functions inline while their results are plain values, and leave for the
 * async slow path (await, retry, error strategy) only for the one item that needs it.
 */
export const LoopStop = {
  /** Not stopped: the loop reached the end of its chunk (or the item went all the way through). */
  NONE: 0,
  /** A user function returned a promise (any thenable); the item waits for it on the slow path. */
  AWAIT: 1,
  /** A user function threw; the item goes to its stage's retry and error strategy. */
  THREW: 2,
} as const;

/** One of the {@link LoopStop} values. */
export type LoopStop = (typeof LoopStop)[keyof typeof LoopStop];
