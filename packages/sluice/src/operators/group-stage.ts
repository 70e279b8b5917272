import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { isThenable, newChunk, now } from "../engine/chunk.js";
import { groupLineage } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";

/** How a grouping stage closes a group: by count, by weight, by time, whichever first. */
export interface GroupSettings {
  size: number;
  maxWeight: number | undefined;
  weigh: ((item: unknown) => number) | undefined;
  maxWaitMs: number | undefined;
  /**
   * `bufferUntil`'s predicate: closes the group after the item for which it is truthy, called
   * with the group the item just joined. Synchronous.
   */
  closesAfter?: ((item: unknown, group: readonly unknown[]) => unknown) | undefined;
}

/** Most items asked of upstream at once when the group size is unbounded. */
const MAX_GROUP_DEMAND = 512;
const TIMEOUT: unique symbol = Symbol("timeout");

/**
 * The core of `batch`, `bufferTime` and `bufferUntil`: collects items into arrays. The upstream pull stays
 * pending across calls, so a timer can close a group while the source is idle; the timer is
 * cleared whenever the pull wins and on cancellation. The final partial group is emitted.
 */
export class GroupStage extends Stage {
  private cur: unknown[] = [];
  private curLins: (Lineage | null)[] = [];
  private curWeight = 0;
  private firstAt = 0;
  private ready: Chunk;
  private pending: Promise<Chunk | null> | null = null;
  private upstreamDone = false;
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Settles the pending timer race with null at the stop. */
  private wake: (() => void) | undefined;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly settings: GroupSettings,
  ) {
    super(upstream, [rt]);
    this.ready = newChunk(rt.track);
  }

  async pull(_demand: number): Promise<Chunk | null> {
    const { maxWaitMs, size } = this.settings;
    for (;;) {
      if (this.closed) return null;
      if (this.ready.values.length > 0) {
        const out = this.ready;
        this.ready = newChunk(this.rt.track);
        return out;
      }
      if (this.upstreamDone) {
        if (this.cur.length > 0) {
          this.flush();
          continue;
        }
        return null;
      }
      const want = Math.min(
        MAX_GROUP_DEMAND,
        Number.isFinite(size) ? size - this.cur.length : size,
      );
      this.pending ??= this.upstream.pull(Math.max(1, want));
      let chunk: Chunk | null;
      if (maxWaitMs !== undefined && this.cur.length > 0) {
        const wait = this.firstAt + maxWaitMs - now();
        const r = wait <= 0 ? TIMEOUT : await this.raceTimer(this.pending, wait);
        if (r === TIMEOUT) {
          this.flush();
          continue;
        }
        chunk = r;
      } else {
        chunk = await this.pending;
      }
      this.pending = null;
      if (chunk === null) {
        this.upstreamDone = true;
        continue;
      }
      this.add(chunk);
    }
  }

  protected override onStop(): void {
    this.clearTimer();
    this.wake?.();
  }

  protected override release(): void {
    this.cur = [];
    this.curLins = [];
  }

  private add(chunk: Chunk): void {
    const { size, maxWeight, weigh } = this.settings;
    const { values, lins } = chunk;
    for (let i = 0; i < values.length; i++) {
      const item = values[i];
      let w = 0;
      if (weigh !== undefined) {
        w = weigh(item);
        if (typeof w !== "number" || !Number.isFinite(w) || w < 0) {
          throw new RangeError(
            `Stage "${this.rt.key}": weigh must return a finite number ≥ 0, got ${String(w)}`,
          );
        }
      }
      // A group closes before an item that would push it over the weight; an item heavier
      // than maxWeight on its own travels alone rather than being dropped.
      if (maxWeight !== undefined && this.cur.length > 0 && this.curWeight + w > maxWeight) {
        this.flush();
      }
      if (this.cur.length === 0) this.firstAt = now();
      this.cur.push(item);
      if (this.rt.track) this.curLins.push(lins?.[i] ?? null);
      this.curWeight += w;
      if (this.cur.length >= size || this.closes(item)) this.flush();
    }
  }

  private closes(item: unknown): boolean {
    const closesAfter = this.settings.closesAfter;
    if (closesAfter === undefined) return false;
    const done = closesAfter(item, this.cur);
    if (isThenable(done)) {
      throw new TypeError(
        `Stage "${this.rt.key}": bufferUntil's predicate must be synchronous, it returned a promise`,
      );
    }
    return Boolean(done);
  }

  private flush(): void {
    const group = this.cur;
    this.ready.values.push(group);
    this.ready.lins?.push(groupLineage(this.rt.key, group, this.curLins));
    this.cur = [];
    this.curLins = [];
    this.curWeight = 0;
  }

  private raceTimer(
    pending: Promise<Chunk | null>,
    ms: number,
  ): Promise<Chunk | null | typeof TIMEOUT> {
    return new Promise((resolve, reject) => {
      this.wake = () => resolve(null);
      this.timer = setTimeout(() => {
        this.timer = undefined;
        resolve(TIMEOUT);
      }, ms);
      pending.then(
        (chunk) => {
          this.clearTimer();
          resolve(chunk);
        },
        (error: unknown) => {
          this.clearTimer();
          reject(error);
        },
      );
    });
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
