import { Readable, Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { StreamingPipeline } from "../index.js";
import { pipeToNodeWritable, toNodeReadable } from "./index.js";

describe("Node streams", () => {
  it("reads a Node Readable as a source", async () => {
    const p = StreamingPipeline.start<number>().map("x", (n) => n + 1);
    const out: number[] = [];
    for await (const v of p.executeFrom(Readable.from([1, 2, 3]))) out.push(v);
    expect(out).toEqual([2, 3, 4]);
  });

  it("a slow Node consumer keeps pulled-but-undelivered items bounded", async () => {
    let pulled = 0;
    let delivered = 0;
    let maxAhead = 0;
    async function* source() {
      for (let i = 0; i < 500; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - delivered);
        yield i;
      }
    }
    const p = StreamingPipeline.start<number>().map("x", async (n) => n, { concurrency: 8 });
    const sink = new Writable({
      objectMode: true,
      highWaterMark: 4,
      write(_chunk, _enc, cb) {
        delivered++;
        setImmediate(cb);
      },
    });
    await pipeToNodeWritable(p.executeFrom(source()), sink);
    expect(delivered).toBe(500);
    // Stage concurrency 8, the Readable's 16, the Writable's 4, plus the items in hand.
    expect(maxAhead).toBeLessThanOrEqual(8 + 16 + 4 + 3);
  });

  it("destroying the Readable cancels the run and aborts in-flight work", async () => {
    let aborted = 0;
    let finallyRan = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finallyRan = true;
      }
    }
    const run = StreamingPipeline.start<number>()
      .map(
        "wait",
        (x, ctx) =>
          new Promise<number>((resolve) => {
            const t = setTimeout(() => resolve(x), x < 2 ? 0 : 5_000);
            ctx.signal.addEventListener("abort", () => {
              clearTimeout(t);
              aborted++;
              resolve(x);
            });
          }),
        { concurrency: 4 },
      )
      .executeFrom(source());
    const readable = toNodeReadable(run, { highWaterMark: 1 });
    const first = await new Promise((resolve) => readable.once("data", resolve));
    expect(first).toBe(0);
    readable.destroy();
    await new Promise((r) => readable.once("close", r));
    await new Promise((r) => setTimeout(r, 20));
    expect(run.status).toBe("cancelled");
    expect(aborted).toBeGreaterThan(0);
    expect(finallyRan).toBe(true);
  });

  it("a failing Writable cancels the run; a failing run rejects the pipe", async () => {
    let finallyRan = false;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        finallyRan = true;
      }
    }
    const failingSink = new Writable({
      objectMode: true,
      write(_chunk, _enc, cb) {
        cb(new Error("disk full"));
      },
    });
    const p = StreamingPipeline.start<number>().map("x", (n) => n);
    await expect(pipeToNodeWritable(p.executeFrom(source()), failingSink)).rejects.toThrow(
      "disk full",
    );
    expect(finallyRan).toBe(true);

    const boom = StreamingPipeline.start<number>().map("boom", () => {
      throw new Error("boom");
    });
    const sink = new Writable({ objectMode: true, write: (_c, _e, cb) => cb() });
    await expect(pipeToNodeWritable(boom.executeFrom([1]), sink)).rejects.toMatchObject({
      key: "boom",
    });
    expect(sink.destroyed).toBe(true);
  });
});
