import { describe, expect, it } from "vitest";
import { type RunEvent, StreamingPipeline } from "../index.js";

type ItemEvent = Extract<RunEvent, { type: "item" }>;

async function itemEvents(run: (onEvent: (e: RunEvent) => void) => AsyncIterable<unknown>) {
  const events: ItemEvent[] = [];
  for await (const _ of run((e) => {
    if (e.type === "item") events.push(e);
  })) {
  }
  return events;
}

const ids = (events: ItemEvent[], key: string) =>
  events
    .filter((e) => e.key === key)
    .sort((a, b) => a.index - b.index)
    .map((e) => e.spanId);

describe("item span ids", () => {
  it("give an item the same id in every stage it passes 1:1 through, another per item", async () => {
    const p = StreamingPipeline.start<number>()
      .map("a", (n) => n * 2)
      .filter("even", (n) => n % 4 === 0)
      .take("t", 10)
      .map("b", async (n) => n + 1, { concurrency: 3 })
      .tap("c", () => {});
    const events = await itemEvents((onEvent) =>
      p.executeFrom([1, 2, 3, 4], { itemEvents: true, onEvent }),
    );
    const a = ids(events, "a");
    expect(a).toHaveLength(4);
    for (const id of a) expect(id).toMatch(/^[0-9a-f]{16}$/);
    expect(new Set(a).size).toBe(4);
    // Items 2 and 4 pass the filter: they are items 0 and 1 of the later stages.
    expect(ids(events, "even")).toEqual(a);
    expect(ids(events, "b")).toEqual([a[1], a[3]]);
    expect(ids(events, "c")).toEqual([a[1], a[3]]);
  });

  it("keeps a flatMap input's id on its outputs; a batch starts an id of its own", async () => {
    const p = StreamingPipeline.start<string>()
      .flatMap("chars", (s) => s.split(""))
      .map("upper", (c) => c.toUpperCase())
      .batch("pairs", 2)
      .map("joined", (pair) => pair.join(""));
    const events = await itemEvents((onEvent) =>
      p.executeFrom(["ab", "c"], { itemEvents: true, onEvent }),
    );
    const [ab, c] = ids(events, "chars");
    expect(ids(events, "upper")).toEqual([ab, ab, c]);
    const joined = ids(events, "joined");
    expect(joined).toHaveLength(2);
    for (const id of joined) expect([ab, c]).not.toContain(id);
    expect(new Set(joined).size).toBe(2);
  });

  it("follows an item through scan and distinct, and stays off without itemEvents", async () => {
    const p = StreamingPipeline.start<number>()
      .map("in", (n) => n)
      .distinct("d")
      .scan("sum", (acc, n) => acc + n, 0)
      .map("out", (n) => n);
    const events = await itemEvents((onEvent) =>
      p.executeFrom([1, 1, 2], { itemEvents: true, onEvent }),
    );
    const first = ids(events, "in");
    expect(ids(events, "out")).toEqual([first[0], first[2]]);
    const none = await itemEvents((onEvent) => p.executeFrom([1, 2], { onEvent }));
    expect(none).toEqual([]);
  });
});
