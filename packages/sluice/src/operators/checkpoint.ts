import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { passThrough } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { StreamingError } from "../errors/step-error.js";
import { positiveInt } from "./options.js";

/**
 * Options of `checkpoint`.
 *
 * @example
 * ```ts
 * StreamingPipeline.start<number>()
 *   .checkpoint("all", { maxItems: 100_000 })
 *   .map("share", (n, ctx) => n / ctx.state.materialize("all").length);
 * ```
 */
export interface CheckpointOptions {
  /** Fail with `CHECKPOINT_LIMIT` rather than hold more than this many items. */
  maxItems?: number;
}

/**
 * The one explicit place where a stream is materialized: reads everything upstream into a
 * snapshot that later stages read through `state.materialize(key)`, `state.stream(key)`,
 * `state.hasSnapshot(key)` and `state.accumulated`, then passes the items on. Its memory
 * is O(items), on purpose and in plain sight; `maxItems` bounds it.
 */
export function checkpointStage(key: string, options: CheckpointOptions = {}): StageSpec {
  const maxItems =
    options.maxItems === undefined
      ? Number.POSITIVE_INFINITY
      : positiveInt(options.maxItems, "maxItems", key);
  return {
    key,
    kind: "checkpoint",
    readsState: false,
    create: (upstream, rt) => new CheckpointStage(upstream, rt, maxItems),
  };
}

class CheckpointStage extends Stage {
  private values: unknown[] | undefined;
  private lins: (Lineage | null)[] = [];
  private pos = 0;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly maxItems: number,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    if (this.values === undefined) {
      const values: unknown[] = [];
      for (;;) {
        const chunk = await this.upstream.pull(512);
        if (chunk === null) break;
        if (this.closed) return null;
        if (values.length + chunk.values.length > this.maxItems) {
          throw new StreamingError(
            `Checkpoint "${this.rt.key}" holds at most ${this.maxItems} items (maxItems); the stream had more`,
            { code: "CHECKPOINT_LIMIT", key: this.rt.key, traceId: this.rt.env.traceId },
          );
        }
        for (let i = 0; i < chunk.values.length; i++) {
          values.push(chunk.values[i]);
          if (this.rt.track) this.lins.push(chunk.lins?.[i] ?? null);
        }
      }
      this.values = values;
      this.rt.env.snapshots.set(this.rt.key, values);
    }
    if (this.closed || this.pos >= this.values.length) return null;
    const end = Math.min(this.values.length, this.pos + Math.max(1, demand));
    const out = passThrough(
      this.rt.key,
      this.rt.track,
      this.values.slice(this.pos, end),
      this.rt.track ? this.lins.slice(this.pos, end) : undefined,
    );
    this.pos = end;
    return out;
  }

  protected override release(): void {
    this.values = [];
    this.lins = [];
  }
}
