// The default store: one SQLite database file, with sqlite-vec for exact vector search and FTS5
// for BM25. Loaded only when an SQLite store is opened (see open.ts): better-sqlite3 is a native
// module, sqlite-vec a loadable extension.
import { mkdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";
import type { JsonObject } from "../json-value.ts";
import { type Candidate, type LexicalCandidates, searchStore } from "./hybrid-search.ts";
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

type Db = Database.Database;

/** The layout this module writes; a store with another version is refused, never altered. */
export const SQLITE_SCHEMA_VERSION = 2;
/** `PRAGMA application_id` of a sluice store ("slce"): tells it apart from any SQLite file. */
const APPLICATION_ID = 0x736c6365;
/** sqlite-vec's limit on a vector column. */
export const SQLITE_MAX_DIMENSIONS = 8192;
/** sqlite-vec's limit on `k` in a KNN query; larger windows are ranked by a full scan. */
const VEC0_MAX_K = 4096;
/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/** Options of {@link openSqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file. */
  readonly path: string;
  readonly access: StoreAccess;
  /** Writers only: how long to wait for another writer's lock; default 0 (fail at once). */
  readonly lockWaitMs?: number;
}

/**
 * Opens (for writing: creates if missing) an SQLite store. A writer takes the store's lock file
 * before opening the database, writes in WAL mode so readers in other processes keep working and
 * see each committed transaction, and at close checkpoints and switches back to a rollback journal
 * so that the database file alone is complete (copyable, readable from a read-only folder). A
 * reader opens the file read-only and writes nothing. Vector search is exact (sqlite-vec `vec0`,
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
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
    return new SqliteStore(db, path, identity, lock);
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

function openDatabase(path: string, readonly: boolean): Db {
  let db: Db;
  try {
    db = new Database(path, { readonly, fileMustExist: readonly, timeout: BUSY_TIMEOUT_MS });
  } catch (error) {
    throw sqliteError(path, error);
  }
  try {
    sqliteVec.load(db);
  } catch (error) {
    db.close();
    throw new VectorStoreError(
      "unavailable",
      `cannot load the sqlite-vec extension for ${path}: ${(error as Error).message}`,
    );
  }
  return db;
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

/** A better-sqlite3 error as a store error: "not a database" means the file is no store. */
function sqliteError(path: string, error: unknown, doing = "open"): VectorStoreError {
  if (error instanceof VectorStoreError) return error;
  const code = (error as { code?: unknown }).code;
  const message = (error as Error).message;
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new VectorStoreError("corrupt", `${path} is not a sluice store (${message})`);
  }
  return new VectorStoreError("unavailable", `cannot ${doing} store ${path}: ${message}`);
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

const DELETE_VEC = "DELETE FROM chunks_vec WHERE rowid = ?";
const DELETE_FTS = "DELETE FROM chunks_fts WHERE rowid = ?";

/** A zero vector has no direction: cosine similarity to it is undefined, so it is not indexed. */
function isZero(vector: readonly number[]): boolean {
  for (let i = 0; i < vector.length; i++) if (vector[i] !== 0) return false;
  return true;
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
  #closing: Promise<void> | undefined;
  /** The write path's statements, prepared once per connection rather than once per call. */
  #statements = new Map<string, Database.Statement>();

  constructor(
    db: Db,
    readonly path: string,
    readonly identity: StoreIdentity,
    lock: StoreLock | undefined,
  ) {
    this.#db = db;
    this.#lock = lock;
    this.dimensions = identity.dimensions;
    this.readOnly = lock === undefined;
  }

  #open(): Db {
    if (this.#db === undefined) {
      throw new VectorStoreError("closed", `store ${this.path} is closed`);
    }
    return this.#db;
  }

  /** A statement of the open connection, prepared on first use; `pluck` is fixed per entry. */
  #statement(sql: string, pluck = false): Database.Statement {
    const key = `${pluck ? "p" : "r"}${sql}`;
    let statement = this.#statements.get(key);
    if (statement === undefined) {
      statement = this.#open().prepare(sql);
      if (pluck) statement.pluck();
      this.#statements.set(key, statement);
    }
    return statement;
  }

  #writable(operation: string): Db {
    const db = this.#open();
    if (this.readOnly) {
      throw new VectorStoreError(
        "read-only",
        `store ${this.path} is open read-only: ${operation} needs a writer (sluice embed)`,
      );
    }
    return db;
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
    return this.#run(() => {
      const db = this.#writable("upsert");
      validateRecords(records, this.dimensions);
      const unique = lastById(records);
      if (unique.length === 0) return;
      const find = this.#statement("SELECT rowid FROM chunks WHERE id = ?", true);
      const insert = this.#statement(
        "INSERT INTO chunks (id, collection, path, ordinal, text, start_line, end_line, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      );
      const update = this.#statement(
        "UPDATE chunks SET collection = ?, path = ?, ordinal = ?, text = ?, start_line = ?, end_line = ?, metadata = ? WHERE rowid = ?",
      );
      const deleteVec = this.#statement(DELETE_VEC);
      const insertVec = this.#statement(
        "INSERT INTO chunks_vec (rowid, embedding, collection) VALUES (?, ?, ?)",
      );
      const deleteFts = this.#statement(DELETE_FTS);
      const insertFts = this.#statement("INSERT INTO chunks_fts (rowid, text) VALUES (?, ?)");
      db.transaction(() => {
        for (const r of unique) {
          const metadata = JSON.stringify(r.metadata);
          const existing = find.get(r.id) as number | undefined;
          let rowid: bigint;
          if (existing === undefined) {
            const info = insert.run(
              r.id,
              r.collection,
              r.path,
              r.ordinal,
              r.text,
              r.startLine,
              r.endLine,
              metadata,
            );
            rowid = BigInt(info.lastInsertRowid);
          } else {
            rowid = BigInt(existing);
            update.run(
              r.collection,
              r.path,
              r.ordinal,
              r.text,
              r.startLine,
              r.endLine,
              metadata,
              rowid,
            );
            deleteVec.run(rowid);
            deleteFts.run(rowid);
          }
          if (!isZero(r.vector)) insertVec.run(rowid, new Float32Array(r.vector), r.collection);
          insertFts.run(rowid, r.text);
        }
      })();
    });
  }

  async commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): Promise<void> {
    return this.#run(() => {
      const db = this.#writable("commitFile");
      const rows = this.#statement(
        "SELECT rowid, id FROM chunks WHERE collection = ? AND path = ?",
      ).all(collection, path) as { rowid: number; id: string }[];
      const present = new Set(rows.map((row) => row.id));
      const missing = chunkIds.filter((id) => !present.has(id));
      if (missing.length > 0) {
        throw new VectorStoreError(
          "missing-chunks",
          `cannot commit ${JSON.stringify(path)} of collection ${JSON.stringify(collection)}: ${missing.length} of its ${chunkIds.length} chunks were never written (first: ${missing[0]})`,
        );
      }
      const keep = new Set(chunkIds);
      const stale = rows.filter((row) => !keep.has(row.id)).map((row) => row.rowid);
      db.transaction(() => {
        this.#deleteChunks(stale);
        this.#statement(
          "INSERT INTO files (collection, path, hash) VALUES (?, ?, ?) ON CONFLICT (collection, path) DO UPDATE SET hash = excluded.hash",
        ).run(collection, path, fileHash);
      })();
    });
  }

  #deleteChunks(rowids: readonly number[]): void {
    if (rowids.length === 0) return;
    const deleteChunk = this.#statement("DELETE FROM chunks WHERE rowid = ?");
    const deleteVec = this.#statement(DELETE_VEC);
    const deleteFts = this.#statement(DELETE_FTS);
    for (const rowid of rowids) {
      const key = BigInt(rowid);
      deleteChunk.run(key);
      deleteVec.run(key);
      deleteFts.run(key);
    }
  }

  async deleteFile(collection: Collection, path: string): Promise<void> {
    return this.#run(() => {
      const db = this.#writable("deleteFile");
      db.transaction(() => {
        const rowids = this.#statement(
          "SELECT rowid FROM chunks WHERE collection = ? AND path = ?",
          true,
        ).all(collection, path) as number[];
        this.#deleteChunks(rowids);
        this.#statement("DELETE FROM files WHERE collection = ? AND path = ?").run(
          collection,
          path,
        );
      })();
    });
  }

  async deleteCollection(collection: Collection): Promise<number> {
    return this.#run(() => {
      const db = this.#writable("deleteCollection");
      return db.transaction(() => {
        const files = this.#paths(db, collection).length;
        const rowids = db
          .prepare("SELECT rowid FROM chunks WHERE collection = ?")
          .pluck()
          .all(collection) as number[];
        this.#deleteChunks(rowids);
        db.prepare("DELETE FROM files WHERE collection = ?").run(collection);
        return files;
      })();
    });
  }

  #paths(db: Db, collection: Collection): string[] {
    const paths = db
      .prepare(
        "SELECT path FROM files WHERE collection = ? UNION SELECT path FROM chunks WHERE collection = ?",
      )
      .pluck()
      .all(collection, collection) as string[];
    // JavaScript's code-unit order, as every store sorts (SQLite's BINARY is byte order).
    return paths.sort();
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
    return this.#run(() => this.#paths(this.#open(), collection));
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
    this.#statements.clear();
    if (db === undefined) return;
    const lock = this.#lock;
    this.#lock = undefined;
    try {
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
