/**
 * The example of docs/design/engine.md, "How to write a stage": the stage below is the
 * page's code, and these tests run it through a whole `StreamingRun`, so the page's example
 * cannot drift from what the engine accepts. There is no public way to add a custom stage to
 * a builder, so the run is made from a plan, with built-in stages taken from a pipeline's
 * `stages`.
 */
import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";
import { type Chunk, type Lineage, newChunk, type Puller } from "./chunk.js";
import { groupLineage } from "./lineage.js";
import type { StageRuntime } from "./run-env.js";
import { sourcePuller } from "./sources.js";
import { Stage } from "./stage.js";
import type { StageSpec } from "./stage-spec.js";
import { StreamingRun } from "./streaming-run.js";

// --- the page's example, unchanged ---------------------------------------------------

/** Emits `[previous, current]` for every item after the first. */
export function pairwiseStage(key: string): StageSpec {
  return {
    key,
    kind: "pairwise",
    readsState: false,
    create: (upstream, rt) => new PairwiseStage(upstream, rt),
  };
}

class PairwiseStage extends Stage {
  private prev: { value: unknown; lin: Lineage | null } | undefined;

  constructor(
    upstream: Puller,
    private readonly rt: StageRuntime,
  ) {
    super(upstream, [rt]);
  }

  async pull(demand: number): Promise<Chunk | null> {
    for (;;) {
      const chunk = await this.upstream.pull(demand);
      if (chunk === null || this.closed) return null;
      const out = newChunk(this.rt.track);
      for (let i = 0; i < chunk.values.length; i++) {
        const value = chunk.values[i];
        const lin = chunk.lins?.[i] ?? null;
        if (this.prev !== undefined) {
          const pair = [this.prev.value, value];
          out.values.push(pair);
          // Only when a later stage reads state: the pair's state is both members'.
          out.lins?.push(groupLineage(this.rt.key, pair, [this.prev.lin, lin]));
        }
        this.prev = { value, lin };
      }
      if (out.values.length > 0) return out;
    }
  }

  protected override release(): void {
    this.prev = undefined; // the run is over: do not pin the last item
  }
}

// --- tests ---------------------------------------------------------------------------

/** A run over `source` through `stages`, as `executeFrom` makes one. */
function runOf<T>(
  stages: readonly StageSpec[],
  source: Iterable<unknown> | AsyncIterable<unknown>,
) {
  return new StreamingRun<T>({
    stages,
    source: () => sourcePuller(source),
    contextBuilder: undefined,
  });
}

const BOUND_MS = 1_000;

/** `p`, or a rejection when it has not settled within {@link BOUND_MS}: a hang fails here. */
async function within<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle`)), BOUND_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

describe("the engine doc's example stage (pairwise)", () => {
  it("pairs each item with the one before it, between built-in stages", async () => {
    const doubled = StreamingPipeline.start<number>().map("double", (n) => n * 2).stages;
    const run = runOf<number[]>([...doubled, pairwiseStage("pairs")], [1, 2, 3, 4]);
    const out: number[][] = [];
    for await (const pair of run) out.push(pair);
    expect(out).toEqual([
      [2, 4],
      [4, 6],
      [6, 8],
    ]);
  });

  it("gets its lifecycle and flow metrics from the engine, not from its own code", async () => {
    const run = runOf<unknown[]>([pairwiseStage("pairs")], ["a", "b", "c"]);
    for await (const _ of run) {
    }
    const [stage] = run.metadata().stages;
    expect(stage).toMatchObject({
      key: "pairs",
      kind: "pairwise",
      status: "completed",
      counts: { in: 3, out: 2 },
    });
  });

  it("records lineage when a later stage reads state: a pair's state holds both members'", async () => {
    const before = StreamingPipeline.start<number>().map("id", (n) => `#${n}`).stages;
    const after = StreamingPipeline.start<unknown[]>().map("label", (_pair, ctx) =>
      (ctx.state as unknown as { id: string[] }).id.join("+"),
    ).stages;
    const run = runOf<string>([...before, pairwiseStage("pairs"), ...after], [1, 2, 3]);
    const out: string[] = [];
    for await (const label of run) out.push(label);
    expect(out).toEqual(["#1+#2", "#2+#3"]);
  });

  it("is stopped and cancelled by the engine: breaking out closes the source", async () => {
    let closed = false;
    function* naturals() {
      try {
        for (let n = 0; ; n++) yield n;
      } finally {
        closed = true;
      }
    }
    const run = runOf<number[]>([pairwiseStage("pairs")], naturals());
    for await (const pair of run) {
      expect(pair).toEqual([0, 1]);
      break;
    }
    expect(closed).toBe(true);
    expect(run.metadata().status).toBe("cancelled");
    expect(run.metadata().stages[0]?.status).toBe("cancelled");
  });

  it("needs no cancel code of its own to end a pull pending on an idle source", async () => {
    async function* idleAfterOne() {
      yield 1;
      await new Promise(() => {}); // never yields again
    }
    const run = runOf<number[]>([pairwiseStage("pairs")], idleAfterOne());
    const first = run.next(); // pending: pairwise waits for a second item forever
    await within(run.return(), "run.return()");
    await expect(within(first, "the pending next()")).resolves.toEqual({
      value: undefined,
      done: true,
    });
    expect(run.metadata().status).toBe("cancelled");
  });
});
