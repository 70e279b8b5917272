/**
 * Every example runs in a child process, as a reader would run it (`npx tsx examples/x.ts`),
 * and must exit 0 printing the lines that show what it claims.
 */
import { execFile } from "node:child_process";
import { readdirSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const run = promisify(execFile);

/** What each example must print; a regular expression, or a line it must contain. */
const expected: Record<string, (string | RegExp)[]> = {
  "basic-streaming.ts": [
    "doc ok: 12 words",
    "doc ok: 32 words",
    /status: completed, duration: [\d.]+ ms/,
    /first\s+in 5\s+out 5/,
  ],
  "parallel-ordering.ts": [
    /ordered=true: doc-0 doc-1 doc-2 doc-3 doc-4 \(max in flight 5,/,
    /ordered=false: doc-4 doc-3 doc-2 doc-1 doc-0 \(max in flight 5,/,
  ],
  "error-strategies.ts": [
    "fail-fast threw: key=parse item=1 code=STEP_FAILED",
    "skip-failed ids: 1,3,5; recorded errors: 2",
    'collect-errors threw COLLECTED_ERRORS: "not json", "{broken"',
    "split-errors main: user-1\nsplit-errors main: user-3\nsplit-errors main: user-5",
    'dead letter: stage=parse index=1 item="not json"',
    'dead letter: stage=parse index=3 item="{broken"',
    "lookup retried 1 time(s); status completed",
  ],
  "windowing-batching.ts": [
    "tumbling window(3):   [1,2,3] [4,5,6] [7]",
    "sliding  window(3,1): [1,2,3] [2,3,4] [3,4,5] [4,5,6] [5,6,7]",
    "hopping  window(2,3): [1,2] [4,5] [7]",
    "weighted batches: a40+b50 | c30 | d120 | e1+f1+g1",
    "batch maxWaitMs 50: [1,2] [3,4,5]",
  ],
  "state-checkpoints.ts": [
    "lineage: 3 words -> weight 30\nlineage: 2 words -> weight 20\nlineage: 1 words -> weight 10",
    "words per member: [2,3]\nwords per member: [1]",
    "shares: 33% 50% 17%",
    'endless source: CHECKPOINT_LIMIT at checkpoint "all"',
  ],
  "progress-metrics.ts": [
    "item:error at fetch[7]",
    /progress: \d+\/40 done, \d+%/,
    "stored 39 rows; status completed; errors 1",
    /stage fetch: in 40 out 39 failed 1 maxInFlight 4 /,
    /stage batch: in 39 out 5 /,
    /events: run:start×1 stage:start×3 .*item:error×1 .*stage:end×3 run:end×1/,
    "progress ticks: yes",
  ],
  "large-dataset.ts": [
    "items: 1,000,000, checksum 45388890",
    /heap every 200,000 items: (?:[\d.]+ MB, ){4}[\d.]+ MB/,
  ],
  "cancellation.ts": [
    "got page 1, breaking",
    "break: page 2 aborted, page 3 aborted, source closed; status cancelled",
    "take(2): page 1, page 2; page 3 aborted, page 4 aborted, source closed; status completed",
    'signal: threw "deadline exceeded"; status cancelled',
    /signal: (page \d+ aborted, )+source closed/,
  ],
  "batch-to-streaming.ts": [
    "batch:     5 sentences",
    "streaming: 5 sentences",
    "same result: true",
    "intro#1: It pulls on demand.",
  ],
  "embed-workflow.ts": [
    "skipped blob.md: binary",
    "files: 3, chunks stored: 2",
    /best match: rivers\.md — "Rivers A sluice gate/,
  ],
  "ask.ts": [
    "embedded 2 chunks",
    'About "what controls the flow of water?": see [1].',
    "cited [1] rivers.md:1-3",
  ],
  "reembed.ts": [
    "moved 5 chunks of 5 files",
    "re-run: 5 files already there, 0 embedded",
    "target: 5 chunks, hash-v1:256",
  ],
};

/** Children at once: more than the cores only makes each one slower to start. */
const slots = Math.max(2, availableParallelism());
let running = 0;
const waiting: (() => void)[] = [];
async function limited<T>(task: () => Promise<T>): Promise<T> {
  while (running >= slots) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await task();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

const files = readdirSync(join(root, "examples"))
  .filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))
  .sort();

describe.concurrent("examples", () => {
  it("every example has expectations", () => {
    expect(files.filter((f) => expected[f] === undefined)).toEqual([]);
  });

  for (const file of files) {
    it(`${file} runs and prints what it shows`, async () => {
      const { stdout } = await limited(() =>
        run(process.execPath, ["--import", "tsx", join("examples", file)], {
          cwd: root,
          timeout: 30_000,
          maxBuffer: 1 << 20,
        }),
      );
      for (const line of expected[file] ?? []) {
        if (typeof line === "string") expect(stdout).toContain(line);
        else expect(stdout).toMatch(line);
      }
      if (file === "large-dataset.ts") {
        // A million records materialized would take well over 100 MB; the stream holds a few
        // chunks at a time.
        const growth = Number(/peak heap growth: ([\d.]+) MB/.exec(stdout)?.[1]);
        expect(growth).toBeLessThan(64);
      }
    }, 120_000);
  }
});
