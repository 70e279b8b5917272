import { sep } from "node:path";
import { sha256Bytes, sha256Hex } from "./sha256.ts";

/** Thrown for a path that cannot identify a file inside the corpus root. */
export class ChunkPathError extends Error {
  override readonly name = "ChunkPathError";
  constructor(
    readonly path: string,
    reason: string,
  ) {
    super(`invalid chunk path ${JSON.stringify(path)}: ${reason}`);
  }
}

/**
 * Normalizes a relative file path to the identity form used in ids and stores: POSIX
 * separators, Unicode NFC, no `./` segments or duplicate slashes. Absolute paths, empty paths and
 * paths leaving the root (`..`) are rejected, because they would not be stable across machines.
 * A backslash is a separator only where it is the platform's (Windows): on POSIX it is a name
 * character, and `back\\slash.md` is not `back/slash.md`.
 */
export function normalizeRelativePath(path: string): string {
  const posix = (sep === "\\" ? path.replace(/\\/g, "/") : path).normalize("NFC");
  if (posix.startsWith("/") || /^[A-Za-z]:\//.test(posix)) {
    throw new ChunkPathError(path, "must be relative to the corpus root");
  }
  const parts = posix.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) throw new ChunkPathError(path, "must not leave the corpus root");
  if (parts.length === 0) throw new ChunkPathError(path, "is empty");
  return parts.join("/");
}

/** What identifies a chunk. */
export interface ChunkIdInput {
  /**
   * The collection (root) the file belongs to, when a store holds several: the same file and text
   * in two collections then get two ids. Omitted, the id depends on path, ordinal and text only.
   */
  readonly collection?: string;
  /** Relative path of the file; normalized before hashing. */
  readonly path: string;
  /** 0-based position of the chunk in its file. */
  readonly ordinal: number;
  /** The chunk's text (hashed) — or pass `contentHash` if already computed. */
  readonly text?: string;
  readonly contentHash?: string;
}

/**
 * A deterministic chunk id: 32 hex characters of sha256 over the normalized path, the ordinal
 * and the content hash (and the collection, when given). Unchanged content at the same place keeps its id across runs, so
 * upserts are idempotent; the same text elsewhere (another file or position) gets another id.
 */
export function chunkId(input: ChunkIdInput): string {
  if (!Number.isInteger(input.ordinal) || input.ordinal < 0) {
    throw new RangeError(`chunk ordinal must be a non-negative integer, got ${input.ordinal}`);
  }
  const contentHash =
    input.contentHash ?? (input.text === undefined ? undefined : sha256Hex(input.text));
  if (contentHash === undefined)
    throw new TypeError("chunkId needs the chunk's text or contentHash");
  const path = normalizeRelativePath(input.path);
  // NUL cannot occur in a path, so the fields cannot run into each other ambiguously. The first
  // 16 bytes of the digest as hex are the first 32 hex characters of `sha256Hex`, as a string of
  // their own: a slice of the 64-character hex would keep all of it alive for as long as the id.
  const scope = input.collection === undefined ? "" : `${input.collection}\u0000\u0000`;
  return sha256Bytes(`${scope}${path}\u0000${input.ordinal}\u0000${contentHash}`).toString(
    "hex",
    0,
    16,
  );
}
