import { describe, expect, it } from "vitest";
import type { SearchHit } from "../stores/vector-store.ts";
import { citedNumbers } from "./ask-prompt.ts";
import { rerankHits } from "./ask-rerank.ts";
import { parseServerSentEvents } from "./ask-sse.ts";

async function parse(...pieces: string[]) {
  const bytes = (async function* () {
    for (const piece of pieces) yield new TextEncoder().encode(piece);
  })();
  const out: { event: string; data: string }[] = [];
  for await (const event of parseServerSentEvents(bytes)) out.push(event);
  return out;
}

describe("parseServerSentEvents", () => {
  it("splits events at blank lines across any chunking and line ending", async () => {
    const events = await parse(
      "data: a\r",
      "\ndata: b\n\n: comment\nevent: error\nda",
      "ta:{}\r\r",
    );
    expect(events).toEqual([
      { event: "message", data: "a\nb" },
      { event: "error", data: "{}" },
    ]);
  });

  it("drops a last event cut off before its blank line, and events without data", async () => {
    expect(await parse("event: x\n\ndata: whole\n\ndata: cut")).toEqual([
      { event: "message", data: "whole" },
    ]);
  });

  it("decodes a multi-byte character split between pieces", async () => {
    const bytes = new TextEncoder().encode("data: é\n\n");
    const split = (async function* () {
      yield bytes.slice(0, 7);
      yield bytes.slice(7);
    })();
    const out = [];
    for await (const event of parseServerSentEvents(split)) out.push(event.data);
    expect(out).toEqual(["é"]);
  });
});

describe("citations and rerank", () => {
  it("reads [n], [a, b] and [a][b], in range, each once", () => {
    expect(citedNumbers("x [2] y [1, 3][2] z [9] [0]", 3)).toEqual([2, 1, 3]);
  });

  it("prefers chunks holding more question words and drops overlapping ones", () => {
    const hit = (
      id: string,
      start: number,
      end: number,
      text: string,
      score: number,
    ): SearchHit => ({
      id,
      collection: "c",
      path: "a.md",
      ordinal: 0,
      text,
      startLine: start,
      endLine: end,
      metadata: {},
      score,
      signals: {},
    });
    const hits = [
      hit("1", 1, 10, "gates hold water", 1),
      hit("2", 8, 20, "sluice gates hold water back", 0.9),
      hit("3", 30, 40, "sluice gates", 0.5),
    ];
    const kept = rerankHits("sluice gates water", hits, 2);
    expect(kept.map((h) => h.id)).toEqual(["2", "3"]);
  });
});
