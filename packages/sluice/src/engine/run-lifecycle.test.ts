import { describe, expect, it } from "vitest";
import {
  type ErrorRecord,
  type ItemContext,
  type RunEvent,
  StreamingPipeline,
  type StreamingRun,
} from "../index.js";
import { within as withinMs } from "../testing/within.js";

/**
 * Whatever ends a run, started or not, ends its side streams: a reader of `run.events()` or
 * `run.errors` must never be left waiting. Every wait here is bounded, so a hang fails the
 * test that caused it instead of running into the suite's timeout.
 */

const BOUND_MS = 1_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** `p`, or a rejection naming `what` when it has not settled within {@link BOUND_MS}. */
const within = <T>(p: Promise<T>, what: string): Promise<T> => withinMs(p, what, BOUND_MS);

/** Reads an async iterable to its end. */
async function drain<T>(iterable: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of iterable) out.push(x);
  return out;
}

/** Starts reading both side streams now, so each has a reader waiting when the run ends. */
function readSideStreams(run: StreamingRun<unknown>) {
  return { events: drain(run.events()), errors: drain(run.errors) };
}

/** Fails unless both side streams end within the bound. */
async function expectSideStreamsEnd(side: {
  events: Promise<RunEvent[]>;
  errors: Promise<ErrorRecord[]>;
}): Promise<void> {
  await within(side.events, "run.events()");
  await within(side.errors, "run.errors");
}

/** A pipeline with a per-item stage that waits until its call's signal aborts. */
function slowPipeline() {
  return StreamingPipeline.start<number>().map(
    "slow",
    (n: number, ctx: ItemContext) =>
      new Promise<number>((resolve) => {
        if (n === 0) resolve(n);
        else ctx.signal.addEventListener("abort", () => resolve(n), { once: true });
      }),
    { concurrency: 2, errorStrategy: "SPLIT_ERRORS" },
  );
}

describe("a run that never started (no next() called)", () => {
  it("return() ends run.events() and run.errors that were being read", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    const side = readSideStreams(run);
    await within(run.return(), "run.return()");
    await expectSideStreamsEnd(side);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("return() ends run.events() and run.errors read only afterwards", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    await within(run.return(), "run.return()");
    await expectSideStreamsEnd(readSideStreams(run));
  });

  it("throw(err) rejects with err and ends run.events() and run.errors", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    const side = readSideStreams(run);
    const err = new Error("consumer gave up before starting");
    await expect(within(run.throw(err), "run.throw()")).rejects.toBe(err);
    await expectSideStreamsEnd(side);
    expect(run.metadata().status).toBe("failed");
  });

  it("throw(err) ends run.events() and run.errors read only afterwards", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    const err = new Error("consumer gave up before starting");
    await expect(within(run.throw(err), "run.throw()")).rejects.toBe(err);
    await expectSideStreamsEnd(readSideStreams(run));
  });

  for (const how of ["return", "throw"] as const) {
    it(`after ${how}(), next() is done and nothing ran (not even the source)`, async () => {
      let sourceStarted = 0;
      let calls = 0;
      async function* gen() {
        sourceStarted++;
        yield 1;
      }
      const run = StreamingPipeline.start<number>()
        .map("m", (n) => {
          calls++;
          return n;
        })
        .executeFrom(gen());
      if (how === "return") await within(run.return(), "run.return()");
      else await within(run.throw(new Error("stop")), "run.throw()").catch(() => {});
      expect(await within(run.next(), "run.next()")).toEqual({ value: undefined, done: true });
      expect([sourceStarted, calls]).toEqual([0, 0]);
      expect(run.metadata().endedAt).toBeTypeOf("number");
    });
  }

  it("an aborted run option signal ends run.events() and run.errors at the first next()", async () => {
    const ac = new AbortController();
    ac.abort(new Error("pre-aborted"));
    const run = slowPipeline().executeFrom([0, 1, 2], { signal: ac.signal });
    const side = readSideStreams(run);
    await expect(within(run.next(), "run.next()")).rejects.toBe(ac.signal.reason);
    await expectSideStreamsEnd(side);
  });
});

describe("a started run", () => {
  it("return() after the first result ends run.events() and run.errors", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    const side = readSideStreams(run);
    expect(await within(run.next(), "run.next()")).toEqual({ value: 0, done: false });
    await within(run.return(), "run.return()");
    await expectSideStreamsEnd(side);
    expect(run.metadata().status).toBe("cancelled");
  });

  it("throw(err) after the first result rejects with err and ends both side streams", async () => {
    const run = slowPipeline().executeFrom([0, 1, 2]);
    const side = readSideStreams(run);
    await within(run.next(), "run.next()");
    const err = new Error("consumer gave up");
    await expect(within(run.throw(err), "run.throw()")).rejects.toBe(err);
    await expectSideStreamsEnd(side);
    expect(run.metadata().status).toBe("failed");
  });

  for (const how of ["return", "throw"] as const) {
    it(`${how}() while a next() waits on in-flight calls ends the next() and both side streams`, async () => {
      const run = slowPipeline().executeFrom([1, 2, 3]);
      const side = readSideStreams(run);
      const pending = run.next();
      await sleep(5);
      if (how === "return") await within(run.return(), "run.return()");
      else {
        const err = new Error("stop");
        await expect(within(run.throw(err), "run.throw()")).rejects.toBe(err);
      }
      await expect(within(pending, "the pending next()")).resolves.toEqual({
        value: undefined,
        done: true,
      });
      await expectSideStreamsEnd(side);
    });
  }

  it("a run that completes ends both side streams, with run:end the last event", async () => {
    const run = StreamingPipeline.start<number>()
      .map(
        "m",
        async (n) => {
          if (n === 2) throw new Error("split me");
          return n;
        },
        { errorStrategy: "SPLIT_ERRORS" },
      )
      .executeFrom([1, 2, 3]);
    const side = readSideStreams(run);
    expect(await within(drain(run), "the run")).toEqual([1, 3]);
    const events = await within(side.events, "run.events()");
    expect(events[events.length - 1]?.type).toBe("run:end");
    expect((await within(side.errors, "run.errors")).map((r) => r.item)).toEqual([2]);
  });

  it("a run ended by its signal ends both side streams", async () => {
    const ac = new AbortController();
    const run = slowPipeline().executeFrom([1, 2, 3], { signal: ac.signal });
    const side = readSideStreams(run);
    const pending = run.next();
    await sleep(5);
    ac.abort(new Error("stop"));
    await expect(within(pending, "the pending next()")).rejects.toBe(ac.signal.reason);
    await expectSideStreamsEnd(side);
  });

  it("a run ended by a FAIL_FAST failure ends both side streams", async () => {
    const run = StreamingPipeline.start<number>()
      .map("m", async (n) => {
        if (n === 2) throw new Error("boom");
        return n;
      })
      .executeFrom([1, 2, 3]);
    const side = readSideStreams(run);
    await expect(within(drain(run), "the run")).rejects.toThrow("boom");
    await expectSideStreamsEnd(side);
  });
});
