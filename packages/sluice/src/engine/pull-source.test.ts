import { describe, expect, it } from "vitest";
import { type PullSource, StreamingPipeline } from "../index.js";
import { deferred } from "../testing/deferred.js";

/** A source of 0..n-1 that logs each demand it is asked for and whether it was closed. */
function counting(n: number) {
  const demands: number[] = [];
  let next = 0;
  let closed = 0;
  const source: PullSource<number> = {
    async pull(demand) {
      demands.push(demand);
      if (next >= n) return null;
      const count = Math.min(demand, n - next);
      return Array.from({ length: count }, () => next++);
    },
    close() {
      closed++;
    },
  };
  return { source, demands, closed: () => closed };
}

describe("PullSource", () => {
  it("is asked for the run's demand and closed once at the end", async () => {
    // Enough items for quick pulls even on a cold, loaded machine: demand grows only while
    // pulls take under 50 µs, and 50 items once left it at 1 throughout.
    const { source, demands, closed } = counting(5000);
    const out: number[] = [];
    for await (const n of StreamingPipeline.start<number>()
      .map("id", (x) => x)
      .executeFrom(source)) {
      out.push(n);
    }
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => i));
    expect(demands[0]).toBe(1); // a run starts by asking for one item
    expect(Math.max(...demands)).toBeGreaterThan(1); // and asks for more as pulls are quick
    expect(closed()).toBe(1);
  });

  it("reads no more than a slow consumer can use", async () => {
    const { source, demands } = counting(1000);
    const run = StreamingPipeline.start<number>()
      .map("slow", async (x) => {
        await new Promise((r) => setTimeout(r, 1));
        return x;
      })
      .executeFrom(source);
    let seen = 0;
    for await (const _ of run) if (++seen === 20) break;
    const read = demands.reduce((a, d) => a + d, 0);
    expect(read).toBeLessThan(100);
  });

  it("aborts a blocked read when the consumer breaks, and closes the source", async () => {
    let aborted = false;
    let closed = false;
    let calls = 0;
    const source: PullSource<number> = {
      pull(_demand, signal) {
        calls++;
        if (calls === 1) return Promise.resolve([1]);
        // An idle queue: blocks until the run stops.
        return new Promise((resolve) => {
          signal.addEventListener("abort", () => {
            aborted = true;
            resolve([]);
          });
        });
      },
      close() {
        closed = true;
      },
    };
    const run = StreamingPipeline.start<number>().executeFrom(source);
    const first = await run.next();
    expect(first.value).toBe(1);
    const second = run.next(); // waits on the idle source
    await new Promise((r) => setTimeout(r, 10));
    await run.return();
    await expect(second).resolves.toEqual({ value: undefined, done: true });
    expect(aborted).toBe(true);
    expect(closed).toBe(true);
  });

  it("asks again after an empty read, and fails the run on a read error, still closing", async () => {
    let calls = 0;
    let closed = false;
    const source: PullSource<number> = {
      async pull() {
        calls++;
        if (calls < 3) return [];
        throw new Error("connection reset");
      },
      close() {
        closed = true;
      },
    };
    const run = StreamingPipeline.start<number>().executeFrom(source);
    await expect(run.next()).rejects.toThrow(/connection reset/);
    expect(calls).toBe(3);
    expect(closed).toBe(true);
    expect(run.metadata().status).toBe("failed");
  });

  it("rejects a pull that returns something other than an array or null", async () => {
    const source = { pull: async () => "abc" } as unknown as PullSource<string>;
    await expect(StreamingPipeline.start<string>().executeFrom(source).next()).rejects.toThrow(
      "PullSource: pull must return an array or null, got string",
    );
  });

  it("aborts the pulls' signal when the run stops after the source ended", async () => {
    // A source that ended may hold something until what it delivered is settled (a queue's
    // client for the acknowledgements): the signal tells it the run stopped and they never
    // will be.
    let signal: AbortSignal | undefined;
    const gate = deferred();
    let served = false;
    const source: PullSource<number> = {
      async pull(_demand, s) {
        signal = s;
        if (served) return null;
        served = true;
        return [1];
      },
    };
    const run = StreamingPipeline.start<number>()
      .map(
        "held",
        async (n: number) => {
          await gate.promise;
          return n;
        },
        { concurrency: 2 },
      )
      .executeFrom(source);
    const first = run.next();
    // The stage reads ahead (concurrency 2): the source ends while its item is held.
    await new Promise((r) => setTimeout(r, 20));
    expect(served).toBe(true);
    expect(signal?.aborted).toBe(false);
    const stopped = run.return();
    gate.resolve();
    await stopped;
    await first.catch(() => {});
    expect(signal?.aborted).toBe(true);
  });
});
