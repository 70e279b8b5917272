import { execFile } from "node:child_process";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { capYoungGeneration } from "./heap-growth.ts";

const MIB = 1024 * 1024;
const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
const heapGrowth = new URL("./heap-growth.ts", import.meta.url).href;

// A child that makes garbage with a steady share of survivors (what makes V8 grow a young
// generation), starts a worker thread halfway (V8 resets the growth factor when it sets up the
// worker's isolate), and prints the largest young generation it saw. A fresh process: the cap
// is process-wide V8 state, and the test must see a young generation that has not grown yet.
const child = `import { once } from "node:events";
import { getHeapSpaceStatistics } from "node:v8";
import { Worker } from "node:worker_threads";
const { capYoungGeneration } = await import(${JSON.stringify(heapGrowth)});
const mode = process.argv.at(-1);
const uncap = mode === "none" ? undefined : capYoungGeneration(2, [], "");
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
let largest = young();
const survivors = [];
async function churn(rounds) {
  for (let round = 0; round < rounds; round++) {
    for (let i = 0; i < 50000; i++) {
      const item = { i, text: "item " + i };
      if (i % 5 === 0) survivors.push(item);
    }
    if (survivors.length > 200000) survivors.splice(0, 100000);
    largest = Math.max(largest, young());
    await new Promise((resolve) => setImmediate(resolve));
  }
}
await churn(30);
const worker = new Worker("setTimeout(() => {}, 20)", { eval: true });
const exited = once(worker, "exit");
await churn(30);
await exited;
const capped = largest;
if (mode === "uncap") {
  uncap();
  await churn(60);
}
console.log(JSON.stringify({ capped, largest, returned: typeof uncap }));`;

function runChild(mode: "none" | "cap" | "uncap"): Promise<{
  capped: number;
  largest: number;
  returned: string;
}> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--import", tsx, "--input-type=module", "--eval", child, mode],
      { timeout: 60_000 },
      (error, stdout) => (error ? reject(error) : resolve(JSON.parse(stdout))),
    );
  });
}

describe("capYoungGeneration", () => {
  it("keeps the young generation at its cap through a worker thread's start; uncapping lets it grow", async () => {
    const [none, cap, uncap] = await Promise.all([
      runChild("none"),
      runChild("cap"),
      runChild("uncap"),
    ]);
    // Uncapped, the same garbage grows it to V8's default limit (two 16 MiB semi-spaces).
    expect(none.largest).toBeGreaterThanOrEqual(16 * MIB);
    // Capped at 2 MiB semi-spaces (4 MiB in all), allowing the one step of overshoot that a
    // worker's start can cause before the next collection.
    expect(cap.returned).toBe("function");
    expect(cap.largest).toBeLessThanOrEqual(8 * MIB);
    expect(uncap.capped).toBeLessThanOrEqual(8 * MIB);
    expect(uncap.largest).toBeGreaterThan(8 * MIB);
  }, 120_000);

  it("leaves a young-generation flag from node's command line or NODE_OPTIONS alone", () => {
    expect(capYoungGeneration(4, ["--max-semi-space-size=8"], "")).toBeUndefined();
    expect(capYoungGeneration(4, ["--semi_space_growth_factor=3"], "")).toBeUndefined();
    expect(capYoungGeneration(4, [], "--inspect --min-semi-space-size=2")).toBeUndefined();
  });

  it("rejects a cap that is not a positive integer, naming it", () => {
    expect(() => capYoungGeneration(0, [], "")).toThrow(
      /semiSpaceMb must be a positive integer, got 0/,
    );
    expect(() => capYoungGeneration(1.5, [], "")).toThrow(/got 1\.5/);
  });
});
