import { describe, expect, it } from "vitest";
import { PendingFiles } from "./pending-files.ts";

const rec = (collection: string, path: string, id: string) => ({ collection, path, id });

describe("PendingFiles", () => {
  it("completes a file once all its chunks are stored, in completion order, each once", () => {
    const pending = new PendingFiles();
    pending.add({ collection: "/a", path: "x.md", ids: ["1", "2"] });
    pending.add({ collection: "/a", path: "y.md", ids: ["3"] });
    // The same path in another collection is another file.
    pending.add({ collection: "/b", path: "x.md", ids: ["1"] });
    const heard: string[] = [];
    const done = pending.stored(
      [
        rec("/a", "x.md", "1"),
        rec("/a", "y.md", "3"),
        rec("/a", "x.md", "1"),
        rec("/a", "x.md", "2"),
      ],
      (file) => heard.push(`${file.collection}${file.path}`),
    );
    expect(done.map((f) => `${f.collection}${f.path}`)).toEqual(["/ay.md", "/ax.md"]);
    // A chunk stored twice counts once; a completed file is no longer awaited.
    expect(heard).toEqual(["/ax.md", "/ay.md", "/ax.md"]);
    expect(pending.get("/a", "x.md")).toBeUndefined();
    expect(pending.stored([rec("/a", "x.md", "2")])).toEqual([]);
    expect(pending.get("/b", "x.md")?.ids).toEqual(["1"]);
  });

  it("ignores chunks of files it does not await, and forgets a deleted file", () => {
    const pending = new PendingFiles();
    pending.add({ collection: "/a", path: "x.md", ids: ["1"] });
    expect(pending.stored([rec("/a", "other.md", "1")])).toEqual([]);
    pending.delete("/a", "x.md");
    expect(pending.stored([rec("/a", "x.md", "1")])).toEqual([]);
  });
});
