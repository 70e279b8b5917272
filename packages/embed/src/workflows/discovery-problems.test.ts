// What discovery reports rather than embeds, through both workflows: links out of the folder,
// two spellings of one name, and names that only look alike (a backslash on POSIX).
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmbedConfigInput } from "../config.ts";
import { dumpJsonlStore } from "../testing/store-dump.ts";
import { embedDocuments } from "./embed-documents.ts";
import { embedDocumentsStreaming } from "./embed-documents-streaming.ts";

const NFC = "caf\u00e9.md";
const NFD = "cafe\u0301.md";
let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-discovery-problems-"));
  const docs = join(root, "docs");
  const outside = join(root, "outside");
  await mkdir(join(docs, "back"), { recursive: true });
  await mkdir(outside);
  await writeFile(join(outside, "secret.md"), "# Secret\n\nzebra-password-42\n");
  await symlink(join(outside, "secret.md"), join(docs, "passwd.md"));
  await writeFile(join(docs, "normal.md"), "# Normal\n\nPlain text.\n");
  await writeFile(join(docs, NFC), "# Composed\n\nThe composed spelling.\n");
  await writeFile(join(docs, NFD), "# Decomposed\n\nThe decomposed spelling.\n");
  await writeFile(join(docs, "back\\slash.md"), "# Backslash\n\nA backslash in a name.\n");
  await writeFile(join(docs, "back", "slash.md"), "# Slash\n\nA file in a folder.\n");
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

function config(store: string, extra: EmbedConfigInput = {}): EmbedConfigInput {
  return { root: "docs", embedder: { dimensions: 16 }, store: { location: store }, ...extra };
}

describe.each([
  ["streaming", embedDocumentsStreaming],
  ["batch", embedDocuments],
] as const)("discovery problems in the %s workflow", (mode, embed) => {
  it("reports links out of the folder and name collisions, and keeps distinct names apart", async () => {
    const store = `out/${mode}.jsonl`;
    // An earlier run that followed every link stored the outside file under an inside path.
    const followed = await embed(config(store, { followSymlinks: true }), { cwd: root });
    expect(followed.errors.map((e) => [e.path, e.code])).toEqual([[NFD, "PATH_COLLISION"]]);
    expect((await dumpJsonlStore(join(root, store))).chunks.map((c) => c.path)).toContain(
      "passwd.md",
    );

    const summary = await embed(config(store), { cwd: root });
    expect(summary.errors).toEqual([
      {
        kind: "skipped",
        path: NFD,
        stage: "discover",
        code: "PATH_COLLISION",
        message: expect.stringContaining(JSON.stringify(NFC)),
      },
      {
        kind: "skipped",
        path: "passwd.md",
        stage: "discover",
        code: "OUTSIDE_ROOT",
        message: expect.stringContaining(join(root, "outside", "secret.md")),
      },
    ]);
    const dump = await dumpJsonlStore(join(root, store));
    const paths = [...new Set(dump.chunks.map((c) => c.path))].sort();
    expect(paths).toEqual(["back/slash.md", "back\\slash.md", NFC, "normal.md"].sort());
    expect(dump.chunks.find((c) => c.path === NFC)?.text).toMatch(/composed spelling/);
    expect(dump.chunks.some((c) => c.text.includes("zebra-password-42"))).toBe(false);
    expect(summary.removed).toBe(1);

    // Re-runs give the same answer: nothing flips between the two spellings.
    const again = await embed(config(store), { cwd: root });
    expect(again.errors.map((e) => [e.path, e.code])).toEqual(
      summary.errors.map((e) => [e.path, e.code]),
    );
    expect(again.unchanged).toBe(4);
  });
});
