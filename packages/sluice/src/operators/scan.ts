import type { Chunk, Lineage, Puller } from "../engine/chunk.js";
import { isThenable, newChunk } from "../engine/chunk.js";
import type { StageRuntime } from "../engine/run-env.js";
import { PullingStage } from "../engine/stage.js";
import type { StageSpec } from "../engine/stage-spec.js";
import { requireFunction } from "./options.js";

/**
 * A `scan` reducer: the accumulation so far and the next item (with its position in the
 * stage's input) give the next accumulation; it may be async.
 *
 * @example
 * ```ts
 * const runningTotal: ScanReducer<number, number> = (sum, n) => sum + n;
 * ```
 */
export type ScanReducer<A, T> = (acc: A, item: T, index: number) => A | PromiseLike<A>;

/**
 * Running accumulation: emits the reducer's result for every item, starting from `seed`
 * (which is not emitted itself). Each run starts again from `seed`, so return a new value
 * from the reducer rather than mutating a shared seed object. A reducer that throws fails
 * the run: there is no accumulation to go on from.
 */
export function scanStage(
  key: string,
  reducer: ScanReducer<unknown, unknown>,
  seed: unknown,
): StageSpec {
  requireFunction(reducer, "scan's reducer", key);
  return {
    key,
    kind: "scan",
    readsState: false,
    create: (upstream, rt) => new ScanStage(upstream, rt, reducer, seed),
  };
}

class ScanStage extends PullingStage {
  private index = 0;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
    private readonly reducer: ScanReducer<unknown, unknown>,
    private acc: unknown,
  ) {
    super(upstream, [rt]);
  }

  protected async produce(demand: number): Promise<Chunk | null> {
    if (this.closed) return null;
    const chunk = await this.upstream.pull(demand);
    if (chunk === null || this.closed) return null;
    const { values, lins } = chunk;
    const out = newChunk(this.rt.track);
    for (let i = 0; i < values.length; i++) {
      let acc = this.reducer(this.acc, values[i], this.index++);
      if (isThenable(acc)) {
        acc = await acc;
        if (this.closed) return null;
      }
      this.acc = acc;
      out.values.push(acc);
      // One output per input: the accumulation carries its item's lineage (and span id).
      out.lins?.push({ key: this.rt.key, value: acc, up: (lins?.[i] ?? null) as Lineage | null });
    }
    return out;
  }

  protected override release(): void {
    this.acc = undefined;
  }
}
