/**
 * `sluice ask` as a library: a small folder of notes is embedded (offline hash embedder, SQLite
 * store), then a question is answered by a chat model whose tokens are printed as they stream
 * in, followed by the sources the answer cites. The chat model here is the loopback server the
 * tests use; point `baseUrl` at any OpenAI-compatible `/v1` to use a real one.
 *
 * Run: npx tsx examples/ask.ts
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  askStreaming,
  citedNumbers,
  createHashEmbedder,
  embedDocumentsStreaming,
  openSqliteStore,
  startChatServer,
} from "@sluice/embed";

const root = await mkdtemp(join(tmpdir(), "sluice-ask-example-"));
const chat = await startChatServer({ tokenDelayMs: 5 });
try {
  await writeFile(
    join(root, "rivers.md"),
    "# Rivers\n\nA sluice gate controls the flow of water in a river channel.\n",
  );
  await writeFile(join(root, "bread.md"), "# Bread\n\nKnead the dough, then bake it.\n");
  const location = join(root, "store.db");
  const summary = await embedDocumentsStreaming({
    root,
    store: { location },
    embedder: { kind: "hash", dimensions: 64 },
    threads: 0,
  });
  console.log(`embedded ${summary.embedded} chunks`);

  const store = await openSqliteStore({ path: location, access: { mode: "read" } });
  try {
    let answer = "";
    let sources: { n: number; path: string; lines: { start: number; end: number } }[] = [];
    for await (const event of askStreaming("what controls the flow of water?", {
      store,
      embedder: createHashEmbedder({ dimensions: 64 }),
      chat: { baseUrl: chat.url, model: "any", apiKey: "placeholder" },
      k: 2,
    })) {
      if (event.type === "sources") sources = [...event.sources];
      if (event.type === "token") {
        answer += event.text;
        process.stdout.write(event.text); // each token as it arrives
      }
    }
    process.stdout.write("\n");
    for (const n of citedNumbers(answer, sources.length)) {
      const s = sources[n - 1];
      if (s) console.log(`cited [${n}] ${s.path}:${s.lines.start}-${s.lines.end}`);
    }
  } finally {
    await store.close();
  }
} finally {
  await chat.close();
  await rm(root, { recursive: true, force: true });
}
