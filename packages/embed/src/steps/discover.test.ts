import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { worldReadableCopy } from "../testing/world-readable-copy.ts";
import {
  DiscoverError,
  discoverFiles,
  discoverFilesIncrementally,
  relativeFilePath,
  toPosixRelativePath,
} from "./discover.ts";

async function collect(options: Parameters<typeof discoverFilesIncrementally>[0]) {
  const files = [];
  for await (const file of discoverFilesIncrementally(options)) files.push(file);
  return files;
}

let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), "sluice-discover-"));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

async function touch(path: string, text = "x"): Promise<void> {
  await mkdir(join(root, path, ".."), { recursive: true });
  await writeFile(join(root, path), text);
}

describe("discoverFiles", () => {
  it("finds matching files in sorted relative POSIX order and skips ignored folders", async () => {
    for (const path of [
      "b.md",
      "a/z.md",
      "a/b/c.md",
      "A.md",
      "notes.txt",
      "node_modules/pkg/readme.md",
      ".git/x.md",
      "docs/node_modules/y.md",
    ]) {
      await touch(path);
    }
    const files = await discoverFiles({ root });
    expect(files.map((f) => f.relativePath)).toEqual(["A.md", "a/b/c.md", "a/z.md", "b.md"]);
    expect(files[1]?.absolutePath).toBe(join(root, "a", "b", "c.md"));
  });

  it("honours a custom pattern and ignore list", async () => {
    await touch("keep/one.markdown");
    await touch("keep/two.md");
    await touch("drop/three.md");
    const files = await discoverFiles({
      root,
      pattern: ["**/*.md", "**/*.markdown"],
      ignore: ["drop/**"],
    });
    expect(files.map((f) => f.relativePath)).toEqual(["keep/one.markdown", "keep/two.md"]);
  });

  it("terminates on a symlink loop and reports each real file once", async () => {
    await touch("a/b/f.md");
    await touch("top.md");
    await symlink("..", join(root, "a", "b", "up"));
    await symlink(join(root, "a"), join(root, "a", "b", "again"));
    const files = await discoverFiles({ root });
    expect(files.map((f) => f.relativePath)).toEqual(["a/b/f.md", "top.md"]);
  });

  it("reports a file reached through links to it or to its folder once, under its real path", async () => {
    await touch("a/real.md");
    await touch("z/deep/f.md");
    await mkdir(join(root, "links"));
    await symlink("../a/real.md", join(root, "links", "link.md"));
    await symlink("../a/real.md", join(root, "0first.md"));
    await symlink(join(root, "z"), join(root, "links", "zdir"));
    const files = await discoverFiles({ root, pattern: "**/*" });
    expect(files.map((f) => f.relativePath)).toEqual(["a/real.md", "z/deep/f.md"]);
  });

  it("follows a link to a folder outside the root only when told to", async () => {
    const outside = await mkdtemp(join(tmpdir(), "sluice-outside-"));
    try {
      await writeFile(join(outside, "ext.md"), "x");
      await symlink(outside, join(root, "linked"));
      await touch("inside.md");
      const followed = await discoverFiles({ root, symlinks: "follow" });
      expect(followed.map((f) => f.relativePath)).toEqual(["inside.md", "linked/ext.md"]);
      // By default the folder is not crawled, and the link is reported.
      for (const files of [await discoverFiles({ root }), await collect({ root })]) {
        expect(files).toEqual([
          { absolutePath: join(root, "inside.md"), relativePath: "inside.md" },
          {
            absolutePath: join(root, "linked"),
            relativePath: "linked",
            problem: {
              kind: "skipped",
              code: "OUTSIDE_ROOT",
              message: expect.stringContaining(outside),
            },
          },
        ]);
      }
      const notFollowed = await discoverFiles({ root, followSymbolicLinks: false });
      expect(notFollowed.map((f) => f.relativePath)).toEqual(["inside.md"]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("reports links to files outside the root instead of listing them as inside files", async () => {
    const outside = await mkdtemp(join(tmpdir(), "sluice-outside-"));
    try {
      await writeFile(join(outside, "secret.md"), "secret");
      await touch("a/real.md");
      await symlink(join(outside, "secret.md"), join(root, "passwd.md"));
      await symlink("/etc/passwd", join(root, "a", "etc.md"));
      // A link inside the root still counts once, under the real path.
      await symlink("real.md", join(root, "a", "same.md"));
      const expected = [
        {
          absolutePath: join(root, "a", "etc.md"),
          relativePath: "a/etc.md",
          problem: {
            kind: "skipped",
            code: "OUTSIDE_ROOT",
            message: expect.stringContaining("/etc/passwd"),
          },
        },
        { absolutePath: join(root, "a", "real.md"), relativePath: "a/real.md" },
        {
          absolutePath: join(root, "passwd.md"),
          relativePath: "passwd.md",
          problem: {
            kind: "skipped",
            code: "OUTSIDE_ROOT",
            message: expect.stringContaining(join(outside, "secret.md")),
          },
        },
      ];
      expect(await discoverFiles({ root })).toEqual(expected);
      expect(await collect({ root })).toEqual(expected);
      const followed = await discoverFiles({ root, symlinks: "follow" });
      expect(followed.map((f) => [f.relativePath, f.problem])).toEqual([
        ["a/etc.md", undefined],
        ["a/real.md", undefined],
        ["passwd.md", undefined],
      ]);
    } finally {
      await rm(outside, { recursive: true, force: true });
    }
  });

  it("never walks a link to / or to a folder above the root", async () => {
    await touch("sub/doc.md");
    await symlink("/", join(root, "sub", "everything"));
    await symlink("../..", join(root, "up"));
    const files = await discoverFiles({ root });
    expect(files.map((f) => [f.relativePath, f.problem?.code])).toEqual([
      ["sub/doc.md", undefined],
      ["sub/everything", "OUTSIDE_ROOT"],
      ["up", "OUTSIDE_ROOT"],
    ]);
    expect(await collect({ root })).toEqual(files);
  });

  it("keeps a backslash in a name as a name character, apart from a folder of that name", async () => {
    await touch("back\\slash.md", "one");
    await touch("back/slash.md", "two");
    const files = await discoverFiles({ root });
    expect(files).toEqual([
      { absolutePath: join(root, "back", "slash.md"), relativePath: "back/slash.md" },
      { absolutePath: join(root, "back\\slash.md"), relativePath: "back\\slash.md" },
    ]);
  });

  it("reports a second Unicode spelling of a name as a collision, the NFC spelling winning", async () => {
    const nfc = "caf\u00e9.md";
    const nfd = "cafe\u0301.md";
    await touch(`d/${nfd}`, "decomposed");
    await touch(`d/${nfc}`, "composed");
    await touch(`solo/${nfd}`, "alone");
    // In code-unit order, "e\u0301" comes before "\u00e9".
    const expected = [
      {
        absolutePath: join(root, "d", nfd),
        relativePath: `d/${nfd}`,
        problem: {
          kind: "skipped",
          code: "PATH_COLLISION",
          message: expect.stringContaining(`${JSON.stringify(`d/${nfc}`)} is embedded`),
        },
      },
      { absolutePath: join(root, "d", nfc), relativePath: `d/${nfc}` },
      // Alone, a decomposed name is simply stored under its NFC form.
      { absolutePath: join(root, "solo", nfd), relativePath: `solo/${nfc}` },
    ];
    for (let run = 0; run < 3; run++) {
      expect(await discoverFiles({ root })).toEqual(expected);
      expect(await collect({ root })).toEqual(expected);
    }
  });

  it("reports a folder it cannot list as a failed UNREADABLE_FOLDER entry", async () => {
    await touch("ok/a.md");
    await touch("locked/inner/b.md");
    await touch("top.md");
    await chmod(root, 0o755);
    await chmod(join(root, "locked"), 0o000);
    // Root may list any folder, so discovery runs in a child process as `nobody` (65534) when the
    // tests run as root; otherwise as the same user, for whom mode 000 already locks the folder.
    // The child runs a world-readable copy: `nobody` cannot reach into a checkout that sits in a
    // private folder.
    const discover = new URL("./discover.ts", import.meta.url);
    const copy = await worldReadableCopy({ entries: [discover] });
    let stdout: string;
    try {
      const script = `
        const { discoverFiles, discoverFilesIncrementally } = await import(${JSON.stringify(copy.url(discover))});
        const root = ${JSON.stringify(root)};
        const incremental = [];
        for await (const file of discoverFilesIncrementally({ root })) incremental.push(file);
        console.log(JSON.stringify({ all: await discoverFiles({ root }), incremental }));
      `;
      const asNobody = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};
      ({ stdout } = await promisify(execFile)(
        process.execPath,
        ["--import", "tsx", "--input-type=module", "-e", script],
        {
          cwd: copy.path(new URL("../..", import.meta.url)),
          env: copy.env,
          timeout: 60_000,
          ...asNobody,
        },
      ));
    } finally {
      await copy.remove();
    }
    const { all, incremental } = JSON.parse(stdout) as { all: unknown; incremental: unknown };
    expect(all).toEqual([
      {
        absolutePath: join(root, "locked"),
        relativePath: "locked",
        problem: {
          kind: "failed",
          code: "UNREADABLE_FOLDER",
          message: expect.stringMatching(/locked: EACCES/),
        },
      },
      { absolutePath: join(root, "ok", "a.md"), relativePath: "ok/a.md" },
      { absolutePath: join(root, "top.md"), relativePath: "top.md" },
    ]);
    expect(incremental).toEqual(all);
  }, 60_000);

  it("is deterministic across calls", async () => {
    for (let i = 0; i < 30; i++) await touch(`d${i % 4}/f${(i * 7) % 30}.md`);
    const first = await discoverFiles({ root });
    const second = await discoverFiles({ root });
    expect(second).toEqual(first);
    expect(first).toHaveLength(30);
  });

  it("throws a typed error for a missing or non-folder root", async () => {
    await expect(discoverFiles({ root: join(root, "nope") })).rejects.toMatchObject({
      name: "DiscoverError",
      code: "root-not-found",
    });
    await touch("file.md");
    const error = await discoverFiles({ root: join(root, "file.md") }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DiscoverError);
    expect((error as DiscoverError).code).toBe("root-not-directory");
  });
});

describe("discoverFilesIncrementally", () => {
  it("gives what discoverFiles gives, in the same order, with or without links", async () => {
    for (let i = 0; i < 12; i++) await touch(`d${i % 3}/f${i}.md`);
    let listed = -1;
    const plain = await collect({ root, onListed: (n) => (listed = n) });
    expect(plain).toEqual(await discoverFiles({ root }));
    expect(listed).toBe(12);

    // Links in the middle of the order: what comes before them is given at once, the rest after
    // every real path is known; duplicates through links still go.
    await symlink(join(root, "d0"), join(root, "d1", "again"));
    await symlink(join(root, "d2", "f2.md"), join(root, "d1", "z-link.md"));
    await touch("e/last.md");
    for (const options of [{}, { pattern: "**/*" }, { followSymbolicLinks: false }]) {
      const expected = await discoverFiles({ root, ...options });
      expect(await collect({ root, ...options })).toEqual(expected);
    }
    expect((await collect({ root })).map((f) => f.relativePath)).toContain("e/last.md");
  });

  it("can be pulled one file at a time, in order", async () => {
    for (let i = 0; i < 300; i++) await touch(`g${String(i % 30).padStart(2, "0")}/f${i}.md`);
    const files = discoverFilesIncrementally({ root });
    const first = await files.next();
    expect(first.value?.relativePath).toBe("g00/f0.md");
    const rest = [];
    for await (const file of files) rest.push(file.relativePath);
    expect(rest).toHaveLength(299);
  });

  it("reports a missing root on the first pull", async () => {
    await expect(collect({ root: join(root, "nope") })).rejects.toMatchObject({
      code: "root-not-found",
    });
  });
});

describe("path helpers", () => {
  it("normalizes to NFC POSIX paths", () => {
    expect(toPosixRelativePath("cafe\u0301/x.md")).toBe("caf\u00e9/x.md");
    expect(toPosixRelativePath("plain/ascii name.md")).toBe("plain/ascii name.md");
    // On POSIX a backslash is a name character, not a separator.
    expect(toPosixRelativePath("back\\slash.md")).toBe("back\\slash.md");
    expect(relativeFilePath("/r", "/r/a/b.md")).toBe("a/b.md");
  });
});
