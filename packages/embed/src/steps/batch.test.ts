import { describe, expect, it } from "vitest";
import { batchItems } from "./batch.ts";

describe("batchItems", () => {
  it("groups by count", () => {
    expect([...batchItems([1, 2, 3, 4, 5], { size: 2 })]).toEqual([[1, 2], [3, 4], [5]]);
    expect([...batchItems([], { size: 2 })]).toEqual([]);
  });

  it("groups by token budget and puts an oversized item alone", () => {
    const words = ["aa", "bbb", "c", "dddddddddd", "e"];
    const batches = [...batchItems(words, { size: 10, maxTokens: 5, tokensOf: (w) => w.length })];
    expect(batches).toEqual([["aa", "bbb"], ["c"], ["dddddddddd"], ["e"]]);
  });

  it("is lazy over an endless source", () => {
    function* naturals() {
      for (let i = 0; ; i++) yield i;
    }
    const it = batchItems(naturals(), { size: 3 });
    expect(it.next().value).toEqual([0, 1, 2]);
    expect(it.next().value).toEqual([3, 4, 5]);
  });

  it("rejects invalid options", () => {
    expect(() => [...batchItems([1], { size: 0 })]).toThrow(/batch size/);
    expect(() => [...batchItems([1], { size: 1, maxTokens: 5 })]).toThrow(/tokensOf/);
  });
});
