/**
 * The embed workflow as a library: markdown files → chunks → vectors → a JSON Lines store,
 * composed from @sluice/embed's building blocks with a StreamingPipeline. It writes a small
 * folder of notes to a temporary directory, embeds it offline with the hash embedder into one
 * collection (named after the folder), then searches the store by words and vectors (hybrid).
 *
 * Run: npx tsx examples/embed-workflow.ts
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  createHashEmbedder,
  discoverFiles,
  openJsonlStore,
  prepareChunks,
  readTextFile,
} from "@sluice/embed";
import { StreamingPipeline } from "sluice";

const root = await mkdtemp(join(tmpdir(), "sluice-embed-example-"));
try {
  await writeFile(
    join(root, "rivers.md"),
    "---\ntags: [water]\n---\n# Rivers\n\nA sluice gate controls the flow of water in a river channel.\n",
  );
  await writeFile(
    join(root, "baking.md"),
    "# Bread\n\nKnead the dough, let it rise, then bake the bread in a hot oven.\n",
  );
  await writeFile(join(root, "blob.md"), Buffer.from([0, 1, 2, 3, 0, 255]));

  const embedder = createHashEmbedder({ dimensions: 64 });
  const store = await openJsonlStore({
    path: join(root, ".index", "chunks.jsonl"),
    access: {
      mode: "write",
      identity: { embedderId: embedder.id, dimensions: embedder.dimensions },
    },
  });
  // A store holds several folders; this run writes (and could only remove) within this one.
  const collection = "notes";

  const files = await discoverFiles({ root });
  const pipeline = StreamingPipeline.start<(typeof files)[number]>(undefined, {
    errorStrategy: "SPLIT_ERRORS",
  })
    .map("read", (file) => readTextFile(file), { concurrency: 4 })
    .filter("text", (read) => {
      if (!read.ok) console.log(`skipped ${read.file.relativePath}: ${read.reason}`);
      return read.ok;
    })
    .flatMap("chunks", (read) =>
      read.ok
        ? prepareChunks(
            { ...read.file, text: read.text },
            { collection, split: { maxChunkSize: 400 } },
          ).chunks
        : [],
    )
    .batch("batch", { size: 16, maxWeight: 4_000, weigh: (chunk) => chunk.text.length })
    .map(
      "embed",
      async (chunks, ctx) => {
        const vectors = await embedder.embed(
          chunks.map((c) => c.text),
          ctx.signal,
        );
        return chunks.map((c, i) => ({ ...c, vector: vectors[i] ?? [] }));
      },
      { concurrency: 2, retry: { maxAttempts: 3, backoffMs: 100 } },
    )
    .map("store", async (records) => {
      await store.upsert(records);
      return records.length;
    });

  const run = pipeline.executeFrom(files);
  const failures = (async () => {
    for await (const f of run.errors) console.log(`failed at ${f.key}: ${f.error.message}`);
  })();
  let stored = 0;
  for await (const n of run) stored += n;
  await failures;
  console.log(`files: ${files.length}, chunks stored: ${stored}`);

  const text = "how does a sluice control water flow";
  const [vector] = await embedder.embed([text]);
  const hits = await store.search({ text, k: 1, ...(vector ? { vector } : {}) });
  console.log(
    `best match: ${hits[0]?.path} — "${hits[0]?.text.replace(/\s+/g, " ").slice(0, 40)}…"`,
  );
  await store.close();
} finally {
  await rm(root, { recursive: true, force: true });
}
