import { describe, expect, it } from "vitest";
import {
  AckError,
  type AckOutcome,
  acknowledged,
  createStreamingStep,
  type Delivery,
  StreamingPipeline,
  type StreamingStepContext,
} from "../index.js";

/** Deliveries of 0..n-1 whose acks are logged in call order, with what was output by then. */
function deliveries(n: number, seen: { outputs: unknown[] } = { outputs: [] }) {
  const acks: { id: number; outcome: AckOutcome; outputsSoFar: number }[] = [];
  const items: Delivery<number>[] = Array.from({ length: n }, (_, id) => ({
    value: id,
    ack: (outcome: AckOutcome) => {
      acks.push({ id, outcome, outputsSoFar: seen.outputs.length });
    },
  }));
  return { items, acks, seen };
}

async function consume<T>(run: AsyncIterable<T>, seen: { outputs: unknown[] }): Promise<T[]> {
  for await (const out of run) seen.outputs.push(out);
  return seen.outputs as T[];
}

describe("acknowledged sources", () => {
  it("acks each delivery as done once the consumer has moved past its output", async () => {
    const { items, acks, seen } = deliveries(3);
    const run = StreamingPipeline.start<number>()
      .map("double", (n) => n * 2)
      .executeFrom(acknowledged(items));
    const first = await run.next();
    expect(first.value).toBe(0);
    seen.outputs.push(first.value);
    expect(acks).toEqual([]); // handed out, not yet done with
    await consume(run, seen);
    expect(acks).toEqual([
      { id: 0, outcome: "done", outputsSoFar: 1 },
      { id: 1, outcome: "done", outputsSoFar: 2 },
      { id: 2, outcome: "done", outputsSoFar: 3 },
    ]);
  });

  it("acks filtered items, and a flatMap's source once all its outputs are consumed", async () => {
    const { items, acks, seen } = deliveries(4);
    const outputs = await consume(
      StreamingPipeline.start<number>()
        .filter("notTwo", (n) => n !== 2)
        .flatMap("copies", (n) => Array.from({ length: n }, () => n))
        .executeFrom(acknowledged(items), { chunkSize: 1 }),
      seen,
    );
    expect(outputs).toEqual([1, 3, 3, 3]);
    const byId = new Map(acks.map((a) => [a.id, a]));
    expect(acks).toHaveLength(4);
    expect(byId.get(0)?.outcome).toBe("filtered"); // flatMap gave nothing
    expect(byId.get(2)?.outcome).toBe("filtered");
    expect(byId.get(1)).toEqual({ id: 1, outcome: "done", outputsSoFar: 1 });
    // Acked only after the third copy of 3 was handed out and the consumer asked again.
    expect(byId.get(3)).toEqual({ id: 3, outcome: "done", outputsSoFar: 4 });
  });

  it("acks a batch's members when the batch is consumed, and a window's after its last window", async () => {
    const batch = deliveries(5);
    await consume(
      StreamingPipeline.start<number>().batch("pairs", 2).executeFrom(acknowledged(batch.items)),
      batch.seen,
    );
    expect(batch.acks.map((a) => [a.id, a.outcome, a.outputsSoFar])).toEqual([
      [0, "done", 1],
      [1, "done", 1],
      [2, "done", 2],
      [3, "done", 2],
      [4, "done", 3],
    ]);

    const win = deliveries(4);
    const windows = await consume(
      StreamingPipeline.start<number>().window("w", 2, 1).executeFrom(acknowledged(win.items)),
      win.seen,
    );
    expect(windows).toEqual([
      [0, 1],
      [1, 2],
      [2, 3],
    ]);
    const at = new Map(win.acks.map((a) => [a.id, a.outputsSoFar]));
    // Item 1 is in windows 1 and 2: it is done only once the second has been consumed.
    expect([at.get(0), at.get(1), at.get(2), at.get(3)]).toEqual([1, 2, 3, 3]);
    expect(win.acks.every((a) => a.outcome === "done")).toBe(true);
  });

  it("acks what a hopping window leaves out as filtered, and skipped items as filtered", async () => {
    const win = deliveries(5);
    await consume(
      StreamingPipeline.start<number>()
        .skip("first", 1)
        .window("w", 1, 2)
        .executeFrom(acknowledged(win.items)),
      win.seen,
    );
    expect(win.seen.outputs).toEqual([[1], [3]]);
    expect(Object.fromEntries(win.acks.map((a) => [a.id, a.outcome]))).toEqual({
      0: "filtered",
      1: "done",
      2: "filtered",
      3: "done",
      4: "filtered",
    });
  });

  it("acks failures absorbed by an error strategy as failed", async () => {
    for (const errorStrategy of ["SKIP_FAILED", "SPLIT_ERRORS"] as const) {
      const { items, acks, seen } = deliveries(3);
      const run = StreamingPipeline.start<number>()
        .map(
          "odd",
          (n) => {
            if (n === 1) throw new Error("boom");
            return n;
          },
          { errorStrategy },
        )
        .executeFrom(acknowledged(items));
      await consume(run, seen);
      expect(Object.fromEntries(acks.map((a) => [a.id, a.outcome]))).toEqual({
        0: "done",
        1: "failed",
        2: "done",
      });
    }
  });

  it("hands the failure to ack with the failed outcome", async () => {
    const calls: unknown[][] = [];
    const items = [{ value: 7, ack: (...args: unknown[]) => void calls.push(args) }];
    await consume(
      StreamingPipeline.start<number>()
        .map(
          "boom",
          (): number => {
            throw new Error("parse failed");
          },
          { errorStrategy: "SKIP_FAILED" },
        )
        .executeFrom(acknowledged(items)),
      { outputs: [] },
    );
    expect(calls).toHaveLength(1);
    const [outcome, error] = calls[0] as [string, { code: string; key: string; message: string }];
    expect(outcome).toBe("failed");
    expect(error.key).toBe("boom");
    expect(error.message).toMatch(/parse failed/);
  });

  it("a failed copy wins over done copies of the same delivery", async () => {
    const { items, acks, seen } = deliveries(1);
    await consume(
      StreamingPipeline.start<number>()
        .flatMap("three", (n) => [n, n + 1, n + 2])
        .map(
          "failMiddle",
          (n) => {
            if (n === 1) throw new Error("boom");
            return n;
          },
          { errorStrategy: "SKIP_FAILED" },
        )
        .executeFrom(acknowledged(items)),
      seen,
    );
    expect(seen.outputs).toEqual([0, 2]);
    expect(acks).toEqual([{ id: 0, outcome: "failed", outputsSoFar: 2 }]);
  });

  it("never acks what is still in the pipeline when the consumer breaks", async () => {
    const { items, acks, seen } = deliveries(20);
    const run = StreamingPipeline.start<number>()
      .map("slow", async (n) => n, { concurrency: 4 })
      .executeFrom(acknowledged(items));
    for await (const out of run) {
      seen.outputs.push(out);
      if (seen.outputs.length === 3) break;
    }
    // Outputs 0 and 1 were moved past; output 2 was the one in hand at the break.
    expect(acks.map((a) => a.id)).toEqual([0, 1]);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("leaves what a take cut off unacknowledged, and acks the rest as the run completes", async () => {
    const { items, acks, seen } = deliveries(10);
    await consume(
      StreamingPipeline.start<number>().take("three", 3).executeFrom(acknowledged(items)),
      seen,
    );
    expect(seen.outputs).toEqual([0, 1, 2]);
    expect(acks.map((a) => [a.id, a.outcome])).toEqual([
      [0, "done"],
      [1, "done"],
      [2, "done"],
    ]);
  });

  it("waits for asynchronous acks before the run completes", async () => {
    let settled = 0;
    const items = [1, 2, 3].map((value) => ({
      value,
      ack: () => new Promise<void>((resolve) => setTimeout(() => resolve(void settled++), 5)),
    }));
    const out = await consume(
      StreamingPipeline.start<number>()
        .map("id", (n) => n)
        .executeFrom(acknowledged(items)),
      { outputs: [] },
    );
    expect(out).toEqual([1, 2, 3]);
    expect(settled).toBe(3);
  });

  it("fails the run with AckError when an ack rejects or throws, with no unhandled rejection", async () => {
    for (const ack of [
      () => Promise.reject(new Error("XACK refused")),
      () => {
        throw new Error("XACK refused");
      },
    ]) {
      const items = [1, 2, 3].map((value) => ({ value, ack }));
      const run = StreamingPipeline.start<number>()
        .map("id", (n) => n)
        .executeFrom(acknowledged(items));
      const error = await consume(run, { outputs: [] }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AckError);
      expect((error as AckError).code).toBe("ACK_FAILED");
      expect((error as AckError).message).toMatch(/XACK refused/);
      expect(run.metadata().status).toBe("failed");
    }
  });

  it("works with item events on: acks fire and each item keeps one span id across stages", async () => {
    const { items, acks, seen } = deliveries(4);
    const spans = new Map<string, Set<string>>();
    const run = StreamingPipeline.start<number>()
      .map("a", (n) => n + 1)
      .map("b", (n) => n * 2)
      .executeFrom(acknowledged(items), {
        itemEvents: true,
        onEvent: (e) => {
          if (e.type !== "item") return;
          const keys = spans.get(e.spanId) ?? new Set<string>();
          keys.add(e.key);
          spans.set(e.spanId, keys);
        },
      });
    await consume(run, seen);
    expect(acks.map((a) => a.outcome)).toEqual(["done", "done", "done", "done"]);
    expect(spans.size).toBe(4);
    for (const keys of spans.values()) expect([...keys]).toEqual(["a", "b"]);
  });

  it("rejects an item that is not a delivery, naming it", async () => {
    const run = StreamingPipeline.start<number>()
      .map("id", (n) => n)
      .executeFrom(acknowledged([{ value: 1, ack: () => {} }, 2 as unknown as Delivery<number>]));
    await expect(consume(run, { outputs: [] })).rejects.toThrow(
      /item 1 is not a delivery \(\{ value, ack\(outcome\) \}\), got number/,
    );
  });

  it("refuses a streaming step, whose outputs cannot be traced to inputs", () => {
    const pairs = createStreamingStep(
      "pairs",
      async function* ({ input }: StreamingStepContext<number>) {
        for await (const n of input) yield n;
      },
    );
    const p = StreamingPipeline.start<number>().add("pairs", pairs);
    expect(() => p.executeFrom(acknowledged([{ value: 1, ack: () => {} }]))).toThrow(
      /stage "pairs" \(transform\) cannot pass acknowledgements on/,
    );
  });

  it("acks an async source's deliveries exactly once with parallel unordered stages", async () => {
    const acked = new Map<number, AckOutcome[]>();
    async function* source() {
      for (let id = 0; id < 200; id++) {
        yield {
          value: id,
          ack: (o: AckOutcome) => acked.set(id, [...(acked.get(id) ?? []), o]),
        };
      }
    }
    const run = StreamingPipeline.start<number>()
      .map(
        "jitter",
        async (n) => {
          await new Promise((r) => setTimeout(r, n % 3));
          return n;
        },
        { concurrency: 8, ordered: false },
      )
      .filter("even", (n) => n % 2 === 0, { concurrency: 3, ordered: false })
      .batch("b", 7)
      .executeFrom(acknowledged(source()));
    const out = await consume(run, { outputs: [] });
    expect(out.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    expect(acked.size).toBe(200);
    for (const [id, outcomes] of acked) {
      expect(outcomes).toEqual([id % 2 === 0 ? "done" : "filtered"]);
    }
  });
});
