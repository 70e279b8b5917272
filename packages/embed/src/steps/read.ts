import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { open } from "node:fs/promises";
import type { DiscoveredFile } from "./discover.ts";
import { sha256Hex } from "./sha256.ts";

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

/** A file that was not read, and why. */
type ReadFailure = Extract<ReadResult, { ok: false }>;

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
  const read = await readCapped(file, maxFileBytes);
  return Buffer.isBuffer(read) ? decodeText(file, read, maxFileBytes) : read;
}

/** A file's bytes, unless it is not a regular file, is over the cap by its size, or fails. */
async function readCapped(
  file: DiscoveredFile,
  maxFileBytes: number,
): Promise<Buffer | ReadFailure> {
  try {
    const handle = await open(file.absolutePath, "r");
    try {
      return refusedByStat(file, await handle.stat(), maxFileBytes) ?? (await handle.readFile());
    } finally {
      await handle.close();
    }
  } catch (error) {
    return unreadable(file, error);
  }
}

/**
 * {@link readTextFile} with blocking I/O: for a worker thread that reads one file at a time,
 * where four asynchronous file operations per file cost more than the read itself.
 */
export function readTextFileSync(file: DiscoveredFile, options: ReadOptions = {}): ReadResult {
  const maxFileBytes = options.maxFileBytes ?? 1024 * 1024;
  let buffer: Buffer;
  try {
    const fd = openSync(file.absolutePath, "r");
    try {
      const refused = refusedByStat(file, fstatSync(fd), maxFileBytes);
      if (refused) return refused;
      buffer = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (error) {
    return unreadable(file, error);
  }
  return decodeText(file, buffer, maxFileBytes);
}

/** A file's raw bytes, or why they were not read (`too-large` or `unreadable` only). */
export type ReadBytesResult =
  | { readonly ok: true; readonly bytes: Buffer; readonly contentHash: string }
  | ReadFailure;

/**
 * Reads a file's raw bytes with {@link readTextFile}'s size cap and I/O checks (the same skips
 * and messages) and its content hash, without decoding: for a queue run's coordinator, which
 * ships the bytes to a worker that decodes them exactly as a single-process run would.
 */
export async function readFileBytes(
  file: DiscoveredFile,
  options: ReadOptions = {},
): Promise<ReadBytesResult> {
  const maxFileBytes = options.maxFileBytes ?? 1024 * 1024;
  const buffer = await readCapped(file, maxFileBytes);
  if (!Buffer.isBuffer(buffer)) return buffer;
  // The file may have grown between stat and read.
  if (buffer.length > maxFileBytes) return tooLarge(file, buffer.length, maxFileBytes);
  return {
    ok: true,
    bytes: buffer,
    contentHash: sha256Hex(buffer),
  };
}

function skip(file: DiscoveredFile, reason: ReadSkipReason, message: string): ReadFailure {
  return { ok: false, file, reason, message };
}

/** Why an opened file is not read at all (not a regular file, or too large), if it is not. */
function refusedByStat(
  file: DiscoveredFile,
  info: { isFile(): boolean; readonly size: number },
  maxFileBytes: number,
): ReadFailure | undefined {
  if (!info.isFile()) return skip(file, "unreadable", `not a regular file: ${file.relativePath}`);
  if (info.size > maxFileBytes) return tooLarge(file, info.size, maxFileBytes);
  return undefined;
}

function tooLarge(file: DiscoveredFile, bytes: number, maxFileBytes: number): ReadFailure {
  const message = `${file.relativePath} is ${bytes} bytes, over the limit of ${maxFileBytes}`;
  return skip(file, "too-large", message);
}

function unreadable(file: DiscoveredFile, error: unknown): ReadFailure {
  const code = (error as NodeJS.ErrnoException).code ?? "error";
  return skip(file, "unreadable", `cannot read ${file.relativePath}: ${code}`);
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

/** A file's bytes as text, or why they are not. */
function decodeText(file: DiscoveredFile, buffer: Buffer, maxFileBytes: number): ReadResult {
  // The file may have grown between stat and read.
  if (buffer.length > maxFileBytes) return tooLarge(file, buffer.length, maxFileBytes);
  const nul = buffer.indexOf(0);
  if (nul !== -1)
    return skip(file, "binary", `${file.relativePath} has a NUL byte at offset ${nul}`);

  let text: string;
  try {
    text = UTF8.decode(buffer);
  } catch {
    return skip(file, "invalid-utf8", `${file.relativePath} is not valid UTF-8`);
  }
  return {
    ok: true,
    file,
    // Every stage (frontmatter, markdown-it, the splitter) then counts lines the same way.
    text: text.replace(/\r\n?/g, "\n"),
    bytes: buffer.length,
    contentHash: sha256Hex(buffer),
  };
}
