import { mkdtemp, open, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BufferedWriter, LineReader, scanLines } from "./jsonl-file.ts";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-jsonl-file-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

let counter = 0;
async function withFile<T>(content: string | Buffer, use: (path: string) => Promise<T>) {
  counter += 1;
  const path = join(dir, `f${counter}.txt`);
  await writeFile(path, content);
  return use(path);
}

async function scan(path: string, chunkBytes: number, end?: number) {
  const handle = await open(path, "r");
  try {
    const size = end ?? (await handle.stat()).size;
    const lines = [];
    for await (const line of scanLines(handle, size, chunkBytes)) lines.push(line);
    return lines;
  } finally {
    await handle.close();
  }
}

describe("scanLines", () => {
  it("yields whole lines with exact byte positions, whatever the read size", async () => {
    // Multi-byte characters, an empty line, a \r\n line and a line longer than a read.
    const content = `é1\n\nthree 日本語\r\n${"x".repeat(50)}\nlast\n`;
    await withFile(content, async (path) => {
      const bytes = await readFile(path);
      for (const chunkBytes of [1, 2, 3, 7, 64, 1 << 20]) {
        const lines = await scan(path, chunkBytes);
        expect(lines.map((l) => l.text)).toEqual([
          "é1",
          "",
          "three 日本語\r",
          "x".repeat(50),
          "last",
        ]);
        for (const line of lines) {
          expect(bytes.subarray(line.offset, line.offset + line.length).toString("utf8")).toBe(
            line.text,
          );
          expect(bytes[line.offset + line.length]).toBe(0x0a);
        }
      }
    });
  });

  it("leaves out a last line without its newline, and stops at `end`", async () => {
    await withFile("one\ntwo\nthr", async (path) => {
      expect((await scan(path, 4)).map((l) => l.text)).toEqual(["one", "two"]);
      expect((await scan(path, 4, 5)).map((l) => l.text)).toEqual(["one"]);
    });
    await withFile("", async (path) => {
      expect(await scan(path, 4)).toEqual([]);
    });
  });

  it("agrees with splitting the decoded text, for any text and read size", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ unit: "grapheme", maxLength: 12 }), { maxLength: 12 }),
        fc.integer({ min: 1, max: 40 }),
        async (parts, chunkBytes) => {
          const text = parts.map((p) => `${p.replace(/\n/g, "")}\n`).join("");
          await withFile(text, async (path) => {
            const lines = await scan(path, chunkBytes);
            expect(lines.map((l) => l.text)).toEqual(text.split("\n").slice(0, -1));
          });
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe("LineReader", () => {
  it("reads ranges in any order, across and beyond its window", async () => {
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i} ${"y".repeat(i % 7)}`);
    await withFile(`${lines.join("\n")}\n`, async (path) => {
      const scanned = await scan(path, 1 << 20);
      const handle = await open(path, "r");
      try {
        for (const window of [1, 8, 30, 1 << 20]) {
          const reader = new LineReader(handle, window);
          const order = [...scanned.keys()];
          // Forward, backward and scattered.
          for (const i of [...order, ...order.reverse(), 5, 33, 2, 39, 0, 17]) {
            const line = scanned[i];
            if (line === undefined) continue;
            const bytes = await reader.read(line.offset, line.length);
            expect(bytes.toString("utf8")).toBe(lines[i]);
          }
        }
        await expect(new LineReader(handle, 16).read(10_000, 5)).rejects.toThrow(RangeError);
      } finally {
        await handle.close();
      }
    });
  });
});

describe("BufferedWriter", () => {
  it("writes everything, in order, in large pieces", async () => {
    const path = join(dir, "written.txt");
    const handle = await open(path, "w");
    try {
      const writer = new BufferedWriter(handle, 10);
      const parts = Array.from({ length: 30 }, (_, i) => `part ${i};`);
      for (const [i, part] of parts.entries()) {
        await writer.write(i % 2 === 0 ? part : Buffer.from(part));
      }
      await writer.flush();
      await writer.flush();
      expect(await readFile(path, "utf8")).toBe(parts.join(""));
    } finally {
      await handle.close();
    }
  });
});
