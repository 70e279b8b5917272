import { createHash } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DiscoveredFile } from "./discover.ts";
import { readTextFile as readAsync, readTextFileSync } from "./read.ts";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-read-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function fileWith(name: string, content: string | Uint8Array): Promise<DiscoveredFile> {
  const absolutePath = join(root, name);
  await writeFile(absolutePath, content);
  return { absolutePath, relativePath: name };
}

// Both readers give the same results: the async one for the main thread, the sync one for
// worker threads.
describe.each([
  ["readTextFile", readAsync],
  [
    "readTextFileSync",
    (f: DiscoveredFile, o?: { maxFileBytes?: number }) => Promise.resolve(readTextFileSync(f, o)),
  ],
] as const)("%s", (_name, readTextFile) => {
  it("reads UTF-8, strips the BOM, normalizes line endings and hashes the raw bytes", async () => {
    const raw = "\uFEFF# Héllo\r\nwörld\rend\n";
    const file = await fileWith("ok.md", raw);
    const result = await readTextFile(file);
    expect(result).toEqual({
      ok: true,
      file,
      text: "# Héllo\nwörld\nend\n",
      bytes: Buffer.byteLength(raw),
      contentHash: createHash("sha256").update(raw).digest("hex"),
    });
  });

  it("skips a file over the size limit", async () => {
    const file = await fileWith("big.md", "x".repeat(101));
    const result = await readTextFile(file, { maxFileBytes: 100 });
    expect(result).toMatchObject({ ok: false, reason: "too-large" });
    expect(result.ok || result.message).toContain("101 bytes");
    expect((await readTextFile(file, { maxFileBytes: 101 })).ok).toBe(true);
  });

  it("skips a binary file", async () => {
    const file = await fileWith("img.md", new Uint8Array([0x89, 0x50, 0x00, 0x47]));
    expect(await readTextFile(file)).toMatchObject({ ok: false, reason: "binary", file });
  });

  it("skips invalid UTF-8", async () => {
    const file = await fileWith("latin1.md", new Uint8Array([0x63, 0x61, 0x66, 0xe9, 0x0a]));
    expect(await readTextFile(file)).toMatchObject({ ok: false, reason: "invalid-utf8" });
  });

  it("reports a missing file, a folder and an unreadable file as unreadable", async () => {
    const missing = { absolutePath: join(root, "gone.md"), relativePath: "gone.md" };
    const result = await readTextFile(missing);
    expect(result).toMatchObject({ ok: false, reason: "unreadable" });
    expect(result.ok || result.message).toContain("ENOENT");

    await mkdir(join(root, "dir.md"), { recursive: true });
    const dir = { absolutePath: join(root, "dir.md"), relativePath: "dir.md" };
    expect(await readTextFile(dir)).toMatchObject({ ok: false, reason: "unreadable" });

    if (process.getuid?.() !== 0) {
      const locked = await fileWith("locked.md", "secret");
      await chmod(locked.absolutePath, 0o000);
      expect(await readTextFile(locked)).toMatchObject({ ok: false, reason: "unreadable" });
    }
  });
});
