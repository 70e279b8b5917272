// A folder holding every hostile input the embed workflow must survive, beside ordinary files:
// generated on demand by the tests that need it, never committed.
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { generateCorpus } from "../corpus/generate.ts";

/** A hostile file: where it goes, and the code the run must report it with. */
export interface HostileFile {
  readonly path: string;
  readonly code: string;
  /** Another code that is as right (a parse past its heap limit before its deadline). */
  readonly orCode?: string;
  readonly write: (path: string, outside: string) => Promise<void>;
}

/** Every hostile file of the folder, with its expected error code. */
export const HOSTILE_FILES: readonly HostileFile[] = [
  {
    // "Billion laughs": nine levels of nine aliases, about 600 bytes.
    path: "hostile/laughs.md",
    code: "FRONTMATTER_TOO_LARGE",
    write: (path) => {
      const lines = ["---", 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 9; i++) {
        const refs = Array.from({ length: 9 }, () => `*a${i - 1}`).join(",");
        lines.push(`a${i}: &a${i} [${refs}]`);
      }
      lines.push("---", "", "# Laughs", "", "Body text.");
      return writeFile(path, `${lines.join("\n")}\n`);
    },
  },
  {
    // The slowest markdown found for markdown-it: a table of 1 MB takes seconds and hundreds of
    // MB; past the deadline (or the worker's heap on the way there), the file is skipped.
    path: "hostile/table.md",
    code: "PARSE_TIMEOUT",
    orCode: "PARSE_TOO_LARGE",
    write: (path) => writeFile(path, `|a|b|\n|-|-|\n${"|x|y|\n".repeat(170_000)}`),
  },
  {
    path: "hostile/binary.md",
    code: "BINARY_FILE",
    write: (path) => writeFile(path, Buffer.from([0x23, 0x20, 0x00, 0x01, 0x02])),
  },
  {
    path: "hostile/latin1.md",
    code: "INVALID_UTF8",
    write: (path) => writeFile(path, Buffer.from([0x23, 0x20, 0xe9, 0x74, 0xe9, 0x0a])),
  },
  {
    path: "hostile/huge.md",
    code: "FILE_TOO_LARGE",
    write: (path) => writeFile(path, `# Huge\n\n${"word ".repeat(230_000)}\n`),
  },
  {
    // A link out of the folder: never embedded under an inside path.
    path: "hostile/passwd.md",
    code: "OUTSIDE_ROOT",
    write: (path, outside) => symlink(join(outside, "secret.md"), path),
  },
  {
    // The same name in NFD beside its NFC spelling: two files on Linux, one identity.
    path: "hostile/cafe\u0301.md",
    code: "PATH_COLLISION",
    write: (path) => writeFile(path, "# Café (NFD)\n\nThe decomposed spelling.\n"),
  },
];

/** Odd but ordinary files beside the hostile ones, which must all be stored. */
export const ODD_BUT_ORDINARY: readonly { path: string; text: string }[] = [
  // micromark's super-linear case (minutes at 100 KB); markdown-it parses it in a blink.
  { path: "hostile/emphasis.md", text: `# Emphasis\n\n${"*a_".repeat(33_000)}\n` },
  { path: "hostile/café.md", text: "# Café (NFC)\n\nThe composed spelling wins.\n" },
  { path: "hostile/back\\slash.md", text: "# Backslash\n\nA backslash in a file name.\n" },
  { path: "hostile/back/slash.md", text: "# Slash\n\nA file in a folder named back.\n" },
  { path: "hostile/\u001b[31mred.md", text: "# Red\n\nAn escape sequence in the name.\n" },
];

/** What only the file outside the folder says: must never be found in a store. */
export const OUTSIDE_SECRET = "root:x:0:0 must never be embedded";

/** Whether `code` is what the run must report `file` with. */
export function isExpectedCode(file: HostileFile, code: string | undefined): boolean {
  return code === file.code || (file.orCode !== undefined && code === file.orCode);
}

/**
 * Writes `normalFiles` generated documents, every hostile file and the odd but ordinary ones
 * under `root`, and the target of the outward link under `outside`. Resolves with the number of
 * files a run must store.
 */
export async function writeHostileFolder(
  root: string,
  outside: string,
  normalFiles: number,
): Promise<number> {
  await mkdir(outside, { recursive: true });
  await writeFile(join(outside, "secret.md"), `# Secret\n\n${OUTSIDE_SECRET}\n`);
  await generateCorpus(root, { files: normalFiles, seed: 5 });
  await mkdir(join(root, "hostile", "back"), { recursive: true });
  for (const file of HOSTILE_FILES) await file.write(join(root, file.path), outside);
  for (const file of ODD_BUT_ORDINARY) await writeFile(join(root, file.path), file.text);
  return normalFiles + ODD_BUT_ORDINARY.length;
}
