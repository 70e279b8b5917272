import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import type { ModelDownloadProgress } from "./model-hub.ts";
import { createModelDownloadView, formatBytes } from "./model-hub-progress.ts";

function sink(isTTY = false) {
  const chunks: string[] = [];
  const stream = Object.assign(
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(String(chunk));
        done();
      },
    }),
    // What cli-progress asks of a terminal.
    isTTY ? { isTTY: true, columns: 100, cursorTo() {}, clearLine() {}, moveCursor() {} } : {},
  );
  return { stream, text: () => chunks.join("") };
}

const event = (
  phase: ModelDownloadProgress["phase"],
  received: number,
  total: number | undefined = 2_000_000,
  file = "onnx/model.onnx",
): ModelDownloadProgress => ({ model: "a/b", file, phase, received, total });

describe("model download view", () => {
  it("writes plain lines: a file's size, progress no more often than asked, and its end", () => {
    let now = 0;
    const { stream, text } = sink();
    const view = createModelDownloadView("plain", stream, {
      plainIntervalMs: 1_000,
      now: () => now,
    });
    view.update(event("start", 0));
    now = 500;
    view.update(event("data", 500_000)); // too soon: no line
    now = 1_200;
    view.update(event("data", 1_000_000));
    now = 1_300;
    view.update(event("done", 2_000_000));
    view.update({
      model: "a/b",
      file: "config.json",
      phase: "start",
      received: 300,
      total: undefined,
    });
    view.stop();
    expect(text().split("\n").filter(Boolean)).toEqual([
      "[sluice]   onnx/model.onnx (2.0 MB)",
      "[sluice]   onnx/model.onnx 50% (1.0 MB of 2.0 MB)",
      "[sluice]   onnx/model.onnx done (2.0 MB, verified)",
      "[sluice]   config.json (size unknown, resuming at 300 B)",
    ]);
  });

  it("draws a bar per file on a terminal, ending at 100%", () => {
    const { stream, text } = sink(true);
    const view = createModelDownloadView("tty", stream);
    view.update(event("start", 0));
    view.update(event("data", 1_000_000));
    view.update(event("done", 2_000_000));
    view.stop();
    const out = text();
    expect(out).toContain("░");
    expect(out).toMatch(/\[░+\] onnx\/model\.onnx 0% \(0 B of 2\.0 MB\)/);
    expect(out).toMatch(/\[█+\] onnx\/model\.onnx done \(2\.0 MB\)/);
  });

  it("shows nothing when quiet, and formats sizes", () => {
    const { stream, text } = sink();
    const view = createModelDownloadView("none", stream);
    view.update(event("start", 0));
    view.stop();
    expect(text()).toBe("");
    expect([formatBytes(96), formatBytes(81_234), formatBytes(22_700_000)]).toEqual([
      "96 B",
      "81 kB",
      "22.7 MB",
    ]);
  });
});
