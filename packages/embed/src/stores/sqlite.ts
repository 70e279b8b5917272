// The default store: one SQLite database file, with sqlite-vec for exact vector search and FTS5
// for BM25. Loaded only when an SQLite store is opened (see open.ts): better-sqlite3 is a native
// module, sqlite-vec a loadable extension.
import { mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { JsonObject } from "../json-value.ts";
import { type Candidate, type LexicalCandidates, searchStore } from "./hybrid-search.ts";
import { type Db, openDatabase, sqliteError } from "./sqlite-connection.ts";
import { handOffWriter, inThreadWriter, type Writer } from "./sqlite-writer.ts";
import { type SqliteWriteCall, storedPaths, toWriteRecord } from "./sqlite-writes.ts";
import { identityMismatch } from "./store-identity.ts";
import { acquireStoreLock, type StoreLock } from "./store-lock.ts";
import {
  type ChunkRecord,
  type Collection,
  type CollectionInfo,
  hitOfRow,
  lastById,
  type ScanOptions,
  type SearchHit,
  type SearchQuery,
  type StoreAccess,
  type StoredChunk,
  type ChunkRow as StoredRow,
  type StoreIdentity,
  type StoreStats,
  scanPageFiles,
  type VectorStore,
  VectorStoreError,
  validateRecords,
} from "./vector-store.ts";

/** The layout this module writes; a store with another version is refused, never altered. */
export const SQLITE_SCHEMA_VERSION = 2;
/** `PRAGMA application_id` of a sluice store ("slce"): tells it apart from any SQLite file. */
const APPLICATION_ID = 0x736c6365;
/** sqlite-vec's limit on a vector column. */
export const SQLITE_MAX_DIMENSIONS = 8192;
/** sqlite-vec's limit on `k` in a KNN query; larger windows are ranked by a full scan. */
const VEC0_MAX_K = 4096;

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file. */
  readonly path: string;
  readonly access: StoreAccess;
  /** Writers only: how long to wait for another writer's lock; default 0 (fail at once). */
  readonly lockWaitMs?: number;
  /**
   * Writers only: write in a thread of its own (default true), started once 512 chunks have been
   * written, so that the caller's thread does not wait for SQLite (~0.2 ms a chunk with its
   * vector and full-text index); false writes on the caller's thread. The store behaves the same
   * either way.
   */
  readonly writerThread?: boolean;
}

/**
 * Opens (for writing: creates if missing) an SQLite store. A writer takes the store's lock file
 * before opening the database, writes in WAL mode so readers in other processes keep working and
 * see each committed transaction, and at close checkpoints and switches back to a rollback journal
 * so that the database file alone is complete (copyable, readable from a read-only folder). A
 * writer's writes run in the order they were made, in a thread of their own once a run has
 * written a few hundred chunks (see `writerThread`); reads stay on the caller's thread. A reader
 * opens the file read-only and writes nothing. Vector search is exact (sqlite-vec `vec0`,
 * cosine), lexical search is FTS5 BM25; both are fused by {@link searchStore}.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<VectorStore> {
  const { path, access } = options;
  if (access.mode === "read") {
    const db = openForReading(path);
    try {
      const identity = readMeta(db, path, "read");
      if (identity === undefined) throw emptyStore(path);
      return new SqliteStore(db, path, identity, undefined);
    } catch (error) {
      db.close();
      throw error;
    }
  }
  validateIdentity(access.identity);
  rejectDirectory(path);
  let lock: StoreLock;
  try {
    mkdirSync(dirname(path), { recursive: true });
    lock = await acquireStoreLock(path, { waitMs: options.lockWaitMs ?? 0 });
  } catch (error) {
    throw cannotWrite(path, error);
  }
  let db: Db | undefined;
  try {
    db = openDatabase(path, false);
    let identity = readMeta(db, path, "write");
    if (identity === undefined) {
      createSchema(db, access.identity);
      identity = access.identity;
    } else {
      if (
        identity.embedderId !== access.identity.embedderId ||
        identity.dimensions !== access.identity.dimensions
      ) {
        throw identityMismatch(path, identity, access.identity);
      }
      const wanted = access.identity.embedder;
      if (wanted !== undefined && JSON.stringify(wanted) !== JSON.stringify(identity.embedder)) {
        // Same vectors; the latest writer's settings (an endpoint may have moved) are the ones
        // search should rebuild the embedder from.
        setMeta(db, "embedder", JSON.stringify(wanted));
        identity = access.identity;
      }
    }
    db.pragma("journal_mode = WAL");
    db.pragma("synchronous = NORMAL");
    const writer =
      options.writerThread === false
        ? inThreadWriter(db)
        : handOffWriter(db, path, access.onWarning);
    return new SqliteStore(db, path, identity, { lock, writer });
  } catch (error) {
    db?.close();
    await lock.release();
    throw error;
  }
}

/**
 * The identity an SQLite store records, or `undefined` when there is no file at `path`. Opens the
 * file read-only and creates nothing.
 */
export async function readSqliteIdentity(path: string): Promise<StoreIdentity | undefined> {
  let db: Db;
  try {
    db = openForReading(path);
  } catch (error) {
    if (error instanceof VectorStoreError && error.code === "not-found") return undefined;
    throw error;
  }
  try {
    return readMeta(db, path, "read");
  } finally {
    db.close();
  }
}

function validateIdentity(identity: StoreIdentity): void {
  const { dimensions, embedderId } = identity;
  if (typeof embedderId !== "string" || embedderId === "") {
    throw new VectorStoreError("invalid-argument", "embedderId must be a non-empty string");
  }
  if (!Number.isInteger(dimensions) || dimensions < 1 || dimensions > SQLITE_MAX_DIMENSIONS) {
    throw new VectorStoreError(
      "invalid-argument",
      `an SQLite store holds vectors of 1 to ${SQLITE_MAX_DIMENSIONS} dimensions, got ${dimensions}; use a Postgres store for longer vectors`,
    );
  }
}

/** A folder where a database file is expected: most likely the old PGlite default store. */
function rejectDirectory(path: string): void {
  let isDirectory = false;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch {
    return;
  }
  if (!isDirectory) return;
  let pglite = false;
  try {
    pglite = statSync(join(path, "PG_VERSION")).isFile();
  } catch {
    // not PGlite
  }
  if (pglite) {
    throw new VectorStoreError(
      "old-schema",
      `${path} is a PGlite store folder (the default of an earlier sluice), not an SQLite file: open it with --store-kind pglite, or re-embed into a new store: sluice embed <dir> --store <new location> (then delete ${path})`,
    );
  }
  throw new VectorStoreError(
    "invalid-argument",
    `${path} is a folder, not an SQLite store file: give a file path such as ${join(path, "store.db")}`,
  );
}

function openForReading(path: string): Db {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new VectorStoreError(
        "not-found",
        `no store at ${path}: run \`sluice embed <dir>\` first to create it`,
      );
    }
    throw new VectorStoreError("unavailable", `cannot read ${path}: ${(error as Error).message}`);
  }
  if (!isFile) rejectDirectory(path);
  return openDatabase(path, true);
}

/** A file-system error while preparing to write, as a store error naming the store. */
function cannotWrite(path: string, error: unknown): VectorStoreError {
  if (error instanceof VectorStoreError) return error;
  const code = (error as NodeJS.ErrnoException).code;
  const why =
    code === "EACCES" || code === "EPERM" || code === "EROFS"
      ? "no permission to write there (search and stats can still read it)"
      : code === "ENOTDIR" || code === "EEXIST"
        ? "a part of its folder path is a file"
        : (error as Error).message;
  return new VectorStoreError("unavailable", `cannot write store ${path}: ${why}`);
}

/** A database file with no tables: a writer created it and died before laying it out. */
function emptyStore(path: string): VectorStoreError {
  return new VectorStoreError(
    "not-found",
    `${path} holds no sluice store yet: run \`sluice embed <dir>\` first to fill it`,
  );
}

/**
 * Reads and checks a store's meta table; `undefined` for a database with no tables at all (a
 * brand-new file a writer is about to lay out).
 */
function readMeta(db: Db, path: string, mode: "read" | "write"): StoreIdentity | undefined {
  try {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
      .pluck()
      .all() as string[];
    if (tables.length === 0) return undefined;
    const applicationId = db.pragma("application_id", { simple: true }) as number;
    if (applicationId !== APPLICATION_ID || !tables.includes("meta")) {
      throw new VectorStoreError(
        "corrupt",
        `${path} is an SQLite database but not a sluice store${mode === "write" ? "; it was left as it is" : ""}: give another --store location`,
      );
    }
    const rows = db.prepare("SELECT key, value FROM meta").all() as {
      key: string;
      value: string;
    }[];
    const meta = new Map(rows.map((row) => [row.key, row.value]));
    const version = Number(meta.get("schema_version"));
    if (version < SQLITE_SCHEMA_VERSION) {
      throw new VectorStoreError(
        "old-schema",
        `${path} was written by an earlier sluice (store schema ${version}); re-embed into a new store: sluice embed <dir> --store <new location> (then delete ${path})`,
      );
    }
    if (version !== SQLITE_SCHEMA_VERSION) {
      throw new VectorStoreError(
        "unavailable",
        `${path} was written by a newer sluice (store schema ${meta.get("schema_version")}); this sluice reads schema ${SQLITE_SCHEMA_VERSION}: upgrade sluice`,
      );
    }
    const embedderId = meta.get("embedder_id");
    const dimensions = Number(meta.get("dimensions"));
    if (embedderId === undefined || !Number.isInteger(dimensions) || dimensions < 1) {
      throw new VectorStoreError("corrupt", `${path}: the store's meta table is incomplete`);
    }
    const embedderJson = meta.get("embedder");
    let embedder: JsonObject | undefined;
    if (embedderJson !== undefined) {
      try {
        embedder = JSON.parse(embedderJson) as JsonObject;
      } catch {
        throw new VectorStoreError("corrupt", `${path}: the recorded embedder is not JSON`);
      }
    }
    return { embedderId, dimensions, ...(embedder === undefined ? {} : { embedder }) };
  } catch (error) {
    throw sqliteError(path, error);
  }
}

function setMeta(db: Db, key: string, value: string): void {
  db.prepare(
    "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
  ).run(key, value);
}

function createSchema(db: Db, identity: StoreIdentity): void {
  db.transaction(() => {
    db.pragma(`application_id = ${APPLICATION_ID}`);
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE files (
        collection TEXT NOT NULL,
        path TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (collection, path)
      ) WITHOUT ROWID;
      CREATE TABLE chunks (
        rowid INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        collection TEXT NOT NULL,
        path TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        text TEXT NOT NULL,
        start_line INTEGER NOT NULL,
        end_line INTEGER NOT NULL,
        metadata TEXT NOT NULL
      );
      CREATE INDEX chunks_by_file ON chunks (collection, path);
      -- chunk_size: vec0 writes each vector into a blob of chunk_size vectors; 128 instead of
      -- its 1,024 cut an insert of a 1,536-d vector from ~127 to ~97 µs, with no slower search
      -- (28,581 vectors, docs/performance.md). Stores made before keep their own.
      CREATE VIRTUAL TABLE chunks_vec USING vec0 (
        embedding float[${identity.dimensions}] distance_metric=cosine,
        collection text,
        chunk_size=128
      );
      CREATE VIRTUAL TABLE chunks_fts USING fts5 (
        text, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2'
      );
    `);
    setMeta(db, "schema_version", String(SQLITE_SCHEMA_VERSION));
    setMeta(db, "embedder_id", identity.embedderId);
    setMeta(db, "dimensions", String(identity.dimensions));
    if (identity.embedder !== undefined) setMeta(db, "embedder", JSON.stringify(identity.embedder));
  })();
}

interface ChunkRow extends StoredRow {
  rowid: number;
}

const CHUNK_COLUMNS =
  "c.rowid, c.id, c.collection, c.path, c.ordinal, c.text, c.start_line, c.end_line, c.metadata";

function hitOf(row: ChunkRow): Omit<SearchHit, "score" | "signals"> {
  return hitOfRow(row);
}

/** Quotes each term for an FTS5 MATCH (terms hold only letters and digits) and ORs them. */
function ftsQuery(terms: readonly string[]): string {
  return terms.map((term) => `"${term.replaceAll('"', '""')}"`).join(" OR ");
}

class SqliteStore implements VectorStore {
  readonly kind = "sqlite" as const;
  readonly dimensions: number;
  readonly readOnly: boolean;
  #db: Db | undefined;
  #lock: StoreLock | undefined;
  #writer: Writer | undefined;
  #closing: Promise<void> | undefined;

  constructor(
    db: Db,
    readonly path: string,
    readonly identity: StoreIdentity,
    /** A writer's lock and where its writes run; none for a reader. */
    write: { readonly lock: StoreLock; readonly writer: Writer } | undefined,
  ) {
    this.#db = db;
    this.#lock = write?.lock;
    this.#writer = write?.writer;
    this.dimensions = identity.dimensions;
    this.readOnly = write === undefined;
  }

  #open(): Db {
    if (this.#db === undefined) {
      throw new VectorStoreError("closed", `store ${this.path} is closed`);
    }
    return this.#db;
  }

  #writable(operation: string): Writer {
    this.#open();
    if (this.#writer === undefined) {
      throw new VectorStoreError(
        "read-only",
        `store ${this.path} is open read-only: ${operation} needs a writer (sluice embed)`,
      );
    }
    return this.#writer;
  }

  /** Sends a write to where writes run; failures reject as VectorStoreErrors. */
  async #write(
    call: SqliteWriteCall,
    transfer?: readonly ArrayBuffer[],
  ): Promise<number | undefined> {
    const writer = this.#writable(call.op);
    try {
      return await writer.run(call, transfer);
    } catch (error) {
      throw sqliteError(this.path, error, "use");
    }
  }

  /** Runs a synchronous database call as a promise, so errors reject instead of throwing. */
  async #run<T>(fn: () => T): Promise<T> {
    try {
      return fn();
    } catch (error) {
      if (error instanceof VectorStoreError) throw error;
      throw sqliteError(this.path, error, "use");
    }
  }

  async upsert(records: readonly ChunkRecord[]): Promise<void> {
    this.#writable("upsert");
    validateRecords(records, this.dimensions);
    const unique = lastById(records).map(toWriteRecord);
    if (unique.length === 0) return;
    // The float32 copies move to the writer thread rather than being copied again.
    await this.#write(
      { op: "upsert", records: unique },
      unique.map((r) => r.vector.buffer as ArrayBuffer),
    );
  }

  async commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): Promise<void> {
    await this.#write({ op: "commitFile", collection, path, fileHash, chunkIds });
  }

  async deleteFile(collection: Collection, path: string): Promise<void> {
    await this.#write({ op: "deleteFile", collection, path });
  }

  async deleteCollection(collection: Collection): Promise<number> {
    return (await this.#write({ op: "deleteCollection", collection })) as number;
  }

  async fileHashes(collection: Collection): Promise<Map<string, string>> {
    return this.#run(() => {
      const rows = this.#open()
        .prepare("SELECT path, hash FROM files WHERE collection = ?")
        .all(collection) as { path: string; hash: string }[];
      return new Map(rows.map((row) => [row.path, row.hash]));
    });
  }

  async listPaths(collection: Collection): Promise<string[]> {
    return this.#run(() => storedPaths(this.#open(), collection));
  }

  async collections(): Promise<CollectionInfo[]> {
    return this.#run(() => {
      const rows = this.#open()
        .prepare(
          `SELECT collection, SUM(files) AS files, SUM(chunks) AS chunks FROM (
             SELECT collection, COUNT(*) AS files, 0 AS chunks FROM files GROUP BY collection
             UNION ALL
             SELECT collection, 0, COUNT(*) FROM chunks GROUP BY collection
           ) GROUP BY collection`,
        )
        .all() as CollectionInfo[];
      return rows.sort((a, b) =>
        a.collection < b.collection ? -1 : a.collection > b.collection ? 1 : 0,
      );
    });
  }

  /**
   * Pages by path through the `(collection, path)` index: the next `pageFiles` paths that have
   * chunks, then their chunks. Each page is one short query, so no statement stays open.
   */
  async *scanChunks(collection: Collection, options?: ScanOptions): AsyncIterable<StoredChunk> {
    const pageFiles = scanPageFiles(options);
    let after: string | undefined;
    for (;;) {
      const page = await this.#run(() => {
        const db = this.#open();
        const paths = db
          .prepare(
            `SELECT DISTINCT path FROM chunks WHERE collection = ? ${after === undefined ? "" : "AND path > ?"}
             ORDER BY path LIMIT ?`,
          )
          .pluck()
          .all(
            ...(after === undefined ? [collection] : [collection, after]),
            pageFiles,
          ) as string[];
        const last = paths.at(-1);
        if (last === undefined) return undefined;
        const rows = db
          .prepare(
            `SELECT ${CHUNK_COLUMNS} FROM chunks AS c
             WHERE c.collection = ? AND c.path >= ? AND c.path <= ?
             ORDER BY c.path, c.ordinal, c.id`,
          )
          .all(collection, paths[0], last) as ChunkRow[];
        return { last, chunks: rows.map(hitOf) };
      });
      if (page === undefined) return;
      yield* page.chunks;
      after = page.last;
    }
  }

  async search(query: SearchQuery): Promise<SearchHit[]> {
    this.#open();
    return searchStore(query, this.dimensions, {
      vectorCandidates: (vector, n, collection) =>
        this.#run(() => this.#vectorCandidates(vector, n, collection)),
      lexicalCandidates: (terms, n, collection) =>
        this.#run(() => this.#lexicalCandidates(terms, n, collection)),
    });
  }

  #vectorCandidates(
    vector: readonly number[],
    n: number,
    collection: Collection | undefined,
  ): Candidate[] {
    const db = this.#open();
    const query = Float32Array.from(vector);
    let rows: (ChunkRow & { distance: number })[];
    const only = collection === undefined ? "" : "AND collection = ?";
    if (n <= VEC0_MAX_K) {
      // vec0's KNN is a full scan of the vectors (exact), filtered on the collection column.
      const params: unknown[] = collection === undefined ? [query, n] : [query, n, collection];
      rows = db
        .prepare(
          `SELECT ${CHUNK_COLUMNS}, v.distance AS distance
           FROM (SELECT rowid, distance FROM chunks_vec
                 WHERE embedding MATCH ? AND k = ? ${only}) AS v
           JOIN chunks AS c ON c.rowid = v.rowid
           ORDER BY v.distance, c.rowid`,
        )
        .all(...params) as (ChunkRow & { distance: number })[];
    } else {
      // A window past vec0's k limit: the same exact ranking by a scan of the distances.
      const params: unknown[] = collection === undefined ? [query, n] : [query, collection, n];
      rows = db
        .prepare(
          `SELECT ${CHUNK_COLUMNS}, v.distance AS distance
           FROM (SELECT rowid, vec_distance_cosine(embedding, ?) AS distance FROM chunks_vec
                 WHERE 1 ${only}) AS v
           JOIN chunks AS c ON c.rowid = v.rowid
           WHERE v.distance IS NOT NULL
           ORDER BY v.distance, c.rowid LIMIT ?`,
        )
        .all(...params) as (ChunkRow & { distance: number })[];
    }
    return rows
      .filter((row) => row.distance !== null)
      .map((row) => ({ hit: hitOf(row), score: 1 - row.distance }));
  }

  #lexicalCandidates(
    terms: readonly string[],
    n: number,
    collection: Collection | undefined,
  ): LexicalCandidates {
    const db = this.#open();
    const where = collection === undefined ? "" : "AND c.collection = ?";
    const params: unknown[] =
      collection === undefined ? [ftsQuery(terms), n] : [ftsQuery(terms), collection, n];
    const rows = db
      .prepare(
        `SELECT ${CHUNK_COLUMNS}, f.score AS score
         FROM (SELECT rowid, bm25(chunks_fts) AS score FROM chunks_fts WHERE chunks_fts MATCH ?) AS f
         JOIN chunks AS c ON c.rowid = f.rowid
         WHERE 1 ${where}
         ORDER BY f.score, c.rowid LIMIT ?`,
      )
      .all(...params) as (ChunkRow & { score: number })[];
    // Each term's document frequency, through the FTS index, and the chunks searched.
    const documents = (
      collection === undefined
        ? db.prepare("SELECT count(*) AS n FROM chunks").get()
        : db.prepare("SELECT count(*) AS n FROM chunks WHERE collection = ?").get(collection)
    ) as { n: number };
    const frequency =
      collection === undefined
        ? db.prepare("SELECT count(*) AS n FROM chunks_fts WHERE chunks_fts MATCH ?")
        : db.prepare(
            `SELECT count(*) AS n FROM chunks_fts AS f JOIN chunks AS c ON c.rowid = f.rowid
             WHERE chunks_fts MATCH ? AND c.collection = ?`,
          );
    const documentFrequencies = terms.map((term) => {
      const params = collection === undefined ? [ftsQuery([term])] : [ftsQuery([term]), collection];
      return (frequency.get(...params) as { n: number }).n;
    });
    // FTS5's bm25() is lower-is-better (negated BM25); the store reports BM25 itself.
    return {
      candidates: rows.map((row) => ({ hit: hitOf(row), score: -row.score })),
      documents: documents.n,
      documentFrequencies,
    };
  }

  async stats(): Promise<StoreStats> {
    return this.#run(() => {
      const db = this.#open();
      const count = (sql: string) => db.prepare(sql).pluck().get() as number;
      return {
        chunks: count("SELECT COUNT(*) FROM chunks"),
        files: count("SELECT COUNT(*) FROM files"),
        collections: count(
          "SELECT COUNT(*) FROM (SELECT collection FROM files UNION SELECT collection FROM chunks)",
        ),
        dimensions: this.dimensions,
        embedderId: this.identity.embedderId,
      };
    });
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    if (db === undefined) return;
    const lock = this.#lock;
    this.#lock = undefined;
    const writer = this.#writer;
    this.#writer = undefined;
    try {
      try {
        // Its writes made before close are applied first; its connection must be gone before
        // this one can leave the rollback journal.
        await writer?.close();
      } catch {
        // A writer thread that died took its connection with it.
      }
      if (lock !== undefined) {
        try {
          // Leave one complete file: fold the WAL back in and return to a rollback journal,
          // which a reader can open from a read-only folder. A reader still open elsewhere
          // keeps the database in WAL mode; that is harmless, so neither step may fail close.
          db.pragma("busy_timeout = 200");
          db.pragma("wal_checkpoint(TRUNCATE)");
        } catch {
          // see above
        }
        try {
          db.pragma("journal_mode = DELETE");
        } catch {
          // see above
        }
      }
      db.close();
    } finally {
      await lock?.release();
    }
  }
}
