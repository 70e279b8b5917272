import { describe, expect, it } from "vitest";
import { isRetryable } from "../errors/retry-policy.js";
import { CallTimeoutError, callWithTimeout } from "./call-timeout.js";

describe("callWithTimeout", () => {
  it("aborts the call's signal and rejects with TIMEOUT, not waiting for a call that ignores it", async () => {
    let seen: AbortSignal | undefined;
    let finishLate: (v: string) => void = () => {};
    const parent = new AbortController();
    const p = callWithTimeout(
      (signal) => {
        seen = signal;
        return new Promise<string>((resolve) => {
          finishLate = resolve;
        });
      },
      20,
      parent.signal,
    );
    const error = await p.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CallTimeoutError);
    expect((error as CallTimeoutError).code).toBe("TIMEOUT");
    expect((error as CallTimeoutError).timeoutMs).toBe(20);
    expect(isRetryable(error)).toBe(true);
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
    finishLate("late"); // ignored: nothing to observe, nothing thrown
  });

  it("passes results and failures through and follows the parent signal", async () => {
    const parent = new AbortController();
    expect(await callWithTimeout(() => 7, 1000, parent.signal)).toBe(7);
    await expect(
      callWithTimeout(() => Promise.reject(new Error("no")), 1000, parent.signal),
    ).rejects.toThrow("no");
    await expect(
      callWithTimeout(
        () => {
          throw new Error("sync");
        },
        1000,
        parent.signal,
      ),
    ).rejects.toThrow("sync");
    const p = callWithTimeout(
      (signal) =>
        new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason))),
      10_000,
      parent.signal,
    );
    parent.abort(new Error("cancelled"));
    await expect(p).rejects.toThrow("cancelled");
  });

  it("swallows a late rejection of a call it gave up on", async () => {
    const parent = new AbortController();
    let fail: (e: Error) => void = () => {};
    const p = callWithTimeout(() => new Promise((_, reject) => (fail = reject)), 5, parent.signal);
    await expect(p).rejects.toBeInstanceOf(CallTimeoutError);
    fail(new Error("late")); // no unhandled rejection (vitest would report one)
    await new Promise((r) => setTimeout(r, 5));
  });
});
