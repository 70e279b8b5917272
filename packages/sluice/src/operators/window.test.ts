import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";

async function collect<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of run) out.push(x);
  return out;
}

const range = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function windows(input: number[], size: number, slide?: number, async = false) {
  const p = StreamingPipeline.start<number>().window("w", size, slide);
  if (!async) return collect(p.executeFrom(input));
  return collect(
    p.executeFrom(
      (async function* () {
        for (const x of input) yield x;
      })(),
    ),
  );
}

describe("window", () => {
  for (const async of [false, true]) {
    const src = async ? "async source" : "array source";
    it(`matches the spec's examples (${src})`, async () => {
      expect(await windows(range(1, 5), 3, 1, async)).toEqual([
        [1, 2, 3],
        [2, 3, 4],
        [3, 4, 5],
      ]);
      expect(await windows(range(1, 5), 2, undefined, async)).toEqual([[1, 2], [3, 4], [5]]);
      expect(await windows(range(1, 4), 2, 3, async)).toEqual([[1, 2], [4]]);
      expect(await windows(range(1, 2), 3, undefined, async)).toEqual([[1, 2]]);
    });

    it(`tumbling: slide defaults to size; exact multiples have no tail (${src})`, async () => {
      expect(await windows(range(1, 6), 3, undefined, async)).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(await windows(range(1, 6), 3, 3, async)).toEqual([
        [1, 2, 3],
        [4, 5, 6],
      ]);
      expect(await windows([], 3, undefined, async)).toEqual([]);
    });

    it(`sliding: the tail is emitted only when it holds new items (${src})`, async () => {
      expect(await windows(range(1, 4), 3, 2, async)).toEqual([
        [1, 2, 3],
        [3, 4],
      ]);
      expect(await windows(range(1, 5), 3, 2, async)).toEqual([
        [1, 2, 3],
        [3, 4, 5],
      ]);
      expect(await windows(range(1, 3), 2, 1, async)).toEqual([
        [1, 2],
        [2, 3],
      ]);
      expect(await windows([1], 2, 1, async)).toEqual([[1]]);
    });

    it(`hopping: items between windows are skipped, a tail in a gap is not emitted (${src})`, async () => {
      expect(await windows(range(1, 10), 2, 4, async)).toEqual([
        [1, 2],
        [5, 6],
        [9, 10],
      ]);
      expect(await windows(range(1, 7), 2, 4, async)).toEqual([
        [1, 2],
        [5, 6],
      ]);
      expect(await windows(range(1, 3), 1, 3, async)).toEqual([[1]]);
      expect(await windows(range(1, 9), 2, 4, async)).toEqual([[1, 2], [5, 6], [9]]);
    });
  }

  it("window size 1 emits each item as a singleton", async () => {
    expect(await windows([7, 8], 1)).toEqual([[7], [8]]);
  });

  it("windows are fresh arrays (mutating one does not affect the next)", async () => {
    const p = StreamingPipeline.start<number>()
      .window("w", 2, 1)
      .map("mutate", (w) => {
        w.push(-1);
        return w;
      });
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([
      [1, 2, -1],
      [2, 3, -1],
    ]);
  });

  it("through a sliding window, earlier keys give each member's value", async () => {
    const p = StreamingPipeline.start<number>()
      .map("sq", (n) => n * n)
      .window("w", 2, 1)
      .map("out", (w, ctx) => ({ w, sq: ctx.state.sq }));
    expect(await collect(p.executeFrom([1, 2, 3]))).toEqual([
      { w: [1, 4], sq: [1, 4] },
      { w: [4, 9], sq: [4, 9] },
    ]);
  });

  it("is lazy over an endless source with take", async () => {
    let produced = 0;
    function* naturals() {
      for (let i = 0; ; i++) {
        produced++;
        yield i;
      }
    }
    const p = StreamingPipeline.start<number>().window("w", 3, 1).take("t", 2);
    expect(await collect(p.executeFrom(naturals()))).toEqual([
      [0, 1, 2],
      [1, 2, 3],
    ]);
    expect(produced).toBeLessThan(1000);
  });

  it("validates size and slide at build time with a RangeError naming option and key", () => {
    const bad: [number, number | undefined, RegExp][] = [
      [0, undefined, /size/],
      [-1, undefined, /size/],
      [2.5, undefined, /size/],
      [Number.NaN, undefined, /size/],
      [2, 0, /slide/],
      [2, -1, /slide/],
      [2, 1.5, /slide/],
    ];
    for (const [size, slide, option] of bad) {
      const build = () => StreamingPipeline.start<number>().window("myWindow", size, slide);
      expect(build).toThrow(RangeError);
      expect(build).toThrow(option);
      expect(build).toThrow(/myWindow/);
    }
  });
});
