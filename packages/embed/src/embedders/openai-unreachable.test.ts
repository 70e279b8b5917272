// A whole embed run against an endpoint where nothing listens: the run must end in seconds,
// every failed chunk carrying the one ENDPOINT_UNREACHABLE error that says what happened.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbedConfigInput } from "../config.ts";
import { embedDocuments } from "../workflows/embed-documents.ts";
import { embedDocumentsStreaming } from "../workflows/embed-documents-streaming.ts";

let root: string;
let url: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-unreachable-"));
  await mkdir(join(root, "docs"));
  for (let i = 0; i < 30; i++) {
    const paragraphs = Array.from({ length: 6 }, (_, p) =>
      `Paragraph ${p} of note ${i} about pipelines and backpressure. `.repeat(8),
    );
    await writeFile(
      join(root, "docs", `note-${i}.md`),
      `# Note ${i}\n\n${paragraphs.join("\n\n")}\n`,
    );
  }
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  url = `http://127.0.0.1:${address.port}/v1`;
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function config(store: string): EmbedConfigInput {
  return {
    root: "docs",
    split: { maxChunkSize: 200, minChunkSize: 20 },
    batch: { size: 4 },
    embedder: { kind: "openai", baseUrl: url, apiKey: "k", model: "m", dimensions: 8 },
    store: { location: store },
  };
}

describe.each([
  ["streaming", embedDocumentsStreaming],
  ["batch", embedDocuments],
] as const)("a %s run against a refused endpoint", (mode, run) => {
  it("stops within seconds with the one error naming the endpoint and the cause", async () => {
    const started = performance.now();
    const error = await run(config(`out/${mode}.jsonl`), { cwd: root }).then(
      () => new Error("finished"),
      (e: unknown) => e as Error & { code?: string },
    );
    expect(performance.now() - started).toBeLessThan(15_000);
    expect(error).toMatchObject({ name: "EndpointUnreachableError", code: "ENDPOINT_UNREACHABLE" });
    expect(error.message).toContain(`connection refused at ${url}`);
  }, 30_000);
});
