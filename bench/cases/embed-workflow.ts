/**
 * Case `embed-workflow`: the `@sluice/embed` workflow end to end on a generated
 * markdown corpus (written once by the case's `setup` into a temp folder),
 * batch (`embedDocuments`) against streaming (`embedDocumentsStreaming`), and
 * the streaming workflow's embed-concurrency scaling against a loopback
 * OpenAI-compatible server that adds 20 ms per request.
 *
 * The figures come from the workflow's own `EmbedSummary` (duration, time to
 * first stored chunk, throughput, peak RSS); the checksum is computed from the
 * JSONL store the run wrote (number of distinct chunk ids and a hash of the
 * sorted ids), and the reference from a plain loop of `prepareChunks` over the
 * same corpus documents in the orchestrator.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { EmbedConfigInput, EmbedSummary } from "@sluice/embed";
import type { BenchCase, Implementation, Probe, RunFn, Variant, VariantParams } from "../types.ts";

/** The child reads the corpus root from this variable, set by `setup`. */
const CORPUS_ENV = "SLUICE_BENCH_EMBED_CORPUS";
/** Corpus seed: the same corpus byte for byte on every run. */
const SEED = 7;
/** Vector length of the hash embedder and of the loopback server. */
const DIMENSIONS = 384;
/** Latency the loopback server adds to every embeddings request. */
const SERVER_LATENCY_MS = 20;
/** Chunks per embeddings request in the scaling variant (the workflow's default is 64). */
const SCALING_BATCH = 16;

const corpusFolder = (root: string, files: number): string => join(root, `files-${files}`);

function corpusRoot(): string {
  const root = process.env[CORPUS_ENV];
  if (root === undefined || root === "") {
    throw new Error(`${CORPUS_ENV} is not set: the case's setup did not run`);
  }
  return root;
}

/**
 * The checksum of a set of chunk ids: count × 2²⁴ + the first 24 bits of the
 * SHA-256 of the sorted ids (exact as a double up to 2²⁹ chunks).
 */
function idsChecksum(ids: Iterable<string>): number {
  const sorted = [...ids].sort();
  const digest = createHash("sha256").update(sorted.join("\n")).digest();
  return sorted.length * 2 ** 24 + digest.readUIntBE(0, 3);
}

const CHUNK_LINE = /^\{"type":"chunk","id":"([^"]+)"/;

/** Distinct chunk ids in a JSONL store, read line by line (memory: the ids only). */
async function storedIds(path: string): Promise<Set<string>> {
  const ids = new Set<string>();
  const input = createReadStream(path, { encoding: "utf8" });
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    const fast = CHUNK_LINE.exec(line);
    if (fast?.[1] !== undefined) {
      ids.add(fast[1]);
    } else if (line.includes('"type":"chunk"')) {
      const parsed = JSON.parse(line) as { readonly type?: string; readonly id?: string };
      if (parsed.type === "chunk" && typeof parsed.id === "string") ids.add(parsed.id);
    }
  }
  return ids;
}

/** Throws unless the run embedded and committed everything it found. */
function checkSummary(summary: EmbedSummary): void {
  const problems = [
    summary.failed > 0 ? `${summary.failed} failed file(s)` : "",
    summary.skipped > 0 ? `${summary.skipped} skipped file(s)` : "",
    summary.embedded !== summary.chunks
      ? `${summary.embedded} of ${summary.chunks} chunks embedded`
      : "",
    summary.committed !== summary.files
      ? `${summary.committed} of ${summary.files} files committed`
      : "",
  ].filter((p) => p !== "");
  if (problems.length > 0) {
    const first = summary.errors[0];
    const detail = first === undefined ? "" : ` (first: ${first.code} ${first.message})`;
    throw new Error(`embed run incomplete: ${problems.join(", ")}${detail}`);
  }
}

function recordSummary(probe: Probe, summary: EmbedSummary): void {
  probe.record("durationMs", summary.durationMs);
  probe.record("firstStoredMs", summary.timeToFirstStoredChunkMs ?? Number.NaN);
  probe.record("throughput", summary.throughput);
  probe.record("peakRssBytes", summary.peakRssBytes);
  probe.record("chunks", summary.embedded);
}

type Workflow = "batch" | "streaming";

/**
 * Runs one workflow over the variant's corpus into a fresh JSONL store, records
 * the summary's figures and returns the store's checksum; the store is removed
 * afterwards. `configFor` gives the embedder settings and a `close` that runs
 * after the workflow (the scaling variant starts and closes its server there;
 * both are timed).
 */
async function workflowRun(
  workflow: Workflow,
  params: VariantParams,
  configFor: () => Promise<{
    readonly config: EmbedConfigInput;
    readonly close: () => Promise<void>;
  }>,
): Promise<RunFn> {
  const embed = await import("@sluice/embed");
  const run = workflow === "batch" ? embed.embedDocuments : embed.embedDocumentsStreaming;
  const root = corpusFolder(corpusRoot(), Number(params.files));
  const storeDir = await mkdtemp(join(os.tmpdir(), "sluice-bench-store-"));
  const store = join(storeDir, "store.jsonl");
  return async (probe) => {
    const { config, close } = await configFor();
    try {
      const summary = await run({ ...config, root, store: { location: store } });
      checkSummary(summary);
      recordSummary(probe, summary);
    } finally {
      await close();
    }
    try {
      return idsChecksum(await storedIds(store));
    } finally {
      await rm(storeDir, { recursive: true, force: true });
    }
  };
}

const hashConfig = async () => ({
  config: { embedder: { kind: "hash", dimensions: DIMENSIONS } } satisfies EmbedConfigInput,
  close: async () => {},
});

/** The streaming workflow with the `openai` embedder against a loopback server with latency. */
function scalingRun(params: VariantParams, concurrency: number) {
  return workflowRun("streaming", params, async () => {
    const { startEmbeddingServer } = await import("@sluice/embed");
    const server = await startEmbeddingServer({
      dimensions: DIMENSIONS,
      latencyMs: SERVER_LATENCY_MS,
    });
    const host = new URL(server.url).hostname;
    if (host !== "127.0.0.1") {
      await server.close();
      throw new Error(`embedding server must listen on 127.0.0.1, got ${host}`);
    }
    const config: EmbedConfigInput = {
      batch: { size: SCALING_BATCH },
      embedder: {
        kind: "openai",
        baseUrl: server.url,
        apiKey: "sluice-bench-loopback",
        dimensions: DIMENSIONS,
        concurrency,
      },
    };
    return { config, close: () => server.close() };
  });
}

const onlyMain = (params: VariantParams): string | undefined =>
  params.scaling === true ? "runs in the main variant only (hash embedder)" : undefined;
const onlyScaling = (params: VariantParams): string | undefined =>
  params.scaling === true ? undefined : "runs in the concurrency-scaling variant only";

const implementations: Record<string, Implementation> = {
  "embed-batch": {
    description:
      "`embedDocuments` (batch `Pipeline`: every stage over the whole corpus before the next), hash embedder, JSONL store",
    unsupported: onlyMain,
    prepare: (params) => workflowRun("batch", params, hashConfig),
  },
  "embed-streaming": {
    description:
      "`embedDocumentsStreaming` (`StreamingPipeline`, defaults: concurrency 4, batches of 64 or 250 ms), hash embedder, JSONL store",
    unsupported: onlyMain,
    prepare: (params) => workflowRun("streaming", params, hashConfig),
  },
  "streaming-c1": {
    description: `\`embedDocumentsStreaming\`, \`openai\` embedder → loopback server (+${SERVER_LATENCY_MS} ms/request), batches of ${SCALING_BATCH}, embed concurrency 1`,
    unsupported: onlyScaling,
    prepare: (params) => scalingRun(params, 1),
  },
  "streaming-c8": {
    description: `the same with embed concurrency 8`,
    unsupported: onlyScaling,
    prepare: (params) => scalingRun(params, 8),
  },
};

/** The reference checksum: `prepareChunks` in a plain loop over the corpus documents. */
async function referenceFor(files: number): Promise<number> {
  const embed = await import("@sluice/embed");
  const config = embed.parseEmbedConfig({});
  const options = {
    frontmatter: config.frontmatter,
    removeSections: config.clean.removeSections,
    split: config.split,
  };
  const ids: string[] = [];
  for (const doc of embed.corpusDocuments({ files, seed: SEED })) {
    const prepared = embed.prepareChunks(
      { relativePath: doc.relativePath, text: doc.content },
      options,
    );
    for (const chunk of prepared.chunks) ids.push(chunk.id);
  }
  return idsChecksum(ids);
}

/** The `embed-workflow` case. */
export const embedWorkflow: BenchCase = {
  name: "embed-workflow",
  description: `The embed workflow (\`@sluice/embed\`) on a generated markdown corpus (seed ${SEED}, written once to a temp folder before the runs): batch \`embedDocuments\` vs streaming \`embedDocumentsStreaming\`, hash embedder (${DIMENSIONS} dimensions), JSONL store (PGlite is left out: its own ≈ 900 MB RSS would drown the comparison; note the JSONL store keeps every record in memory in both modes). Variant concurrency-scaling: the streaming workflow with the \`openai\` embedder against a loopback server (127.0.0.1, +${SERVER_LATENCY_MS} ms per request), embed concurrency 1 vs 8. Figures from the workflow's \`EmbedSummary\`; time includes reading the store back for the checksum (chunk count + hash of the sorted chunk ids).`,
  baseline: "embed-batch",
  columns: [],
  figures: [
    { key: "durationMs", header: "workflow duration (ms)" },
    { key: "firstStoredMs", header: "first stored chunk (ms)" },
    { key: "throughput", header: "throughput (chunks/s)", digits: 0 },
    { key: "peakRssBytes", header: "peak RSS (MB)", scale: 1024 * 1024, digits: 0 },
    { key: "chunks", header: "chunks", digits: 0 },
  ],
  variants: (quick) => {
    const files = quick ? 50 : 5_000;
    const scaling = quick ? 20 : 500;
    return [
      { name: `files=${files}`, params: { size: files, files, scaling: false } },
      {
        name: `concurrency-scaling files=${scaling}`,
        params: { size: scaling, files: scaling, scaling: true },
      },
    ];
  },
  reference: () => {
    throw new Error("embed-workflow: the reference is computed by the case's setup");
  },
  async setup(variants: readonly Variant[]) {
    const { generateCorpus } = await import("@sluice/embed");
    const root = await mkdtemp(join(os.tmpdir(), "sluice-bench-corpus-"));
    try {
      const counts = [...new Set(variants.map((v) => Number(v.params.files)))];
      const byCount = new Map<number, number>();
      for (const files of counts) {
        await generateCorpus(corpusFolder(root, files), { files, seed: SEED });
        byCount.set(files, await referenceFor(files));
      }
      const references: Record<string, number> = {};
      for (const v of variants) references[v.name] = byCount.get(Number(v.params.files)) ?? 0;
      return {
        env: { [CORPUS_ENV]: root },
        references,
        dispose: () => rm(root, { recursive: true, force: true }),
      };
    } catch (error) {
      await rm(root, { recursive: true, force: true });
      throw error;
    }
  },
  implementations,
};
