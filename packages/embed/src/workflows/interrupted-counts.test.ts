// A run interrupted mid-prepare (Ctrl-C) reports the files it cut off as cut off, not as
// failed: the batch workflow's live figures once showed "4 errors" for the files in its
// worker threads at the signal, which had not failed at all.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";
import type { ProgressSnapshot } from "./progress.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-interrupted-"));
  await generateCorpus(join(root, "docs"), { files: 400, seed: 5 });
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("a run interrupted while files are being prepared", () => {
  for (const [mode, run] of [
    ["batch", embedDocuments],
    ["streaming", embedDocumentsStreaming],
  ] as const) {
    it(`${mode}: counts no error for the files in flight`, async () => {
      const controller = new AbortController();
      let probe: (() => ProgressSnapshot) | undefined;
      const done = run(
        {
          root: "docs",
          embedder: { kind: "hash", dimensions: 32 },
          store: { location: `out/${mode}.jsonl` },
          threads: 1,
          concurrency: 8,
        },
        { cwd: root, signal: controller.signal, onStart: (p) => (probe = p) },
      ).then(
        () => undefined,
        (error: unknown) => error,
      );
      // Interrupt once several files are in the worker thread's hands.
      for (;;) {
        const prepare = probe?.().stages.find((s) => s.key === "prepare");
        if (prepare !== undefined && prepare.inFlight >= 4) break;
        await new Promise((r) => setTimeout(r, 1));
      }
      controller.abort(new Error("Ctrl-C"));
      expect(await done).toBeInstanceOf(Error);
      const after = probe?.();
      expect(after?.errors).toBe(0);
      expect(after?.stages.map((s) => [s.key, s.failed])).toEqual(
        after?.stages.map((s) => [s.key, 0]),
      );
    }, 60_000);
  }
});
