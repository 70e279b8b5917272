import { describe, expect, it } from "vitest";
import { type ItemContext, type RunEvent, StreamingPipeline, type StreamingRun } from "../index.js";

/**
 * `itemEvents: true` sends one `item` event per item a per-item stage processes, whatever
 * the stage's shape: sequential or parallel, sync or async, fused with its neighbours or
 * not. Before, only parallel stages sent them.
 */

type ItemEvent = Extract<RunEvent, { type: "item" }>;

/** Runs to the end, returning the outputs and every `item` event, grouped by stage key. */
async function itemEventsOf<T>(
  start: (options: {
    itemEvents: boolean;
    onEvent: (e: RunEvent) => void;
    progressIntervalMs: number;
  }) => StreamingRun<T>,
  itemEvents = true,
): Promise<{ out: T[]; byKey: Map<string, ItemEvent[]> }> {
  const byKey = new Map<string, ItemEvent[]>();
  const run = start({
    itemEvents,
    progressIntervalMs: 0,
    onEvent: (e) => {
      if (e.type !== "item") return;
      const list = byKey.get(e.key) ?? [];
      list.push(e);
      byKey.set(e.key, list);
    },
  });
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return { out, byKey };
}

/** One well-formed event per item of the stage's input: indexes 0 … n-1, each once. */
function expectOnePerItem(byKey: Map<string, ItemEvent[]>, key: string, n: number): void {
  const events = byKey.get(key) ?? [];
  expect(events.length, `item events of stage "${key}"`).toBe(n);
  for (const e of events) {
    expect(e.key).toBe(key);
    expect(Number.isInteger(e.index)).toBe(true);
    expect(Number.isFinite(e.durationMs)).toBe(true);
    expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(e.time).toBeTypeOf("number");
  }
  expect(events.map((e) => e.index).sort((a, b) => a - b)).toEqual(
    Array.from({ length: n }, (_, i) => i),
  );
}

const input = [1, 2, 3];

describe("itemEvents: true sends one item event per item from every per-item stage", () => {
  it("a sequential async map (concurrency 1)", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("m", async (n) => n)
        .executeFrom(input, o),
    );
    expect(out).toEqual([1, 2, 3]);
    expectOnePerItem(byKey, "m", 3);
  });

  it("a sequential sync map", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("m", (n) => n + 1)
        .executeFrom(input, o),
    );
    expect(out).toEqual([2, 3, 4]);
    expectOnePerItem(byKey, "m", 3);
  });

  it("a sequential map that reads its context, sync and async", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("sync", (n: number, ctx: ItemContext) => n + ctx.index)
        .map("async", async (n: number, ctx: ItemContext) => n + ctx.attempt)
        .executeFrom(input, o),
    );
    expect(out).toEqual([2, 4, 6]);
    expectOnePerItem(byKey, "sync", 3);
    expectOnePerItem(byKey, "async", 3);
  });

  it("adjacent sync maps (fused)", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("a", (n) => n + 1)
        .map("b", (n) => n * 2)
        .executeFrom(input, o),
    );
    expect(out).toEqual([4, 6, 8]);
    expectOnePerItem(byKey, "a", 3);
    expectOnePerItem(byKey, "b", 3);
  });

  it("adjacent async maps (fused)", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("a", async (n) => n + 1)
        .map("b", async (n) => n * 2)
        .executeFrom(input, o),
    );
    expect(out).toEqual([4, 6, 8]);
    expectOnePerItem(byKey, "a", 3);
    expectOnePerItem(byKey, "b", 3);
  });

  it("a fused sync filter and tap (one event per item in, kept or not)", async () => {
    const tapped: number[] = [];
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .filter("odd", (n) => n % 2 === 1)
        .tap("log", (n) => tapped.push(n))
        .executeFrom(input, o),
    );
    expect(out).toEqual([1, 3]);
    expect(tapped).toEqual([1, 3]);
    expectOnePerItem(byKey, "odd", 3);
    expectOnePerItem(byKey, "log", 2);
  });

  it("a lone sync filter, async filter, sync tap and async tap", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .filter("syncFilter", (n) => n !== 2)
        .map("ctx1", (n: number, _ctx: ItemContext) => n)
        .filter("asyncFilter", async (n) => n !== 3)
        .map("ctx2", (n: number, _ctx: ItemContext) => n)
        .tap("syncTap", () => {})
        .map("ctx3", (n: number, _ctx: ItemContext) => n)
        .tap("asyncTap", async () => {})
        .executeFrom(input, o),
    );
    expect(out).toEqual([1]);
    expectOnePerItem(byKey, "syncFilter", 3);
    expectOnePerItem(byKey, "asyncFilter", 2);
    expectOnePerItem(byKey, "syncTap", 1);
    expectOnePerItem(byKey, "asyncTap", 1);
  });

  it("flatMap, sync and async (one event per input item, not per output)", async () => {
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .flatMap("twice", (n) => [n, n])
        .flatMap("thrice", async (n) => [n, n, n], { concurrency: 1 })
        .executeFrom(input, o),
    );
    expect(out).toHaveLength(18);
    expectOnePerItem(byKey, "twice", 3);
    expectOnePerItem(byKey, "thrice", 6);
  });

  for (const ordered of [true, false]) {
    it(`a parallel map (concurrency 2, ordered: ${ordered})`, async () => {
      const { out, byKey } = await itemEventsOf((o) =>
        StreamingPipeline.start<number>()
          .map("m", async (n) => n, { concurrency: 2, ordered })
          .executeFrom(input, o),
      );
      expect([...out].sort()).toEqual([1, 2, 3]);
      expectOnePerItem(byKey, "m", 3);
    });
  }

  it("a sequential stage with a buffer", async () => {
    const { byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("m", async (n) => n, { buffer: 1 })
        .executeFrom(input, o),
    );
    expectOnePerItem(byKey, "m", 3);
  });

  it("a chain mixing every kind, over an async source", async () => {
    async function* source() {
      for (let n = 1; n <= 6; n++) yield n;
    }
    const { out, byKey } = await itemEventsOf((o) =>
      StreamingPipeline.start<number>()
        .map("seq", async (n) => n)
        .map("fusedA", (n) => n + 1)
        .map("fusedB", (n) => n - 1)
        .filter("even", async (n) => n % 2 === 0)
        .map("par", async (n) => n * 10, { concurrency: 2, ordered: false })
        .flatMap("pair", (n) => [n, n + 1])
        .tap("seen", () => {})
        .executeFrom(source(), o),
    );
    expect(out).toHaveLength(6);
    expectOnePerItem(byKey, "seq", 6);
    expectOnePerItem(byKey, "fusedA", 6);
    expectOnePerItem(byKey, "fusedB", 6);
    expectOnePerItem(byKey, "even", 6);
    expectOnePerItem(byKey, "par", 3);
    expectOnePerItem(byKey, "pair", 3);
    expectOnePerItem(byKey, "seen", 6);
  });

  for (const concurrency of [1, 2]) {
    it(`an item retried after a failure sends one event (concurrency ${concurrency})`, async () => {
      let failed = false;
      const { out, byKey } = await itemEventsOf((o) =>
        StreamingPipeline.start<number>()
          .map(
            "flaky",
            async (n) => {
              if (n === 2 && !failed) {
                failed = true;
                throw Object.assign(new Error("reset"), { code: "ECONNRESET" });
              }
              return n;
            },
            { concurrency, retry: { maxAttempts: 2, backoffMs: 1 } },
          )
          .executeFrom(input, o),
      );
      expect(out).toEqual([1, 2, 3]);
      expectOnePerItem(byKey, "flaky", 3);
    });
  }

  it("events also reach run.events()", async () => {
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => n)
      .executeFrom(input, { itemEvents: true, progressIntervalMs: 0 });
    const events = (async () => {
      const seen: RunEvent[] = [];
      for await (const e of run.events()) seen.push(e);
      return seen;
    })();
    for await (const _ of run) {
      // drained for its events
    }
    const items = (await events).filter((e): e is ItemEvent => e.type === "item");
    expectOnePerItem(new Map([["m", items]]), "m", 3);
  });
});

describe("without itemEvents no stage sends item events", () => {
  it("none from any kind of stage", async () => {
    const { out, byKey } = await itemEventsOf(
      (o) =>
        StreamingPipeline.start<number>()
          .map("seq", async (n) => n)
          .map("fusedA", (n) => n + 1)
          .map("fusedB", (n) => n - 1)
          .filter("keep", (n: number, _ctx: ItemContext) => n > 0)
          .map("par", async (n) => n, { concurrency: 2 })
          .tap("seen", async () => {})
          .executeFrom(input, o),
      false,
    );
    expect(out).toEqual([1, 2, 3]);
    expect([...byKey.keys()]).toEqual([]);
  });
});
