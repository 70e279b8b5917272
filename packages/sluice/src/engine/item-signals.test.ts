import { describe, expect, it } from "vitest";
import { type ItemContext, StreamingPipeline } from "../index.js";
import { InFlightControllers, signalPooling } from "./item-signals.js";

/** How many distinct signals `n` calls see when their signals can be reused. */
const reusedOver = (n: number): number => (signalPooling ? 1 : n);

/** Runs `fn` as a sequential map over `n` items and returns the signals its calls saw. */
async function signalsSeen(
  n: number,
  use: (signal: AbortSignal) => void,
  concurrency = 1,
): Promise<AbortSignal[]> {
  const signals: AbortSignal[] = [];
  const p = StreamingPipeline.start<number>().map(
    "m",
    async (i: number, ctx: ItemContext) => {
      signals.push(ctx.signal);
      use(ctx.signal);
      await new Promise((r) => setTimeout(r, 1));
      return i;
    },
    { concurrency },
  );
  for await (const _ of p.executeFrom(Array.from({ length: n }, (_, i) => i))) {
  }
  return signals;
}

// The pool is on in Node only (see item-signals.ts); elsewhere every call gets a fresh signal.
describe("per-item signals are reused only when nothing is attached to them", () => {
  it("a call that only reads its signal hands it on to the next call", async () => {
    const signals = await signalsSeen(6, (s) => void s.aborted);
    expect(new Set(signals).size).toBe(reusedOver(6));
  });

  it("calls in flight at once never share a signal", async () => {
    const inFlight = new Set<AbortSignal>();
    let shared = false;
    const p = StreamingPipeline.start<number>().map(
      "m",
      async (i: number, ctx: ItemContext) => {
        if (inFlight.has(ctx.signal)) shared = true;
        inFlight.add(ctx.signal);
        await new Promise((r) => setTimeout(r, 1 + (i % 3)));
        inFlight.delete(ctx.signal);
        return i;
      },
      { concurrency: 4, ordered: false },
    );
    for await (const _ of p.executeFrom(Array.from({ length: 40 }, (_, i) => i))) {
    }
    expect(shared).toBe(false);
  });

  it("a listener left on a signal keeps it from being reused", async () => {
    const signals = await signalsSeen(4, (s) => s.addEventListener("abort", () => {}));
    expect(new Set(signals).size).toBe(4);
  });

  it("a listener added and removed again does not", async () => {
    const signals = await signalsSeen(4, (s) => {
      const onAbort = () => {};
      s.addEventListener("abort", onAbort);
      s.removeEventListener("abort", onAbort);
    });
    expect(new Set(signals).size).toBe(reusedOver(4));
  });

  it("follows EventTarget's identity rule: a capture listener is not removed without capture", async () => {
    const signals = await signalsSeen(3, (s) => {
      const onAbort = () => {};
      s.addEventListener("abort", onAbort, { capture: true });
      s.removeEventListener("abort", onAbort);
    });
    expect(new Set(signals).size).toBe(3);
  });

  it("an onabort handler keeps it from being reused", async () => {
    const signals = await signalsSeen(3, (s) => {
      s.onabort = () => {};
    });
    expect(new Set(signals).size).toBe(3);
  });

  it("a signal that ever had an onabort handler is not reused, and the handler fires on abort", async () => {
    // Node attaches a handler through a listener it keeps: conservative, never wrong.
    const cleared = await signalsSeen(3, (s) => {
      s.onabort = () => {};
      s.onabort = null;
    });
    expect(new Set(cleared).size).toBe(3);
    let fired = 0;
    const p = StreamingPipeline.start<number>().map(
      "m",
      async (n: number, ctx: ItemContext) => {
        ctx.signal.onabort = () => fired++;
        expect(typeof ctx.signal.onabort).toBe("function");
        // Item 2 is still running when the consumer breaks after item 1.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, n === 1 ? 5 : 5_000);
          ctx.signal.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          });
        });
      },
      { concurrency: 2 },
    );
    for await (const _ of p.executeFrom([1, 2])) break;
    expect(fired).toBe(1);
  });

  it("a listener added twice counts once, as EventTarget keeps it once", async () => {
    const signals = await signalsSeen(4, (s) => {
      const onAbort = () => {};
      s.addEventListener("abort", onAbort);
      s.addEventListener("abort", onAbort);
      s.removeEventListener("abort", onAbort);
    });
    expect(new Set(signals).size).toBe(reusedOver(4));
  });

  it("a reused signal still aborts for the call in flight when the run stops", async () => {
    const signals: AbortSignal[] = [];
    const p = StreamingPipeline.start<number>().map("m", (i: number, ctx: ItemContext) => {
      signals.push(ctx.signal);
      if (i < 3) return i;
      return new Promise<number>((resolve) => {
        const onAbort = () => resolve(-1);
        ctx.signal.addEventListener("abort", onAbort, { once: true });
      });
    });
    const controller = new AbortController();
    const run = p.executeFrom([0, 1, 2, 3], { signal: controller.signal });
    const done = (async () => {
      for await (const _ of run) {
      }
    })().catch((e: unknown) => e);
    while (signals.length < 4) await new Promise((r) => setTimeout(r, 1));
    controller.abort(new Error("stop"));
    await done;
    expect(new Set(signals).size).toBe(reusedOver(4));
    expect(signals[3]?.aborted).toBe(true);
  });

  it("a later run, of any pipeline, takes up the signals an earlier run left reusable", async () => {
    // Building a signal is what costs on Node: a process that runs many short pipelines
    // would otherwise build them again in every run.
    const first = await signalsSeen(3, (s) => void s.aborted);
    const second = await signalsSeen(3, (s) => void s.aborted);
    if (signalPooling) expect(second[0]).toBe(first[0]);
    else expect(new Set([...first, ...second]).size).toBe(6);
  });

  it("a signal aborted when its run stopped serves no later run", async () => {
    const seen: AbortSignal[] = [];
    const p = StreamingPipeline.start<number>().map(
      "m",
      (i: number, ctx: ItemContext) => {
        seen.push(ctx.signal);
        // Item 0 alone finishes soon: the run stops with the other three in flight.
        return new Promise<number>((resolve) => setTimeout(() => resolve(i), i === 0 ? 1 : 200));
      },
      { concurrency: 4 },
    );
    const run = p.executeFrom([0, 1, 2, 3]);
    await run.next();
    await run.return();
    const stopped = seen.filter((s) => s.aborted);
    expect(stopped.length).toBeGreaterThan(0);
    const later = await signalsSeen(8, (s) => void s.aborted, 8);
    for (const s of later) expect(s.aborted).toBe(false);
    for (const s of stopped) expect(later).not.toContain(s);
  });

  it("many calls that add and remove listeners print no MaxListenersExceededWarning", async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on("warning", onWarning);
    try {
      await signalsSeen(
        200,
        (s) => {
          const onAbort = () => {};
          s.addEventListener("abort", onAbort);
          queueMicrotask(() => s.removeEventListener("abort", onAbort));
        },
        20,
      );
      await new Promise((r) => setTimeout(r, 10));
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
  });
});

describe("InFlightControllers", () => {
  it("takes out any one of its controllers, once, and drains exactly the rest", () => {
    const cs = Array.from({ length: 5 }, () => new AbortController());
    const other = new InFlightControllers();
    const list = new InFlightControllers();
    for (const c of cs) list.add(c);
    // The middle one, the last one, the first one; then one of them again.
    expect(list.delete(cs[2] as AbortController)).toBe(true);
    expect(list.delete(cs[4] as AbortController)).toBe(true);
    expect(list.delete(cs[0] as AbortController)).toBe(true);
    expect(list.delete(cs[2] as AbortController)).toBe(false);
    // A controller of another list, or none, is not taken out of this one.
    const stranger = new AbortController();
    other.add(stranger);
    expect(list.delete(stranger)).toBe(false);
    const drained = list.drain();
    expect(drained).toEqual([cs[1], cs[3]]);
    // Drained ones are out: deleting them is a no-op, and a later add starts afresh.
    expect(list.delete(cs[1] as AbortController)).toBe(false);
    list.add(cs[1] as AbortController);
    expect(list.delete(cs[1] as AbortController)).toBe(true);
    expect(other.delete(stranger)).toBe(true);
  });

  it("drains in the order the calls started, however many came and went", () => {
    const list = new InFlightControllers();
    const live: AbortController[] = [];
    // Calls that mostly end in the order they started, as a parallel stage's do, with a few
    // long ones that stay: many squeezes.
    for (let i = 0; i < 1_000; i++) {
      const c = new AbortController();
      list.add(c);
      live.push(c);
      if (i % 3 !== 0 && live.length > 5) {
        const done = live.splice(i % 2 === 0 ? 1 : 2, 1)[0] as AbortController;
        expect(list.delete(done)).toBe(true);
      }
    }
    const drained = list.drain();
    expect(drained).toEqual(live);
  });
});
