import { beforeEach, describe, expect, it, vi } from "vitest";

const setFlags = vi.hoisted(() => vi.fn());
vi.mock("node:v8", () => ({ setFlagsFromString: setFlags }));

const { capHeapGrowth } = await import("./heap-growth.ts");

describe("capHeapGrowth", () => {
  beforeEach(() => setFlags.mockClear());

  it("sets V8's heap growing percent when the user has not", () => {
    expect(capHeapGrowth(50, [])).toBe(true);
    expect(setFlags).toHaveBeenCalledWith("--heap-growing-percent=50");
  });

  it("leaves a setting from node's command line alone", () => {
    expect(capHeapGrowth(50, ["--heap-growing-percent=20"])).toBe(false);
    expect(capHeapGrowth(50, ["--heap_growing_percent=80"])).toBe(false);
    expect(setFlags).not.toHaveBeenCalled();
  });

  it("rejects a percent that is not a positive integer, naming it", () => {
    expect(() => capHeapGrowth(0, [])).toThrow(/percent must be a positive integer, got 0/);
    expect(setFlags).not.toHaveBeenCalled();
  });
});
