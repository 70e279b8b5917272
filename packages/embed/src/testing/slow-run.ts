// A child process for crash tests: embeds <root> into <store> with a slowed embedder and prints
// "embedded <n>" as chunks are stored, so the parent can SIGKILL it mid-run.
// Usage: tsx slow-run.ts <root> <store> <delayMs> [batch|streaming]
import { embedDocuments } from "../workflows/embed-documents.ts";
import { embedDocumentsStreaming } from "../workflows/embed-documents-streaming.ts";
import { crashTestConfig, createFaultyEmbedder } from "./test-embedders.ts";

const [root, store, delay = "30", mode = "streaming"] = process.argv.slice(2);
if (root === undefined || store === undefined)
  throw new Error("usage: slow-run <root> <store> <delayMs>");
const run = mode === "batch" ? embedDocuments : embedDocumentsStreaming;
let last = -1;
let timer: NodeJS.Timeout | undefined;
const summary = await run(crashTestConfig(root, store), {
  embedder: createFaultyEmbedder({ delayMs: Number(delay) }),
  onStart: (probe) => {
    timer = setInterval(() => {
      const { embedded } = probe();
      if (embedded !== last) process.stdout.write(`embedded ${(last = embedded)}\n`);
    }, 5);
  },
});
clearInterval(timer);
process.stdout.write(`done ${JSON.stringify(summary)}\n`);
