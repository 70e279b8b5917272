import { existsSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-open-run-"));
  await generateCorpus(join(root, "docs"), { files: 3, seed: 2 });
  await writeFile(join(root, "not-a-folder"), "a file where the store's folder should be\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/** This process's OS threads, once their number has stopped changing (a worker takes a while to exit). */
async function settledThreadCount(): Promise<number> {
  let last = -1;
  for (let same = 0; same < 5; ) {
    await sleep(40);
    const now = readdirSync("/proc/self/task").length;
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

describe("opening a run", () => {
  // Linux shows a process's threads in /proc: a worker left running is one more there.
  it.runIf(existsSync("/proc/self/task"))(
    "closes the workers it started when the store cannot be opened",
    async () => {
      const config = (location: string) => ({
        root: "docs",
        threads: 1,
        embedder: { dimensions: 16 },
        store: { location },
      });
      // A run that succeeds first: the threads Node and V8 start on first use stay.
      await embedDocumentsStreaming(config("ok.jsonl"), { cwd: root });
      const before = await settledThreadCount();
      for (const run of [embedDocumentsStreaming, embedDocuments]) {
        const error = await run(config("not-a-folder/store.jsonl"), { cwd: root }).catch(
          (e: unknown) => e,
        );
        expect(error, run.name).toBeInstanceOf(Error);
        expect(String(error), run.name).toMatch(/not-a-folder/);
        expect(await settledThreadCount(), run.name).toBe(before);
      }
    },
    60_000,
  );
});
