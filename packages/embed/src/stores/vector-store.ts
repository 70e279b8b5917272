import type { StoreKind } from "../config.ts";
import type { JsonObject } from "../json-value.ts";

/** One embedded chunk as stored. */
export interface ChunkRecord {
  /** From `chunkId`: stable for unchanged content, so writing it again replaces, never duplicates. */
  readonly id: string;
  /** Normalized relative path of the source file. */
  readonly path: string;
  /** 0-based position in the file. */
  readonly ordinal: number;
  readonly text: string;
  /** 1-based file lines the chunk comes from. */
  readonly startLine: number;
  readonly endLine: number;
  /** Frontmatter fields, tags, headings: anything JSON. */
  readonly metadata: JsonObject;
  readonly vector: readonly number[];
}

/** A search result: a chunk without its vector, with its cosine similarity to the query. */
export interface SearchHit {
  readonly id: string;
  readonly path: string;
  readonly ordinal: number;
  readonly text: string;
  readonly startLine: number;
  readonly endLine: number;
  readonly metadata: JsonObject;
  /** Cosine similarity in [-1, 1]; higher is closer. */
  readonly score: number;
}

/** Counts and identity of a store. */
export interface StoreStats {
  readonly chunks: number;
  /** Files committed with a content hash. */
  readonly files: number;
  readonly dimensions: number;
  readonly embedderId: string;
}

/** Which embedder's vectors a store holds; checked when a store is opened. */
export interface StoreIdentity {
  readonly embedderId: string;
  readonly dimensions: number;
}

/**
 * Where chunks and their vectors live, built for incremental runs:
 *
 * - `upsert` writes chunks, idempotent by id (a re-run writing the same chunks changes nothing);
 * - `commitFile` records a file's hash once all its chunks are written, and drops that file's chunks
 *   from an earlier version that are not among the new ids; a run that dies before the commit
 *   leaves the old hash, so the next run embeds the file again;
 * - `fileHashes` tells the next run which files are unchanged (nothing to embed), changed or new;
 * - `deleteByPath` removes a file that is gone, chunks and hash.
 */
export interface VectorStore {
  readonly kind: StoreKind;
  readonly dimensions: number;
  upsert(records: readonly ChunkRecord[]): Promise<void>;
  commitFile(path: string, fileHash: string, chunkIds: readonly string[]): Promise<void>;
  deleteByPath(path: string): Promise<void>;
  /** Committed files and their hashes. */
  fileHashes(): Promise<Map<string, string>>;
  /** Every path with a committed hash or any chunk, sorted. */
  listPaths(): Promise<string[]>;
  /** The `k` chunks most similar to `vector` by cosine similarity, best first. */
  search(vector: readonly number[], k: number): Promise<SearchHit[]>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}

/** Why a store refused an operation. */
export type VectorStoreErrorCode =
  | "identity-mismatch"
  | "invalid-record"
  | "invalid-argument"
  | "missing-chunks"
  | "corrupt"
  | "unavailable"
  | "closed";

/** A store operation that cannot proceed; `code` says why. */
export class VectorStoreError extends Error {
  override readonly name = "VectorStoreError";
  constructor(
    readonly code: VectorStoreErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Rejects records a store could not hold faithfully, naming the record and the field. */
export function validateRecords(records: readonly ChunkRecord[], dimensions: number): void {
  for (const record of records) {
    const where = `chunk ${JSON.stringify(record.id)} of ${JSON.stringify(record.path)}`;
    const fail = (message: string) => {
      throw new VectorStoreError("invalid-record", `${where}: ${message}`);
    };
    if (typeof record.id !== "string" || record.id === "") fail("id must be a non-empty string");
    if (typeof record.path !== "string" || record.path === "")
      fail("path must be a non-empty string");
    if (!Number.isInteger(record.ordinal) || record.ordinal < 0)
      fail(`ordinal ${record.ordinal} is not a non-negative integer`);
    if (
      !Number.isInteger(record.startLine) ||
      record.startLine < 1 ||
      record.endLine < record.startLine
    ) {
      fail(`line range ${record.startLine}-${record.endLine} is invalid`);
    }
    if (record.vector.length !== dimensions) {
      fail(`vector has ${record.vector.length} dimensions, the store has ${dimensions}`);
    }
    if (!record.vector.every(Number.isFinite)) fail("vector has a non-finite number");
  }
}

/** Checks a query vector and `k` for `search`. */
export function validateQuery(vector: readonly number[], k: number, dimensions: number): void {
  if (vector.length !== dimensions) {
    throw new VectorStoreError(
      "invalid-argument",
      `query vector has ${vector.length} dimensions, the store has ${dimensions}`,
    );
  }
  if (!vector.every(Number.isFinite)) {
    throw new VectorStoreError("invalid-argument", "query vector has a non-finite number");
  }
  if (!Number.isInteger(k) || k < 1) {
    throw new VectorStoreError("invalid-argument", `k must be a positive integer, got ${k}`);
  }
}

/** Keeps the last record per id: a batch naming an id twice would fail an SQL upsert. */
export function lastById(records: readonly ChunkRecord[]): ChunkRecord[] {
  const byId = new Map<string, ChunkRecord>();
  for (const record of records) {
    byId.delete(record.id);
    byId.set(record.id, record);
  }
  return [...byId.values()];
}
