import { describe, expect, it } from "vitest";
import { callbackPool, minimalIterator } from "./parallel-references.ts";

/** Tasks that finish in a shuffled order (later items often first), counting how many run. */
function shuffledTasks() {
  let running = 0;
  let most = 0;
  const task = (i: number): Promise<number> => {
    running++;
    most = Math.max(most, running);
    return new Promise((resolve) =>
      setTimeout(
        () => {
          running--;
          resolve(i * 10);
        },
        (i * 7) % 5,
      ),
    );
  };
  return { task, most: () => most };
}

describe("parallel references (bench/lib/parallel-references.ts)", () => {
  it("callbackPool delivers every result in input order, at most c running", async () => {
    const { task, most } = shuffledTasks();
    const seen: number[] = [];
    expect(await callbackPool(40, task, 6, (v) => seen.push(v))).toBe(40);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i * 10));
    expect(most()).toBe(6);
    expect(await callbackPool(0, task, 6, (v) => seen.push(v))).toBe(0);
  });

  it("minimalIterator yields in input order and holds at most c items", async () => {
    const { task, most } = shuffledTasks();
    let started = 0;
    let taken = 0;
    let held = 0;
    const counted = (i: number) => {
      started++;
      held = Math.max(held, started - taken);
      return task(i);
    };
    const seen: number[] = [];
    for await (const v of minimalIterator(40, counted, 6)) {
      taken++;
      seen.push(v);
      // A slow consumer: finished items wait for it, and no replacement starts meanwhile.
      if (v % 30 === 0) await new Promise((resolve) => setTimeout(resolve, 3));
    }
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => i * 10));
    expect(most()).toBe(6);
    expect(held).toBe(6);
  });
});
