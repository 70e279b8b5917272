import { describe, expect, it } from "vitest";
import { StreamingPipeline, toReadableStream } from "../index.js";

function sourceStream(n: number, pulled: { count: number }): ReadableStream<number> {
  let i = 0;
  return new ReadableStream<number>(
    {
      pull(controller) {
        if (i >= n) controller.close();
        else {
          pulled.count++;
          controller.enqueue(i++);
        }
      },
    },
    { highWaterMark: 0 },
  );
}

describe("Web streams", () => {
  it("reads a ReadableStream in and writes one out", async () => {
    const pulled = { count: 0 };
    const p = StreamingPipeline.start<number>().map("double", (x) => x * 2);
    const out = toReadableStream(p.executeFrom(sourceStream(5, pulled)));
    const reader = out.getReader();
    const got: number[] = [];
    for (;;) {
      const r = await reader.read();
      if (r.done) break;
      got.push(r.value);
    }
    expect(got).toEqual([0, 2, 4, 6, 8]);
  });

  it("a slow reader keeps the pipeline from reading ahead", async () => {
    const pulled = { count: 0 };
    const p = StreamingPipeline.start<number>().map("x", async (x) => x, { concurrency: 4 });
    const reader = toReadableStream(p.executeFrom(sourceStream(1_000, pulled))).getReader();
    await reader.read();
    await new Promise((r) => setTimeout(r, 30));
    // concurrency 4 + the stream's one queued item + the item just read, and nothing more.
    expect(pulled.count).toBeLessThanOrEqual(4 + 1 + 1 + 1);
    await reader.cancel();
  });

  it("cancelling the output stream cancels the run and its source", async () => {
    let sourceCancelled = false;
    let aborted = 0;
    const source = new ReadableStream<number>({
      start(controller) {
        for (let i = 0; i < 3; i++) controller.enqueue(i);
      },
      cancel() {
        sourceCancelled = true;
      },
    });
    const run = StreamingPipeline.start<number>()
      .map(
        "wait",
        (x, ctx) =>
          new Promise<number>((resolve) => {
            const t = setTimeout(() => resolve(x), 5_000);
            ctx.signal.addEventListener("abort", () => {
              clearTimeout(t);
              aborted++;
              resolve(x);
            });
          }),
        { concurrency: 2 },
      )
      .executeFrom(source);
    const reader = toReadableStream(run).getReader();
    const first = reader.read();
    await new Promise((r) => setTimeout(r, 10));
    await reader.cancel();
    await first;
    expect(run.status).toBe("cancelled");
    expect(aborted).toBe(2);
    expect(sourceCancelled).toBe(true);
  });

  it("an error in the run errors the output stream", async () => {
    const p = StreamingPipeline.start<number>().map("boom", () => {
      throw new Error("boom");
    });
    const reader = toReadableStream(p.executeFrom([1])).getReader();
    await expect(reader.read()).rejects.toMatchObject({ key: "boom" });
  });
});
