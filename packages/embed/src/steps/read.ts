import { createHash } from "node:crypto";
import { open } from "node:fs/promises";
import type { DiscoveredFile } from "./discover.ts";

/** Why a file was skipped instead of read. */
export type ReadSkipReason = "too-large" | "binary" | "invalid-utf8" | "unreadable";

/** A file read as text, or skipped with a typed reason. */
export type ReadResult =
  | {
      readonly ok: true;
      readonly file: DiscoveredFile;
      /** UTF-8 text without a byte-order mark, line endings normalized to `\n`. */
      readonly text: string;
      /** Size on disk in bytes. */
      readonly bytes: number;
      /** sha256 (hex) of the raw bytes: detects changed files in incremental runs. */
      readonly contentHash: string;
    }
  | {
      readonly ok: false;
      readonly file: DiscoveredFile;
      readonly reason: ReadSkipReason;
      readonly message: string;
    };

/** Options of {@link readTextFile}. */
export interface ReadOptions {
  /** Larger files are skipped as `too-large`; default 1 MiB. */
  readonly maxFileBytes?: number;
}

/**
 * Reads a file as UTF-8 text. Oversized files (checked before reading), binary files (a NUL
 * byte), invalid UTF-8 and I/O failures come back as `{ ok: false, reason }` rather than throwing,
 * so one bad file never stops a run.
 */
export async function readTextFile(
  file: DiscoveredFile,
  options: ReadOptions = {},
): Promise<ReadResult> {
  const maxFileBytes = options.maxFileBytes ?? 1024 * 1024;
  const skip = (reason: ReadSkipReason, message: string): ReadResult => ({
    ok: false,
    file,
    reason,
    message,
  });

  let buffer: Buffer;
  try {
    const handle = await open(file.absolutePath, "r");
    try {
      const info = await handle.stat();
      if (!info.isFile()) return skip("unreadable", `not a regular file: ${file.relativePath}`);
      if (info.size > maxFileBytes) {
        return skip(
          "too-large",
          `${file.relativePath} is ${info.size} bytes, over the limit of ${maxFileBytes}`,
        );
      }
      buffer = await handle.readFile();
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    return skip("unreadable", `cannot read ${file.relativePath}: ${code}`);
  }
  // The file may have grown between stat and read.
  if (buffer.length > maxFileBytes) {
    return skip(
      "too-large",
      `${file.relativePath} is ${buffer.length} bytes, over the limit of ${maxFileBytes}`,
    );
  }
  const nul = buffer.indexOf(0);
  if (nul !== -1) return skip("binary", `${file.relativePath} has a NUL byte at offset ${nul}`);

  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(buffer);
  } catch {
    return skip("invalid-utf8", `${file.relativePath} is not valid UTF-8`);
  }
  return {
    ok: true,
    file,
    // remark counts \r\n, \r and \n each as one line ending, so this keeps line numbers intact.
    text: text.replace(/\r\n?/g, "\n"),
    bytes: buffer.length,
    contentHash: createHash("sha256").update(buffer).digest("hex"),
  };
}
