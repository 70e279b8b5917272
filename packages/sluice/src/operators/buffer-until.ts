import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { isThenable, newChunk, now } from "../engine/chunk.js";
import { groupLineage } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
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

const TIMEOUT: unique symbol = Symbol("timeout");
/** Most items asked of upstream at once. */
const MAX_DEMAND = 512;

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
    create: (upstream, rt) => new BufferUntilStage(upstream, rt, predicate, maxSize, maxWaitMs),
  };
}

/**
 * Like `GroupStage` (batch, bufferTime), the upstream pull stays pending across calls so
 * that `maxWaitMs` can close a group while the source is idle; the timer is cleared when
 * the pull wins, at the stop, and when the pull fails.
 */
class BufferUntilStage extends Stage {
  private cur: unknown[] = [];
  private curLins: (Lineage | null)[] = [];
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
    private readonly predicate: BufferUntilPredicate<unknown>,
    private readonly maxSize: number,
    private readonly maxWaitMs: number | undefined,
  ) {
    super(upstream, [rt]);
    this.ready = newChunk(rt.track);
  }

  async pull(demand: number): Promise<Chunk | null> {
    const { maxWaitMs } = this;
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
      const room = this.maxSize - this.cur.length;
      this.pending ??= this.upstream.pull(Math.max(1, Math.min(MAX_DEMAND, demand, room)));
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
    const { values, lins } = chunk;
    for (let i = 0; i < values.length; i++) {
      const item = values[i];
      if (this.cur.length === 0) this.firstAt = now();
      this.cur.push(item);
      if (this.rt.track) this.curLins.push(lins?.[i] ?? null);
      const done = this.predicate(item, this.cur);
      if (isThenable(done)) {
        throw new TypeError(
          `Stage "${this.rt.key}": bufferUntil's predicate must be synchronous, it returned a promise`,
        );
      }
      if (done || this.cur.length >= this.maxSize) this.flush();
    }
  }

  private flush(): void {
    const group = this.cur;
    this.ready.values.push(group);
    this.ready.lins?.push(groupLineage(this.rt.key, group, this.curLins));
    this.cur = [];
    this.curLins = [];
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
