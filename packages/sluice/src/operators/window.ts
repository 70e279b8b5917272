import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { newChunk } from "../engine/chunk.js";
import { groupLineage } from "../engine/lineage.js";
import type { StageRuntime } from "../engine/run-env.js";
import { Stage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { positiveInt } from "./options.js";

/**
 * Windows of `size` items starting every `slide` items: tumbling when `slide === size` (the
 * default), sliding when smaller, hopping when larger (items between windows are skipped by
 * design). Windows are full except possibly the last, which is emitted only when it holds
 * items that no earlier window held, so the tail is never dropped silently.
 */
export function windowStage(key: string, size: number, slide?: number): StageSpec {
  const n = positiveInt(size, "size", key);
  const step = slide === undefined ? n : positiveInt(slide, "slide", key);
  return {
    key,
    kind: "window",
    readsState: false,
    create: (upstream, rt) => new WindowStage(upstream, rt, n, step),
  };
}

class WindowStage extends Stage {
  private buf: unknown[] = [];
  private bufLins: (Lineage | null)[] = [];
  /** Position (in the input) of the next window's first item. */
  private nextStart = 0;
  /** Position of the next input item. */
  private position = 0;
  /** Last position that some emitted window held. */
  private lastCovered = -1;
  private ended = false;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly size: number,
    private readonly slide: number,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    for (;;) {
      if (this.ended || this.closed) return null;
      const chunk = await this.upstream.pull(Math.max(demand, this.size));
      if (this.closed) return null;
      const out = newChunk(this.rt.track);
      if (chunk === null) {
        this.ended = true;
        if (this.position - 1 > this.lastCovered && this.buf.length > 0)
          this.emit(out, this.buf.length);
        this.drop(this.buf.length);
        this.buf = [];
        this.bufLins = [];
        return out.values.length === 0 ? null : out;
      }
      const { values, lins } = chunk;
      for (let i = 0; i < values.length; i++) {
        const p = this.position++;
        if (p < this.nextStart) {
          // In the gap of a hopping window: no window holds it.
          this.rt.env.acks?.release(lins?.[i], "filtered");
          continue;
        }
        this.buf.push(values[i]);
        if (this.rt.track) this.bufLins.push(lins?.[i] ?? null);
        if (this.buf.length === this.size) {
          this.emit(out, this.size);
          this.lastCovered = this.nextStart + this.size - 1;
          this.nextStart += this.slide;
          const drop = Math.min(this.slide, this.buf.length);
          this.drop(drop);
          this.buf = this.buf.slice(drop);
          this.bufLins = this.bufLins.slice(drop);
        }
      }
      if (out.values.length > 0) return out;
    }
  }

  private emit(out: Chunk, count: number): void {
    const window = this.buf.slice(0, count);
    out.values.push(window);
    const members = this.bufLins.slice(0, count);
    out.lins?.push(groupLineage(this.rt.key, window, members));
    // The window is one more live item of each member's deliveries.
    const acks = this.rt.env.acks;
    if (acks !== undefined) for (const m of members) acks.retain(m, 1);
  }

  /** With acknowledgements on, the first `count` buffered items leave the stage. */
  private drop(count: number): void {
    const acks = this.rt.env.acks;
    if (acks !== undefined)
      for (let i = 0; i < count; i++) acks.release(this.bufLins[i], "filtered");
  }

  protected override release(): void {
    this.buf = [];
    this.bufLins = [];
  }
}
