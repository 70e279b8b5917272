import { now } from "./chunk.js";

/**
 * How long a sequential stage keeps working through a chunk after it first had to wait on
 * a promise. Results that come back within a microtask fill whole chunks; slow ones (I/O)
 * leave one by one, so the next stage starts on them at once.
 */
export const ASYNC_CHUNK_BUDGET_MS = 1;

/** Awaited items this fast (ms each) came back within microtasks: the clock can wait. */
const FAST_ITEM_MS = 0.002;
/** Most awaited items between two clock reads. */
const MAX_STRIDE = 8;

/**
 * The time budget of a chunk whose items are awaited. A clock read costs about 50 ns, as
 * much as the rest of the per-item work of an async stage, so the clock is read after every
 * awaited item only while items are slow; while they come back within microtasks, every
 * 2nd, 4th, then 8th item. When fast items turn slow, at most {@link MAX_STRIDE} of them
 * pass before the chunk ends.
 */
export class ChunkBudget {
  private t0 = 0;
  private lastCheck = 0;
  /** Awaited items between clock reads; kept across chunks, back to 1 when items are slow. */
  private stride = 1;
  private left = 1;

  /** Starts a chunk begun at `t0` (a {@link now} reading). */
  begin(t0: number): void {
    this.t0 = t0;
    this.lastCheck = t0;
    this.left = this.stride;
  }

  /** Counts one awaited item; true once the chunk has used up its budget. */
  spent(): boolean {
    if (--this.left > 0) return false;
    const t = now();
    const perItem = (t - this.lastCheck) / this.stride;
    this.stride = perItem < FAST_ITEM_MS ? Math.min(MAX_STRIDE, this.stride * 2) : 1;
    this.left = this.stride;
    this.lastCheck = t;
    return t - this.t0 > ASYNC_CHUNK_BUDGET_MS;
  }
}
