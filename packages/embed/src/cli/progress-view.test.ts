import { Writable } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ProgressSnapshot } from "../workflows/progress.ts";
import { createProgressView, formatSeconds, pollProgress, stageLine } from "./progress-view.ts";

function sink() {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return { stream, text: () => chunks.join("") };
}

function snapshot(elapsedMs: number, done: number): ProgressSnapshot {
  return {
    mode: "streaming",
    elapsedMs,
    files: { total: 100, done },
    embedded: done * 3,
    errors: 1,
    stages: [
      { key: "read", in: done, out: done, failed: 1, retried: 0, inFlight: 2, concurrency: 4 },
      { key: "embed", in: done, out: done, failed: 0, retried: 2, inFlight: 1, concurrency: 2 },
    ],
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("progress view", () => {
  it("formats a stage line with counts, rate, in-flight/concurrency and errors", () => {
    const line = stageLine(snapshot(0, 10).stages[1]!, 12.5);
    expect(line).toMatch(/^embed +in +10 +out +10 +12\.5\/s +in flight 1\/2 +errors 0 retried 2$/);
    expect(formatSeconds(65)).toBe("1m 05s");
    expect(formatSeconds(undefined)).toBe("?");
  });

  it("writes plain lines no more often than asked, with an ETA, and a last line at stop", () => {
    const { stream, text } = sink();
    const view = createProgressView("plain", stream, { plainIntervalMs: 1_000 });
    view.update(snapshot(0, 0));
    view.update(snapshot(500, 10)); // too soon: no line
    view.update(snapshot(1_000, 20));
    view.update(snapshot(1_500, 30));
    view.stop();
    view.stop();
    const lines = text().trim().split("\n");
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain("0/100 files");
    expect(lines[1]).toMatch(/20\/100 files, 60 chunks stored, 1 errors, 1s elapsed, ETA 4s/);
    expect(lines[2]).toContain("30/100 files");
    // Every count says what it counts: a log reader cannot be expected to know the order.
    expect(lines[2]).toContain("read in 30 out 30 failed 1");
    expect(lines[2]).not.toMatch(/\d+\/\d+ err/);
  });

  it("polls a probe until stopped and leaves no timer behind", () => {
    vi.useFakeTimers();
    let calls = 0;
    const seen: number[] = [];
    const poller = pollProgress(
      () => snapshot(calls * 100, calls++),
      { update: (s) => seen.push(s.files.done), stop: () => seen.push(-1) },
      100,
    );
    vi.advanceTimersByTime(350);
    expect(seen).toEqual([0, 1, 2, 3]);
    poller.stop();
    expect(seen).toEqual([0, 1, 2, 3, 4, -1]);
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(1_000);
    expect(seen).toHaveLength(6);
  });

  it("draws live bars on a terminal stream and stops cleanly", () => {
    const { stream, text } = sink();
    Object.assign(stream, {
      isTTY: true,
      columns: 120,
      cursorTo() {},
      moveCursor() {},
      clearLine() {},
      clearScreenDown() {},
    });
    const view = createProgressView("tty", stream);
    view.update(snapshot(0, 0));
    view.update(snapshot(1_000, 50));
    view.stop();
    expect(text()).toContain("in flight 2/4");
    expect(text()).toMatch(/50\/100 files/);
  });
});
