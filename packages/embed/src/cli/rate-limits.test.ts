import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateCorpus } from "../corpus/generate.ts";
import { type EmbeddingServer, startEmbeddingServer } from "../testing/embedding-server.ts";
import { runSluice } from "../testing/sluice-process.ts";

// A loopback API that enforces requests and tokens per minute (buckets holding 2 s, 429 with
// Retry-After: 1 past them), tight enough that 120 files run into it within a few seconds.
const RPM = 1_200;
const TPM = 1_500_000;

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-rate-limits-"));
  await generateCorpus(join(dir, "docs"), { files: 120 });
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function embed(server: EmbeddingServer, store: string, ...extra: string[]) {
  const result = await runSluice(
    { cwd: dir, env: { ...process.env, OPENAI_API_KEY: "placeholder" } },
    "embed",
    "docs",
    "--store",
    store,
    "--embedder",
    "openai",
    "--endpoint",
    server.url,
    "--model",
    "m",
    "--dimensions",
    "16",
    "--embed-concurrency",
    "4",
    "--json",
    "--quiet",
    ...extra,
  );
  return { ...result, summary: JSON.parse(result.stdout || "{}") as Record<string, unknown> };
}

describe("sluice embed against a rate-limited API", () => {
  it("completes with nothing failed, adaptive only and with --rpm/--tpm", async () => {
    const adaptive = await startEmbeddingServer({
      dimensions: 16,
      rateLimits: { rpm: RPM, tpm: TPM, burstMs: 2_000 },
    });
    try {
      const run = await embed(adaptive, "adaptive.jsonl");
      expect(run.stderr).toBe("");
      expect(run.code).toBe(0);
      expect(run.summary).toMatchObject({ files: 120, failed: 0 });
      // The limit was really reached: the run completed through 429s, not around them.
      expect(adaptive.rateStats().limited).toBeGreaterThan(0);
    } finally {
      await adaptive.close();
    }

    const limited = await startEmbeddingServer({
      dimensions: 16,
      rateLimits: { rpm: RPM, tpm: TPM, burstMs: 2_000 },
    });
    try {
      const run = await embed(limited, "limited.jsonl", "--rpm", String(RPM), "--tpm", String(TPM));
      expect(run.code).toBe(0);
      expect(run.summary).toMatchObject({ files: 120, failed: 0 });
      const { limited: refused, accepted } = limited.rateStats();
      // Paced under the limits: at most a stray 429 at the bucket's edge.
      expect(refused).toBeLessThanOrEqual(1);
      expect(accepted.length).toBeGreaterThan(5);
    } finally {
      await limited.close();
    }
  }, 60_000);

  it("rejects --rpm for an embedder that is not openai", async () => {
    const run = await runSluice({ cwd: dir }, "embed", "docs", "--rpm", "100", "--json", "--quiet");
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/embedder\.rpm.*applies to the "openai" embedder only/);
  }, 30_000);

  it("gives a queue worker the same --rpm/--tpm as embed", async () => {
    const run = await runSluice(
      { cwd: dir },
      "worker",
      "--queue",
      "redis://127.0.0.1:1",
      "--store",
      "postgres://127.0.0.1:1/none",
      "--rpm",
      "100",
      "--quiet",
    );
    expect(run.code).toBe(2);
    // The flag is taken and checked like embed's, not refused as unknown.
    expect(run.stderr).toMatch(/embedder\.rpm.*applies to the "openai" embedder only/);
  }, 30_000);
});
