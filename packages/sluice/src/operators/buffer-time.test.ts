import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { StreamingPipeline } from "../index.js";

/** Drains in the background, stamping each output with the (fake) clock. */
function drain<T>(run: AsyncIterable<T>) {
  const state = { out: [] as [number, T][], done: false, error: undefined as unknown };
  const t0 = Date.now();
  const promise = (async () => {
    try {
      for await (const x of run) state.out.push([Date.now() - t0, x]);
    } catch (e) {
      state.error = e;
    } finally {
      state.done = true;
    }
  })();
  return { state, promise };
}

/** An async source yielding each value at its time (ms from start), then ending at `endAt`. */
function timed<T>(events: readonly [number, T][], endAt?: number) {
  const c = { finallyRan: 0 };
  const gen = (async function* () {
    try {
      const t0 = Date.now();
      for (const [at, value] of events) {
        const wait = at - (Date.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        yield value;
      }
      if (endAt !== undefined) {
        const wait = endAt - (Date.now() - t0);
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      }
    } finally {
      c.finallyRan++;
    }
  })();
  return { c, gen };
}

describe("bufferTime (fake timers)", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("collects for ms from each buffer's first item", async () => {
    const { gen } = timed<number>(
      [
        [0, 1],
        [10, 2],
        [20, 3],
        [150, 4],
        [160, 5],
      ],
      400,
    );
    const d = drain(StreamingPipeline.start<number>().bufferTime("b", 100).executeFrom(gen));
    await vi.advanceTimersByTimeAsync(99);
    expect(d.state.out).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.state.out).toEqual([[100, [1, 2, 3]]]);
    await vi.advanceTimersByTimeAsync(149);
    expect(d.state.out).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.state.out[1]).toEqual([250, [4, 5]]);
    await vi.advanceTimersByTimeAsync(500);
    await d.promise;
    expect(d.state.out).toHaveLength(2);
    expect(d.state.done).toBe(true);
  });

  it("emits early when maxSize items are buffered", async () => {
    const { gen } = timed<number>([
      [0, 1],
      [1, 2],
      [2, 3],
      [3, 4],
      [4, 5],
    ]);
    const d = drain(StreamingPipeline.start<number>().bufferTime("b", 1000, 2).executeFrom(gen));
    await vi.advanceTimersByTimeAsync(10);
    await d.promise;
    expect(d.state.out).toEqual([
      [1, [1, 2]],
      [3, [3, 4]],
      [4, [5]],
    ]);
  });

  it("never emits an empty array while the source is idle", async () => {
    const { gen } = timed<number>([[5000, 1]], 6000);
    const d = drain(StreamingPipeline.start<number>().bufferTime("b", 100).executeFrom(gen));
    await vi.advanceTimersByTimeAsync(4999);
    expect(d.state.out).toEqual([]);
    await vi.advanceTimersByTimeAsync(100);
    expect(d.state.out).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(d.state.out).toEqual([[5100, [1]]]);
    await vi.advanceTimersByTimeAsync(2000);
    await d.promise;
    expect(d.state.out).toHaveLength(1);
  });

  it("emits the final partial buffer when the source ends, and nothing for an empty source", async () => {
    const { gen } = timed<number>([
      [0, 1],
      [5, 2],
    ]);
    const d = drain(StreamingPipeline.start<number>().bufferTime("b", 1000).executeFrom(gen));
    await vi.advanceTimersByTimeAsync(5);
    await d.promise;
    expect(d.state.out).toEqual([[5, [1, 2]]]);
    expect(vi.getTimerCount()).toBe(0);

    const empty = drain(StreamingPipeline.start<number>().bufferTime("b", 1000).executeFrom([]));
    await empty.promise;
    expect(empty.state.out).toEqual([]);
  });

  it("a consumer's return() on an idle source ends at once and clears the timer", async () => {
    const run = StreamingPipeline.start<number>()
      .bufferTime("b", 60_000)
      .executeFrom(
        (async function* () {
          yield 1;
          await new Promise(() => {});
        })(),
      );
    const next = run.next();
    await vi.advanceTimersByTimeAsync(10);
    expect(vi.getTimerCount()).toBe(1);
    await run.return();
    await expect(next).resolves.toEqual({ value: undefined, done: true });
    expect(vi.getTimerCount()).toBe(0);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("a signal abort on an idle source ends the run without advancing time", async () => {
    const ac = new AbortController();
    const { c, gen } = timed<number>([[1_000_000, 1]]);
    const run = StreamingPipeline.start<number>()
      .bufferTime("b", 60_000)
      .executeFrom(gen, { signal: ac.signal });
    const d = drain(run);
    await vi.advanceTimersByTimeAsync(10);
    ac.abort(new Error("stop"));
    await vi.advanceTimersByTimeAsync(0);
    await d.promise;
    expect(d.state.done).toBe(true);
    expect(d.state.out).toEqual([]);
    expect(run.metadata().status).toBe("cancelled");
    // The source's pending sleep finishes later; then its finally runs.
    await vi.advanceTimersByTimeAsync(1_000_000);
    expect(c.finallyRan).toBe(1);
  });

  it("through bufferTime, earlier keys give the members' values", async () => {
    const { gen } = timed<number>([
      [0, 1],
      [1, 2],
    ]);
    const p = StreamingPipeline.start<number>()
      .map("neg", (n) => -n)
      .bufferTime("b", 50)
      .map("out", (_b, ctx) => ctx.state.neg);
    const d = drain(p.executeFrom(gen));
    await vi.advanceTimersByTimeAsync(100);
    await d.promise;
    expect(d.state.out.map(([, v]) => v)).toEqual([[-1, -2]]);
  });
});

describe("bufferTime: validation at build time", () => {
  const bad: [number, number | undefined, RegExp][] = [
    [0, undefined, /ms/],
    [-10, undefined, /ms/],
    [Number.NaN, undefined, /ms/],
    [Number.POSITIVE_INFINITY, undefined, /ms/],
    [100, 0, /maxSize/],
    [100, 2.5, /maxSize/],
    [100, -1, /maxSize/],
  ];
  for (const [ms, maxSize, option] of bad) {
    it(`throws a RangeError naming the option and the key for (${ms}, ${maxSize})`, () => {
      const build = () => StreamingPipeline.start<number>().bufferTime("myBuffer", ms, maxSize);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(option);
      expect(build).toThrow(/myBuffer/);
    });
  }
});
