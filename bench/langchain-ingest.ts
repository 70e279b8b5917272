/**
 * The LangChain.js side of `embed-vs-langchain.ts`: the ingest a LangChain.js user writes, run
 * in a fresh process of its own:
 *
 * ```sh
 * node --import tsx langchain-ingest.ts --dir CORPUS --endpoint URL --model NAME --out FILE.json
 * ```
 *
 * Loads every `.md` file under `--dir` (`DirectoryLoader` + `TextLoader`, recursive), splits
 * them with `MarkdownTextSplitter` (1,000 characters, 100 overlap), embeds the chunks with
 * `OpenAIEmbeddings` against the OpenAI-compatible `--endpoint` (its default batching: 512
 * texts per request, 2 requests at once) into a `MemoryVectorStore`, then writes the store's
 * texts, metadata and vectors to `--out`. Prints one line, `LANGCHAIN_INGEST {json}`, with the
 * counts and the time of each phase.
 */
import { createWriteStream } from "node:fs";
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { DirectoryLoader, UnknownHandling } from "@langchain/classic/document_loaders/fs/directory";
import { TextLoader } from "@langchain/classic/document_loaders/fs/text";
import { MemoryVectorStore } from "@langchain/classic/vectorstores/memory";
import { OpenAIEmbeddings } from "@langchain/openai";
import { MarkdownTextSplitter } from "@langchain/textsplitters";

/** The splitter settings of the comparison (sluice's defaults: 1,000 characters, 100 overlap). */
export const SPLIT = { chunkSize: 1000, chunkOverlap: 100 } as const;

/** The line's prefix, so that the parent finds it among anything else printed. */
export const RESULT_PREFIX = "LANGCHAIN_INGEST ";

/** What one ingest did, printed as its one result line. */
export interface LangchainIngestResult {
  readonly files: number;
  readonly chunks: number;
  /** Records written to the output file. */
  readonly written: number;
  /** Length of the first stored vector (0 when nothing was stored). */
  readonly dimensions: number;
  readonly outputBytes: number;
  readonly loadMs: number;
  readonly splitMs: number;
  readonly embedMs: number;
  readonly writeMs: number;
  /** From the call to the file written, module loading excluded. */
  readonly totalMs: number;
}

/** Loads, splits, embeds and stores the `.md` files under `dir`, then writes the store to `out`. */
export async function langchainIngest(options: {
  readonly dir: string;
  readonly endpoint: string;
  readonly model: string;
  readonly out: string;
}): Promise<LangchainIngestResult> {
  const started = performance.now();
  let mark = started;
  const lap = () => {
    const now = performance.now();
    const ms = now - mark;
    mark = now;
    return ms;
  };
  // Ignore: the corpus folder also holds the benchmark's marker file, which is not markdown.
  const loader = new DirectoryLoader(
    options.dir,
    { ".md": (path) => new TextLoader(path) },
    true,
    UnknownHandling.Ignore,
  );
  const docs = await loader.load();
  const loadMs = lap();
  const splitter = new MarkdownTextSplitter(SPLIT);
  const chunks = await splitter.splitDocuments(docs);
  const splitMs = lap();
  const embeddings = new OpenAIEmbeddings({
    model: options.model,
    apiKey: "sk-bench-loopback",
    configuration: { baseURL: options.endpoint },
  });
  const store = new MemoryVectorStore(embeddings);
  await store.addDocuments(chunks);
  const embedMs = lap();
  const written = await writeStore(store, options.out);
  const writeMs = lap();
  return {
    files: docs.length,
    chunks: chunks.length,
    written,
    dimensions: store.memoryVectors[0]?.embedding.length ?? 0,
    outputBytes: (await stat(options.out)).size,
    loadMs,
    splitMs,
    embedMs,
    writeMs,
    totalMs: performance.now() - started,
  };
}

/**
 * Writes the store as a JSON array, one record per line. Record by record rather than one
 * `JSON.stringify` of the whole store: at 1536 dimensions a 5,000-file store's text is past
 * V8's longest string, and a careful user writes it this way anyway.
 */
async function writeStore(store: MemoryVectorStore, path: string): Promise<number> {
  const vectors = store.memoryVectors;
  let written = 0;
  async function* lines(): AsyncGenerator<string> {
    yield "[\n";
    for (const [i, v] of vectors.entries()) {
      const record = { text: v.content, metadata: v.metadata, vector: v.embedding };
      yield `${JSON.stringify(record)}${i < vectors.length - 1 ? "," : ""}\n`;
      written += 1;
    }
    yield "]\n";
  }
  await pipeline(Readable.from(lines()), createWriteStream(path));
  return written;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      endpoint: { type: "string" },
      model: { type: "string" },
      out: { type: "string" },
    },
  });
  const { dir, endpoint, model, out } = values;
  if (dir === undefined || endpoint === undefined || model === undefined || out === undefined) {
    process.stderr.write("usage: langchain-ingest.ts --dir D --endpoint URL --model M --out F\n");
    process.exit(2);
  }
  const result = await langchainIngest({ dir: resolve(dir), endpoint, model, out: resolve(out) });
  process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
}
