/**
 * Case `embed-workflow`: the `@sluice/embed` workflow end to end on a generated
 * markdown corpus (written once by the case's `setup` into a temp folder),
 * batch (`embedDocuments`) against streaming (`embedDocumentsStreaming`), and
 * the streaming workflow's embed-concurrency scaling against a loopback
 * OpenAI-compatible server that adds 20 ms per request.
 *
 * Three variants (sizes and the reasons for them in `SIZES` below):
 * - `files=…`: batch vs streaming, hash embedder, every round: time, time to
 *   first stored chunk, throughput.
 * - `rss files=…`: the same on a corpus big enough for batch's O(corpus)
 *   memory to show, run in ONE round (`ROUNDS_OF_RSS_VARIANT`): peak RSS.
 * - `concurrency-scaling files=…`: streaming, `openai` embedder → loopback
 *   server in a child process (+20 ms/request), embed concurrency 1 vs 8.
 *
 * The figures come from the workflow's own `EmbedSummary` (duration, time to
 * first stored chunk, throughput, peak RSS) and, in the scaling variant, from
 * the server (most and mean requests handled at once); the checksum is
 * computed from the JSONL store the run wrote (number of distinct chunk ids and
 * a hash of the sorted ids), and the reference from a plain loop of
 * `prepareChunks` over the same corpus documents in the orchestrator.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { EmbedConfigInput, EmbedSummary } from "@sluice/embed";
import type {
  BenchCase,
  Implementation,
  Probe,
  RunFn,
  Skip,
  Variant,
  VariantParams,
} from "../types.ts";

/** The child reads the corpus root from this variable, set by `setup`. */
const CORPUS_ENV = "SLUICE_BENCH_EMBED_CORPUS";
/** Corpus seed: the same corpus byte for byte on every run. */
const SEED = 7;
/** Vector length of the hash embedder and of the loopback server. */
const DIMENSIONS = 384;
/** Latency the loopback server adds to every embeddings request. */
const SERVER_LATENCY_MS = 20;
/**
 * The scaling variant's requests: one chunk each (the workflow's default batch is 64), of at most
 * 200 characters (the default is 1,000). At concurrency 8 the pipeline must start a request every
 * 20 ms ÷ 8 = 2.5 ms; an HTTP request through the `openai` client alone costs ≈ 1–2 ms of CPU
 * here, and preparing a default 1,000-character chunk (markdown parsing, splitting, token
 * counting, ids) ≈ 1.2 ms more, which leaves concurrency 8 bound by the CPU of this 2-core
 * machine rather than by the 20 ms. With 200-character chunks (≈ 27 per file, ≈ 0.3 ms each) the
 * 20 ms per request is what dominates. (With 16 chunks of 1,000 characters per request, ≈ 25 ms
 * of CPU each, the run measured the markdown parser, not the embed stage.)
 */
const SCALING_BATCH = 1;
const SCALING_CHUNK_CHARS = 200;

/**
 * Corpus sizes of the full run (quick mode: 50 and 4 files, no `rss` variant). A file is
 * ≈ 4.2 kB of markdown and ≈ 6 chunks; both workflows spend ≈ 6–8 ms of CPU per file (about
 * half of it in remark's parser), and so does the reference checksum in `setup`.
 * - main, 2,000 files: ≈ 15 s per run, 3 rounds of both workflows ≈ 2 min.
 * - rss, 10,000 files: batch holds every file's text, blocks, chunks and vectors until the
 *   end (≈ 60 kB per file: ≈ 0.6 GB above the process's own ≈ 0.2 GB at 10,000 files) while
 *   streaming stays near its fixed ≈ 0.35–0.4 GB (modules, V8's heap headroom, ≈ 140 bytes
 *   per chunk of store index); one round of each (≈ 70 s apiece) plus the reference (≈ 60 s)
 *   ≈ 3.5 min. Batch reaching 10× streaming would take ≈ 60,000 files: ≈ 7 min per run, near
 *   V8's default 4 GB heap; for the 100,000 files batch would need ≈ 5 GB of heap (by
 *   extrapolation: ≈ 54 kB of heap per file at 20,000 files), more than that default.
 * - scaling, 50 files (≈ 1,340 chunks of ≤ 200 characters, one request each): ≈ 33 s at
 *   concurrency 1 and ≈ 5 s at 8, 3 rounds ≈ 2 min.
 */
export const SIZES = {
  full: { main: 2_000, rss: 10_000, scaling: 50 },
  quick: { main: 50, scaling: 4 },
} as const;

/** Rounds of the `rss` variant, whatever `--rounds` says: its runs are the case's longest. */
const ROUNDS_OF_RSS_VARIANT = 1;

const corpusFolder = (root: string, files: number): string => join(root, `files-${files}`);
/** Chunk ids include their collection: named, so that the reference ids need no folder. */
const COLLECTION = "bench-corpus";

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

function recordSummary(probe: Probe, summary: EmbedSummary, rssAtStart: number): void {
  probe.record("durationMs", summary.durationMs);
  probe.record("firstStoredMs", summary.timeToFirstStoredChunkMs ?? Number.NaN);
  probe.record("throughput", summary.throughput);
  probe.record("peakRssBytes", summary.peakRssBytes);
  probe.record("rssGrowthBytes", summary.peakRssBytes - rssAtStart);
  probe.record("chunks", summary.embedded);
}

/**
 * Whether this (variant, implementation) already ran as many rounds as the variant allows, as
 * counted by marker files in the corpus folder (which lives as long as the case's run). The
 * orchestrator skips an implementation's later rounds once one reports `skipped`; the rounds
 * that ran keep their figures.
 */
async function roundsUsed(params: VariantParams, impl: string): Promise<boolean> {
  const limit = params.maxRounds;
  if (typeof limit !== "number") return false;
  const folder = join(corpusRoot(), "rounds", `${String(params.name)}-${impl}`);
  await mkdir(folder, { recursive: true });
  for (let round = 1; round <= limit; round++) {
    const marker = join(folder, String(round));
    const taken = await writeFile(marker, "", { flag: "wx" }).then(
      () => false,
      () => true,
    );
    if (!taken) return false;
  }
  return true;
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
    /** Runs after the workflow; may record figures of its own. */
    readonly close: (probe: Probe) => Promise<void>;
  }>,
): Promise<RunFn> {
  const embed = await import("@sluice/embed");
  // As the `sluice` CLI runs them: both workflows in a process whose heap growth is capped.
  embed.capHeapGrowth();
  const run = workflow === "batch" ? embed.embedDocuments : embed.embedDocumentsStreaming;
  const root = corpusFolder(corpusRoot(), Number(params.files));
  const storeDir = await mkdtemp(join(os.tmpdir(), "sluice-bench-store-"));
  const store = join(storeDir, "store.jsonl");
  return async (probe) => {
    const { config, close } = await configFor();
    try {
      const rssAtStart = process.memoryUsage.rss();
      const summary = await run({
        ...config,
        root,
        collection: COLLECTION,
        store: { location: store },
      });
      checkSummary(summary);
      recordSummary(probe, summary, rssAtStart);
    } finally {
      await close(probe);
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
  close: async (_probe: Probe) => {},
});

/** Batch or streaming with the hash embedder, within the variant's round limit. */
async function hashRun(workflow: Workflow, params: VariantParams): Promise<RunFn | Skip> {
  if (await roundsUsed(params, `embed-${workflow}`)) {
    return {
      skipped: `${String(params.name)} runs ${String(params.maxRounds)} round(s) only (its runs are the case's longest)`,
    };
  }
  return workflowRun(workflow, params, hashConfig);
}

/**
 * The streaming workflow with the `openai` embedder against a loopback server with latency. The
 * server runs in a child process of its own, so that its CPU time (parsing requests, hashing
 * texts, encoding answers) does not compete with the pipeline in this process; it reports how
 * many requests it handled at once.
 */
function scalingRun(params: VariantParams, concurrency: number) {
  return workflowRun("streaming", params, async () => {
    const { startEmbeddingServerProcess } = await import("@sluice/embed");
    const server = await startEmbeddingServerProcess({
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
      split: splitOf(params),
      embedder: {
        kind: "openai",
        baseUrl: server.url,
        apiKey: "sluice-bench-loopback",
        dimensions: DIMENSIONS,
        concurrency,
      },
    };
    const close = async (probe: Probe) => {
      const load = await server.close();
      probe.record("serverMaxConcurrent", load.maxConcurrent);
      probe.record("serverMeanConcurrent", load.meanConcurrent);
    };
    return { config, close };
  });
}

const onlyMain = (params: VariantParams): string | undefined =>
  params.scaling === true ? "runs in the main and rss variants only (hash embedder)" : undefined;
const onlyScaling = (params: VariantParams): string | undefined =>
  params.scaling === true ? undefined : "runs in the concurrency-scaling variant only";

const implementations: Record<string, Implementation> = {
  "embed-batch": {
    description:
      "`embedDocuments` (batch `Pipeline`: every stage over the whole corpus before the next), hash embedder, JSONL store",
    unsupported: onlyMain,
    prepare: (params) => hashRun("batch", params),
  },
  "embed-streaming": {
    description:
      "`embedDocumentsStreaming` (`StreamingPipeline`, defaults: concurrency 4, batches of 64 or 250 ms, embed concurrency 2), hash embedder, JSONL store",
    unsupported: onlyMain,
    prepare: (params) => hashRun("streaming", params),
  },
  "streaming-c1": {
    description: `\`embedDocumentsStreaming\`, \`openai\` embedder → loopback server in a child process (+${SERVER_LATENCY_MS} ms/request), batches of ${SCALING_BATCH} chunk of ≤ ${SCALING_CHUNK_CHARS} characters, embed concurrency 1`,
    unsupported: onlyScaling,
    prepare: (params) => scalingRun(params, 1),
  },
  "streaming-c8": {
    description: `the same with embed concurrency 8`,
    unsupported: onlyScaling,
    prepare: (params) => scalingRun(params, 8),
  },
};

/** The split settings of a variant: its `chunkChars`, else the workflow's defaults. */
const splitOf = (params: VariantParams): EmbedConfigInput["split"] =>
  typeof params.chunkChars === "number" ? { maxChunkSize: params.chunkChars } : {};

/** The reference checksum: `prepareChunks` in a plain loop over the corpus documents. */
async function referenceFor(files: number, split: EmbedConfigInput["split"]): Promise<number> {
  const embed = await import("@sluice/embed");
  const config = embed.parseEmbedConfig({ split });
  const options = {
    collection: COLLECTION,
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
  description: `The embed workflow (\`@sluice/embed\`) on a generated markdown corpus (seed ${SEED}, ≈ 4.2 kB and ≈ 6 chunks per file, written once to a temp folder before the runs): batch \`embedDocuments\` vs streaming \`embedDocumentsStreaming\`, hash embedder (${DIMENSIONS} dimensions), JSONL store, in a worker whose V8 heap growth is capped at 50% past live size as the \`sluice\` CLI sets it (\`capHeapGrowth\`; V8's default lets a fast-allocating heap grow to about 4× its live size before a full collection) (PGlite is left out: its own ≈ 900 MB RSS would drown the comparison; the JSONL store keeps only ids and file positions in memory). Variant \`files=${SIZES.full.main}\` (3 rounds): time, first stored chunk, throughput. Variant \`rss files=${SIZES.full.rss}\` (${ROUNDS_OF_RSS_VARIANT} round, the case's longest runs): peak RSS on a corpus where batch's O(corpus) memory (≈ 60 kB per file) clearly exceeds the process's fixed ≈ 0.2 GB; the issue's 100,000 files take 15–19 min per run and batch about 5 GB, more than V8's default heap limit, so they are measured on demand by \`npm run bench:embed-at-scale -w bench\` (each mode alone; results in [bench/results/embed-100k.md](bench/results/embed-100k.md) and in the section before this one). "RSS above start" is the peak minus the RSS when the run began (modules loaded). Variant concurrency-scaling (${SIZES.full.scaling} files split into chunks of ≤ ${SCALING_CHUNK_CHARS} characters, one chunk per request, so that the 20 ms per request outweighs the CPU per request: ≈ 0.3 ms to prepare such a chunk and ≈ 1–2 ms for the HTTP request; with the default 1,000-character chunks concurrency 8 is bound by this 2-core machine's CPU): the streaming workflow with the \`openai\` embedder against a loopback server in a child process (127.0.0.1, +${SERVER_LATENCY_MS} ms per request), embed concurrency 1 vs 8, with the most and mean requests the server handled at once. Figures from the workflow's \`EmbedSummary\`; time includes reading the store back for the checksum (chunk count + hash of the sorted chunk ids).`,
  baseline: "embed-batch",
  columns: [],
  figures: [
    { key: "durationMs", header: "workflow duration (ms)" },
    { key: "firstStoredMs", header: "first stored chunk (ms)" },
    { key: "throughput", header: "throughput (chunks/s)", digits: 0 },
    { key: "peakRssBytes", header: "peak RSS (MB)", scale: 1024 * 1024, digits: 0 },
    { key: "rssGrowthBytes", header: "RSS above start (MB)", scale: 1024 * 1024, digits: 0 },
    { key: "chunks", header: "chunks", digits: 0 },
    { key: "serverMaxConcurrent", header: "requests at once (max)", digits: 0 },
    { key: "serverMeanConcurrent", header: "requests at once (mean)", digits: 1 },
  ],
  variants: (quick) => {
    const variant = (
      name: string,
      files: number,
      extra: Record<string, number | boolean> = {},
    ) => ({
      name,
      params: { size: files, files, scaling: false, name, ...extra },
    });
    if (quick) {
      return [
        variant(`files=${SIZES.quick.main}`, SIZES.quick.main),
        variant(`concurrency-scaling files=${SIZES.quick.scaling}`, SIZES.quick.scaling, {
          scaling: true,
          chunkChars: SCALING_CHUNK_CHARS,
        }),
      ];
    }
    return [
      variant(`files=${SIZES.full.main}`, SIZES.full.main),
      variant(`rss files=${SIZES.full.rss}`, SIZES.full.rss, { maxRounds: ROUNDS_OF_RSS_VARIANT }),
      variant(`concurrency-scaling files=${SIZES.full.scaling}`, SIZES.full.scaling, {
        scaling: true,
        chunkChars: SCALING_CHUNK_CHARS,
      }),
    ];
  },
  reference: () => {
    throw new Error("embed-workflow: the reference is computed by the case's setup");
  },
  async setup(variants: readonly Variant[]) {
    const { generateCorpus } = await import("@sluice/embed");
    const root = await mkdtemp(join(os.tmpdir(), "sluice-bench-corpus-"));
    try {
      const references: Record<string, number> = {};
      const generated = new Set<number>();
      for (const v of variants) {
        const files = Number(v.params.files);
        if (!generated.has(files)) {
          await generateCorpus(corpusFolder(root, files), { files, seed: SEED });
          generated.add(files);
        }
        references[v.name] = await referenceFor(files, splitOf(v.params));
      }
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
