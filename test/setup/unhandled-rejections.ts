import { afterEach, beforeEach, expect } from "vitest";

// Vitest reports stray rejections for the whole run; this guard pins each one to the test
// that caused it, so a leak fails the test that leaked rather than some later one.
const seen: unknown[] = [];
const onRejection = (reason: unknown) => {
  seen.push(reason);
};
process.on("unhandledRejection", onRejection);

beforeEach(() => {
  seen.length = 0;
});

afterEach(async () => {
  // Node reports an unhandled rejection after the microtask queue drains; two macrotask turns
  // give late rejections (timers that fire on abort, for instance) their chance to surface.
  await new Promise((resolve) => setTimeout(resolve, 0));
  await new Promise((resolve) => setTimeout(resolve, 0));
  expect(seen, "unhandled promise rejections during this test").toEqual([]);
});
