import { afterEach, describe, expect, it, vi } from "vitest";
import { newSpanId, newTraceId } from "./ids.js";

describe("trace and span ids", () => {
  afterEach(() => vi.restoreAllMocks());

  it("are lowercase hex of W3C length", () => {
    expect(newTraceId()).toMatch(/^[0-9a-f]{32}$/);
    expect(newSpanId()).toMatch(/^[0-9a-f]{16}$/);
  });

  it("are never all zero, even when Math.random is stubbed to 0", () => {
    vi.spyOn(Math, "random").mockReturnValue(0);
    expect(newTraceId()).toBe(`${"0".repeat(31)}1`);
    expect(newSpanId()).toBe(`${"0".repeat(15)}1`);
  });
});
