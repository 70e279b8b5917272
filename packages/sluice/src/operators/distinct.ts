import type { Chunk, Puller } from "../engine/chunk.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { positiveInt, requireFunction } from "./options.js";

/**
 * Options of `distinct`.
 *
 * @example
 * ```ts
 * const recent: DistinctOptions = { window: 10_000 }; // remember the last 10,000 keys
 * ```
 */
export interface DistinctOptions {
  /**
   * Remember at most this many keys, least recently seen forgotten first (a key seen again
   * counts as new for the window), so memory stays bounded on an endless stream; a key
   * forgotten this way passes again. Default: every key, for the whole run.
   */
  window?: number;
}

/**
 * Drops items whose key (`by(item)`, default the item) was seen before in this run. Keys
 * compare like `Set` members (SameValueZero): objects by identity, so give `by` for
 * objects. A `by` that throws fails the run.
 */
export function distinctStage(
  key: string,
  by: ((item: unknown) => unknown) | undefined,
  options: DistinctOptions | undefined,
): StageSpec {
  if (by !== undefined) requireFunction(by, "distinct's key function (by)", key);
  if (options !== undefined && (typeof options !== "object" || options === null)) {
    throw new TypeError(
      `Stage "${key}": distinct's options must be an object, got ${typeof options}`,
    );
  }
  const window =
    options?.window === undefined ? undefined : positiveInt(options.window, "window", key);
  return {
    key,
    kind: "distinct",
    readsState: false,
    create: (upstream, rt) => new DistinctStage(upstream, rt, by, window),
  };
}

class DistinctStage extends Stage {
  /** Keys seen, in order of last sighting when windowed (a Map keeps insertion order). */
  private seen = new Map<unknown, true>();

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly by: ((item: unknown) => unknown) | undefined,
    private readonly window: number | undefined,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    for (;;) {
      const chunk = await this.upstream.pull(demand);
      if (chunk === null || this.closed) return null;
      const { values, lins } = chunk;
      const { by, window, seen } = this;
      const keep: unknown[] = [];
      const keepLins: Chunk["lins"] = lins === undefined ? undefined : [];
      for (let i = 0; i < values.length; i++) {
        const item = values[i];
        const k = by === undefined ? item : by(item);
        if (seen.has(k)) {
          if (window !== undefined) {
            // Refresh: a key that keeps recurring stays remembered.
            seen.delete(k);
            seen.set(k, true);
          }
          this.rt.env.acks?.release(lins?.[i], "filtered");
          continue;
        }
        seen.set(k, true);
        if (window !== undefined && seen.size > window) {
          seen.delete(seen.keys().next().value);
        }
        keep.push(item);
        keepLins?.push(lins?.[i] ?? null);
      }
      if (keep.length > 0) return passThrough(this.rt.key, this.rt.track, keep, keepLins);
    }
  }

  protected override release(): void {
    this.seen = new Map();
  }
}
