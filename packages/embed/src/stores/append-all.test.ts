import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { appendAll } from "./append-all.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "sluice-append-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const pieces = ["alpha\n", "", "β-two\n", "x".repeat(5000), "\n", "end\n"].map((t) =>
  Buffer.from(t),
);

describe("appendAll", () => {
  it("appends every buffer in order after what the file holds", async () => {
    const path = join(dir, "f.jsonl");
    const handle = await open(path, "a");
    try {
      await appendAll(handle, [Buffer.from("head\n")]);
      await appendAll(handle, pieces);
      await appendAll(handle, []);
      await appendAll(handle, [Buffer.alloc(0), Buffer.alloc(0)]);
    } finally {
      await handle.close();
    }
    expect(await readFile(path, "utf8")).toBe(`head\n${Buffer.concat(pieces).toString()}`);
  });

  it("goes on after partial writes, wherever they stop", async () => {
    for (const cap of [1, 3, 6, 7, 4999, 5006]) {
      const path = join(dir, `cap-${cap}.jsonl`);
      const handle = await open(path, "a");
      let calls = 0;
      // The real file and writes, each stopped after `cap` bytes as a kernel may.
      const capped = new Proxy(handle, {
        get(target, key) {
          if (key !== "writev") return Reflect.get(target, key, target);
          return async (buffers: Buffer[]) => {
            calls++;
            const part = Buffer.concat(buffers).subarray(0, cap);
            const { bytesWritten } = await target.write(part);
            return { bytesWritten, buffers };
          };
        },
      });
      try {
        await appendAll(capped, pieces);
      } finally {
        await handle.close();
      }
      const total = Buffer.concat(pieces);
      expect(await readFile(path)).toEqual(total);
      expect(calls).toBe(Math.ceil(total.length / cap));
    }
  });

  it("fails instead of looping when a write takes no byte", async () => {
    const handle = await open(join(dir, "zero"), "a");
    const stuck = new Proxy(handle, {
      get: (target, key) =>
        key === "writev"
          ? async (buffers: Buffer[]) => ({ bytesWritten: 0, buffers })
          : Reflect.get(target, key, target),
    });
    try {
      await expect(appendAll(stuck, pieces)).rejects.toThrow(/no byte/);
    } finally {
      await handle.close();
    }
  });
});
