// Frontmatter that is hostile or merely huge, through both workflows: an alias bomb is skipped
// with its code, and a large frontmatter (or heading) is not copied whole into every chunk.
import { mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbedConfigInput } from "../config.ts";
import { MAX_STORED_METADATA_BYTES } from "../steps/frontmatter.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";

let root: string;
let bigBytes: number;

/** Roughly 2,000 characters of prose per paragraph, `count` paragraphs. */
function paragraphs(count: number): string {
  const sentence = "The river carries silt down to the delta where it settles in layers. ";
  return Array.from({ length: count }, (_, i) => `Paragraph ${i}. ${sentence.repeat(28)}`).join(
    "\n\n",
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-frontmatter-limits-"));
  const docs = join(root, "docs");
  await mkdir(docs, { recursive: true });
  // "Billion laughs": nine levels of nine aliases in about 600 bytes.
  const laughs = ["---", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < 9; i++) {
    laughs.push(`a${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(",")}]`);
  }
  await writeFile(join(docs, "laughs.md"), `${laughs.join("\n")}\n---\n# Laughs\n\nBody.\n`);
  // A 200 KB frontmatter field and a 20 KB heading above 20 KB of text.
  const big = [
    "---",
    "title: Big",
    `description: "${"d".repeat(200_000)}"`,
    "tags: [x]",
    "---",
    `# ${"h".repeat(20_000)}`,
    "",
    paragraphs(10),
    "",
  ].join("\n");
  await writeFile(join(docs, "big.md"), big);
  bigBytes = Buffer.byteLength(big);
  await writeFile(join(docs, "normal.md"), "---\ntitle: Normal\n---\n# Normal\n\nPlain text.\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function config(store: string): EmbedConfigInput {
  return {
    root: "docs",
    split: { maxChunkSize: 2000 },
    embedder: { dimensions: 16 },
    store: { location: store },
  };
}

describe.each([
  ["streaming", embedDocumentsStreaming],
  ["batch", embedDocuments],
] as const)("hostile frontmatter in the %s workflow", (mode, embed) => {
  it("skips an alias bomb with FRONTMATTER_TOO_LARGE and caps the metadata of every chunk", async () => {
    const store = join(root, `out/${mode}.jsonl`);
    const summary = await embed(config(`out/${mode}.jsonl`), { cwd: root });
    expect(summary.errors).toEqual([
      {
        kind: "skipped",
        path: "laughs.md",
        stage: "frontmatter",
        code: "FRONTMATTER_TOO_LARGE",
        message: expect.stringMatching(/alias/),
      },
    ]);
    expect(summary.skipped).toBe(1);

    const dump = await dumpJsonlStore(store);
    const big = dump.chunks.filter((c) => c.path === "big.md");
    expect(big.length).toBeGreaterThanOrEqual(10);
    for (const chunk of big) {
      expect(Buffer.byteLength(JSON.stringify(chunk.metadata))).toBeLessThanOrEqual(
        MAX_STORED_METADATA_BYTES + 1024,
      );
      expect(chunk.metadata).toMatchObject({
        title: "Big",
        tags: ["x"],
        metadataTruncated: ["description"],
      });
    }
    expect(dump.chunks.filter((c) => c.path === "normal.md")).toHaveLength(1);
    // Without the caps every chunk held the 200 KB field and the 20 KB heading: 2+ MB.
    expect((await stat(store)).size).toBeLessThan(bigBytes);
  });
});
