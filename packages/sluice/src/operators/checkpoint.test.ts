import { describe, expect, it } from "vitest";
import { StreamingError, StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

async function toArray<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe("checkpoint", () => {
  it("passes every item on, in order", async () => {
    const p = StreamingPipeline.start<number>().checkpoint("cp");
    expect(await collect(p.executeFrom([3, 1, 2]))).toEqual([3, 1, 2]);
    expect(await collect(p.executeFrom([]))).toEqual([]);
    const big = Array.from({ length: 1500 }, (_, i) => i);
    expect(await collect(p.executeFrom(big))).toEqual(big);
  });

  it("later stages read the full snapshot: materialize, stream, hasSnapshot, accumulated", async () => {
    const p = StreamingPipeline.start<number>()
      .map("sq", (n) => n * n)
      .checkpoint("cp")
      .map("share", async (n, ctx) => {
        const all = ctx.state.materialize("cp");
        const streamed = await toArray(ctx.state.stream("cp"));
        return {
          n,
          total: all.reduce((a, b) => a + b, 0),
          streamed,
          has: ctx.state.hasSnapshot("cp"),
          acc: ctx.state.accumulated,
        };
      });
    const out = await collect(p.executeFrom([1, 2, 3]));
    expect(out.map((o) => [o.n, o.total])).toEqual([
      [1, 14],
      [4, 14],
      [9, 14],
    ]);
    for (const o of out) {
      expect(o.streamed).toEqual([1, 4, 9]);
      expect(o.has).toBe(true);
      expect(o.acc).toEqual({ cp: [1, 4, 9] });
    }
  });

  it("materializes before passing anything on (upstream fully drained first)", async () => {
    let produced = 0;
    async function* gen() {
      for (let i = 0; i < 5; i++) {
        produced++;
        yield i;
      }
    }
    const run = StreamingPipeline.start<number>().checkpoint("cp").executeFrom(gen());
    expect(await run.next()).toEqual({ value: 0, done: false });
    expect(produced).toBe(5);
    await run.return();
  });

  it("stages before the checkpoint see no snapshot yet", async () => {
    const seen: boolean[] = [];
    const p = StreamingPipeline.start<number>()
      .map("before", (n, ctx) => {
        const state = ctx.state as unknown as { hasSnapshot(k: string): boolean };
        seen.push(state.hasSnapshot("cp"));
        return n;
      })
      .checkpoint("cp");
    await collect(p.executeFrom([1, 2]));
    expect(seen).toEqual([false, false]);
  });

  it("materialize of a key with no checkpoint throws a helpful error", async () => {
    const p = StreamingPipeline.start<number>().map("m", (_n, ctx) => {
      const state = ctx.state as unknown as { materialize(k: string): unknown };
      return state.materialize("nope");
    });
    await expect(collect(p.executeFrom([1]))).rejects.toThrow(/checkpoint\("nope"\)/);
  });

  it("keeps each item's lineage through the checkpoint", async () => {
    const p = StreamingPipeline.start<string>()
      .map("orig", (s) => s)
      .map("len", (s) => s.length)
      .checkpoint("cp")
      .map("out", (n, ctx) => `${ctx.state.orig}:${ctx.state.len}:${ctx.state.cp}:${n}`);
    expect(await collect(p.executeFrom(["a", "bcd"]))).toEqual(["a:1:1:1", "bcd:3:3:3"]);
  });

  it("several checkpoints accumulate; each run has its own snapshots", async () => {
    const p = StreamingPipeline.start<number>()
      .checkpoint("raw")
      .map("dbl", (n) => n * 2)
      .checkpoint("doubled")
      .map("acc", (_n, ctx) => ctx.state.accumulated);
    const out1 = await collect(p.executeFrom([1, 2]));
    expect(out1[0]).toEqual({ raw: [1, 2], doubled: [2, 4] });
    const out2 = await collect(p.executeFrom([5]));
    expect(out2[0]).toEqual({ raw: [5], doubled: [10] });
  });

  it("fails with CHECKPOINT_LIMIT when the stream exceeds maxItems", async () => {
    const p = StreamingPipeline.start<number>().checkpoint("cp", { maxItems: 3 });
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([1, 2, 3]);
    const run = p.executeFrom([1, 2, 3, 4]);
    const err = await collect(run).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StreamingError);
    expect((err as StreamingError).code).toBe("CHECKPOINT_LIMIT");
    expect((err as StreamingError).key).toBe("cp");
    expect((err as Error).message).toMatch(/maxItems/);
    expect(run.metadata().status).toBe("failed");
  });

  it("CHECKPOINT_LIMIT over an endless source stops reading and closes it", async () => {
    let finallyRan = 0;
    let produced = 0;
    async function* endless() {
      try {
        for (let i = 0; ; i++) {
          produced++;
          yield i;
        }
      } finally {
        finallyRan++;
      }
    }
    const p = StreamingPipeline.start<number>().checkpoint("cp", { maxItems: 10 });
    await expect(collect(p.executeFrom(endless()))).rejects.toMatchObject({
      code: "CHECKPOINT_LIMIT",
    });
    expect(produced).toBeLessThanOrEqual(11);
    expect(finallyRan).toBe(1);
  });

  it("an upstream failure fails the run before anything passes", async () => {
    const p = StreamingPipeline.start<number>()
      .map("m", (n) => {
        if (n === 3) throw new Error("three");
        return n;
      })
      .checkpoint("cp");
    const seen: number[] = [];
    await expect(
      (async () => {
        for await (const n of p.executeFrom([1, 2, 3])) seen.push(n);
      })(),
    ).rejects.toThrow("three");
    expect(seen).toEqual([]);
  });

  it("validates maxItems at build time with a RangeError naming it and the key", () => {
    for (const maxItems of [0, -1, 2.5, Number.NaN]) {
      const build = () => StreamingPipeline.start<number>().checkpoint("myCp", { maxItems });
      expect(build).toThrow(RangeError);
      expect(build).toThrow(/maxItems/);
      expect(build).toThrow(/myCp/);
    }
  });
});
