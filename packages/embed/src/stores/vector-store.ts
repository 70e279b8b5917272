import type { StoreKind } from "../config.ts";
import type { JsonObject } from "../json-value.ts";

/**
 * The folder a chunk came from, as the store keys it: the embedded root's real path (absolute,
 * POSIX separators), or a name given with `--collection`. Embedding one collection never touches
 * another's chunks.
 */
export type Collection = string;

/** One embedded chunk as stored. */
export interface ChunkRecord {
  /** From `chunkId`: stable for unchanged content, so writing it again replaces, never duplicates. */
  readonly id: string;
  /** The collection (root) the file belongs to. */
  readonly collection: Collection;
  /** Normalized path of the source file, relative to its collection's root. */
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

/** How a search ranks: by vector similarity, by words (BM25), or both fused. */
export type SearchMode = "vector" | "lexical" | "hybrid";

/** One ranking signal that matched a hit: its 1-based rank in that ranking and its raw score. */
export interface SignalMatch {
  readonly rank: number;
  /** Cosine similarity for `vector` (higher is closer), BM25 relevance for `lexical` (higher is better). */
  readonly score: number;
}

/** A search result: a chunk without its vector, with how it ranked. */
export interface SearchHit {
  readonly id: string;
  readonly collection: Collection;
  readonly path: string;
  readonly ordinal: number;
  readonly text: string;
  readonly startLine: number;
  readonly endLine: number;
  readonly metadata: JsonObject;
  /**
   * The ranking score, higher is better: cosine similarity in `vector` mode, BM25 in `lexical`
   * mode, the reciprocal-rank-fusion score in `hybrid` mode.
   */
  readonly score: number;
  /** The signals that found this chunk; a hybrid hit found by both has both. */
  readonly signals: { readonly vector?: SignalMatch; readonly lexical?: SignalMatch };
}

/** What to search for. */
export interface SearchQuery {
  /** The query's embedding; needed for `vector` and `hybrid`. */
  readonly vector?: readonly number[];
  /** The query's text; needed for `lexical` and `hybrid`. */
  readonly text?: string;
  /** How many hits at most. */
  readonly k: number;
  /** Default `"hybrid"`. */
  readonly mode?: SearchMode;
  /** Only chunks of this collection; default every collection. */
  readonly collection?: Collection;
}

/** Counts and identity of a store. */
export interface StoreStats {
  readonly chunks: number;
  /** Files committed with a content hash, over every collection. */
  readonly files: number;
  readonly collections: number;
  readonly dimensions: number;
  readonly embedderId: string;
}

/** One collection in a store, with its counts. */
export interface CollectionInfo {
  readonly collection: Collection;
  readonly files: number;
  readonly chunks: number;
}

/**
 * Which embedder's vectors a store holds: written when the store is created, checked when a
 * writer opens it, and read back so `search` and `stats` need no embedder flags.
 */
export interface StoreIdentity {
  readonly embedderId: string;
  readonly dimensions: number;
  /**
   * The embedder's settings (kind, model, baseUrl, modelPath, pooling, dtype, endOfTextToken),
   * enough to build the same embedder again; never a secret such as an API key.
   */
  readonly embedder?: JsonObject;
}

/**
 * Where chunks and their vectors live, built for incremental runs:
 *
 * - `upsert` writes chunks, idempotent by id (a re-run writing the same chunks changes nothing);
 * - `commitFile` records a file's hash once all its chunks are written, and drops that file's chunks
 *   from an earlier version that are not among the new ids; a run that dies before the commit
 *   leaves the old hash, so the next run embeds the file again;
 * - `fileHashes` tells the next run which files of its collection are unchanged, changed or new;
 * - `deleteFile` removes a file that is gone, chunks and hash; `deleteCollection` a whole root.
 *
 * Every method that takes a collection touches that collection only. A store opened read-only
 * (`readOnly`) answers `search`, `stats`, `collections`, `fileHashes` and `listPaths`, writes
 * nothing (not even on close), and rejects the writing methods with code `read-only`. A store
 * opened for writing holds the store's writer lock until `close()`.
 */
export interface VectorStore {
  readonly kind: StoreKind;
  readonly dimensions: number;
  readonly readOnly: boolean;
  /** The identity the store records (for a new store, the one it was created with). */
  readonly identity: StoreIdentity;
  upsert(records: readonly ChunkRecord[]): Promise<void>;
  commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): Promise<void>;
  deleteFile(collection: Collection, path: string): Promise<void>;
  /** Removes every chunk and file of a collection; resolves with the number of files removed. */
  deleteCollection(collection: Collection): Promise<number>;
  /** Committed files of a collection and their hashes. */
  fileHashes(collection: Collection): Promise<Map<string, string>>;
  /** Every path of a collection with a committed hash or any chunk, sorted. */
  listPaths(collection: Collection): Promise<string[]>;
  /** Every collection with its counts, sorted by name. */
  collections(): Promise<CollectionInfo[]>;
  /** The best `k` chunks for the query, best first (see {@link SearchQuery}). */
  search(query: SearchQuery): Promise<SearchHit[]>;
  /**
   * Every chunk of a collection without its vector, read a page of files at a time: each file's
   * chunks come together, by ordinal, files in the store's path order. Memory stays bounded by
   * one page whatever the store's size. What a page holds is read when the scan reaches it, so
   * the collection should not be written meanwhile.
   */
  scanChunks(collection: Collection, options?: ScanOptions): AsyncIterable<StoredChunk>;
  stats(): Promise<StoreStats>;
  close(): Promise<void>;
}

/** A stored chunk without its vector, as {@link VectorStore.scanChunks} reads it. */
export type StoredChunk = Omit<ChunkRecord, "vector">;

/** Options of {@link VectorStore.scanChunks}. */
export interface ScanOptions {
  /** Files read per page (default {@link SCAN_PAGE_FILES}). */
  readonly pageFiles?: number;
}

/** Files per page of a chunk scan: a file holds at most `maxFileBytes` of text. */
export const SCAN_PAGE_FILES = 64;

/** The page size a scan uses, checked. */
export function scanPageFiles(options: ScanOptions | undefined): number {
  const n = options?.pageFiles ?? SCAN_PAGE_FILES;
  if (!Number.isInteger(n) || n < 1) {
    throw new VectorStoreError(
      "invalid-argument",
      `scanChunks pageFiles must be a positive integer, got ${n}`,
    );
  }
  return n;
}

/** How a store is opened: to write (creating it if missing, taking the writer lock) or to read. */
export type StoreAccess =
  | {
      readonly mode: "write";
      readonly identity: StoreIdentity;
      /**
       * Share the writer lock with other shared writers (the coordinator and workers of a queue
       * run, which write different files), while an exclusive writer is still refused, and
       * refuses them. Only a Postgres store, reachable from several machines, allows it.
       */
      readonly shared?: boolean;
      /**
       * Told (once each) of a fallback the store took that leaves its writes as they would be,
       * only slower: an SQLite writer thread that could not start. Nothing is told without it.
       */
      readonly onWarning?: (message: string) => void;
    }
  | { readonly mode: "read" };

/** Why a store refused an operation. */
export type VectorStoreErrorCode =
  | "identity-mismatch"
  | "invalid-record"
  | "invalid-argument"
  | "missing-chunks"
  | "corrupt"
  | "unavailable"
  | "closed"
  | "locked"
  | "read-only"
  | "not-found"
  | "old-schema";

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
    const fail = (message: string) => {
      const where = `chunk ${JSON.stringify(record.id)} of ${JSON.stringify(record.path)}`;
      throw new VectorStoreError("invalid-record", `${where}: ${message}`);
    };
    if (typeof record.id !== "string" || record.id === "") fail("id must be a non-empty string");
    if (typeof record.collection !== "string" || record.collection === "")
      fail("collection must be a non-empty string");
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
    const vector = record.vector;
    for (let i = 0; i < vector.length; i++) {
      if (!Number.isFinite(vector[i])) fail("vector has a non-finite number");
    }
  }
}

/** A chunk as the SQL stores' tables hold it (snake_case columns; metadata as JSON text or parsed). */
export interface ChunkRow {
  readonly id: string;
  readonly collection: string;
  readonly path: string;
  readonly ordinal: number;
  readonly text: string;
  readonly start_line: number;
  readonly end_line: number;
  readonly metadata: JsonObject | string;
}

/** A chunk row as a search hit's fields (no score yet). */
export function hitOfRow(row: ChunkRow): Omit<SearchHit, "score" | "signals"> {
  return {
    id: row.id,
    collection: row.collection,
    path: row.path,
    ordinal: row.ordinal,
    text: row.text,
    startLine: row.start_line,
    endLine: row.end_line,
    metadata:
      typeof row.metadata === "string" ? (JSON.parse(row.metadata) as JsonObject) : row.metadata,
  };
}

/**
 * A record's own fields without its vector: what a search hit shows of it, and what a store
 * writes beside the vector. Only those fields: a caller's record may carry more.
 */
export function chunkFields(record: ChunkRecord): Omit<ChunkRecord, "vector"> {
  return {
    id: record.id,
    collection: record.collection,
    path: record.path,
    ordinal: record.ordinal,
    text: record.text,
    startLine: record.startLine,
    endLine: record.endLine,
    metadata: record.metadata,
  };
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
