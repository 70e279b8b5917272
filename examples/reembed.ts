/**
 * `sluice reembed` as a library: a folder embedded into a JSONL store with 64-dimensional hash
 * vectors moves into an SQLite store with 256-dimensional ones, streaming a page of files at a
 * time; a second run finds every file already there (what a re-run after a kill relies on).
 *
 * Run: npx tsx examples/reembed.ts
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { embedDocumentsStreaming, openSqliteStore, reembedStore } from "@sluice/embed";

const root = await mkdtemp(join(tmpdir(), "sluice-reembed-example-"));
try {
  for (let i = 0; i < 5; i++) {
    await writeFile(join(root, `note-${i}.md`), `# Note ${i}\n\nThe river number ${i} flows.\n`);
  }
  const from = join(root, "old.jsonl");
  await embedDocumentsStreaming({
    root,
    store: { location: from },
    embedder: { kind: "hash", dimensions: 64 },
    threads: 0,
  });
  const to = { store: { location: join(root, "new.db") }, embedder: { dimensions: 256 } };
  const first = await reembedStore({ kind: "jsonl", location: from }, to);
  console.log(`moved ${first.embedded} chunks of ${first.committed} files`);
  const again = await reembedStore({ kind: "jsonl", location: from }, to);
  console.log(`re-run: ${again.unchanged} files already there, ${again.embedded} embedded`);
  const store = await openSqliteStore({ path: join(root, "new.db"), access: { mode: "read" } });
  const stats = await store.stats();
  await store.close();
  console.log(`target: ${stats.chunks} chunks, ${stats.embedderId}`);
} finally {
  await rm(root, { recursive: true, force: true });
}
