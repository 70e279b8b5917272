// The write side of an SQLite store: upserts, file commits and deletions over one connection,
// each one transaction. A writer store runs them in a thread of its own (sqlite-writer-thread.ts)
// once it has written a few hundred chunks, so that the thread that embeds and stores does not
// wait for SQLite; before that, and with `writerThread: false`, on the store's own connection.
// Either way the calls are applied in the order made.
import type Database from "better-sqlite3";
import type { Db } from "./sqlite-connection.ts";
import {
  type ChunkRecord,
  type Collection,
  chunkFields,
  VectorStoreError,
} from "./vector-store.ts";

/** A chunk as it is written: its vector as float32, the form sqlite-vec stores. */
export type SqliteWriteRecord = Omit<ChunkRecord, "vector"> & { readonly vector: Float32Array };

/** One write, as it crosses to the writer thread. */
export type SqliteWriteCall =
  | { readonly op: "upsert"; readonly records: readonly SqliteWriteRecord[] }
  | {
      readonly op: "commitFile";
      readonly collection: Collection;
      readonly path: string;
      readonly fileHash: string;
      readonly chunkIds: readonly string[];
    }
  | { readonly op: "deleteFile"; readonly collection: Collection; readonly path: string }
  | { readonly op: "deleteCollection"; readonly collection: Collection };

/** A record in the form it is written, with a float32 copy of its vector. */
export function toWriteRecord(record: ChunkRecord): SqliteWriteRecord {
  return { ...chunkFields(record), vector: new Float32Array(record.vector) };
}

const DELETE_VEC = "DELETE FROM chunks_vec WHERE rowid = ?";
const DELETE_FTS = "DELETE FROM chunks_fts WHERE rowid = ?";

/** A zero vector has no direction: cosine similarity to it is undefined, so it is not indexed. */
function isZero(vector: Float32Array): boolean {
  for (let i = 0; i < vector.length; i++) if (vector[i] !== 0) return false;
  return true;
}

/**
 * A collection's paths, from its file hashes and its chunks, in JavaScript's code-unit order
 * (as every store sorts; SQLite's BINARY is byte order).
 */
export function storedPaths(db: Db, collection: Collection): string[] {
  const paths = db
    .prepare(
      "SELECT path FROM files WHERE collection = ? UNION SELECT path FROM chunks WHERE collection = ?",
    )
    .pluck()
    .all(collection, collection) as string[];
  return paths.sort();
}

/** The writes of one connection, its statements prepared once rather than once per call. */
export class SqliteWrites {
  readonly #statements = new Map<string, Database.Statement>();

  constructor(private readonly db: Db) {}

  /** Applies one call; `deleteCollection` answers how many files the collection had. */
  apply(call: SqliteWriteCall): number | undefined {
    switch (call.op) {
      case "upsert":
        this.upsert(call.records);
        return undefined;
      case "commitFile":
        this.commitFile(call.collection, call.path, call.fileHash, call.chunkIds);
        return undefined;
      case "deleteFile":
        this.deleteFile(call.collection, call.path);
        return undefined;
      case "deleteCollection":
        return this.deleteCollection(call.collection);
    }
  }

  #statement(sql: string, pluck = false): Database.Statement {
    const key = `${pluck ? "p" : "r"}${sql}`;
    let statement = this.#statements.get(key);
    if (statement === undefined) {
      statement = this.db.prepare(sql);
      if (pluck) statement.pluck();
      this.#statements.set(key, statement);
    }
    return statement;
  }

  /** Inserts or replaces records (validated, one per id) in one transaction. */
  upsert(records: readonly SqliteWriteRecord[]): void {
    if (records.length === 0) return;
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
    this.db.transaction(() => {
      for (const r of records) {
        // In the order both statements name them, after the id (insert) or before the rowid.
        const columns = [
          r.collection,
          r.path,
          r.ordinal,
          r.text,
          r.startLine,
          r.endLine,
          JSON.stringify(r.metadata),
        ];
        const existing = find.get(r.id) as number | undefined;
        let rowid: bigint;
        if (existing === undefined) {
          rowid = BigInt(insert.run(r.id, ...columns).lastInsertRowid);
        } else {
          rowid = BigInt(existing);
          update.run(...columns, rowid);
          deleteVec.run(rowid);
          deleteFts.run(rowid);
        }
        if (!isZero(r.vector)) insertVec.run(rowid, r.vector, r.collection);
        insertFts.run(rowid, r.text);
      }
    })();
  }

  /** Records a file's hash once all of its chunks are stored, and drops its stale chunks. */
  commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): void {
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
    this.db.transaction(() => {
      this.#deleteChunks(stale);
      this.#statement(
        "INSERT INTO files (collection, path, hash) VALUES (?, ?, ?) ON CONFLICT (collection, path) DO UPDATE SET hash = excluded.hash",
      ).run(collection, path, fileHash);
    })();
  }

  /** Removes a file's chunks and hash. */
  deleteFile(collection: Collection, path: string): void {
    this.db.transaction(() => {
      const rowids = this.#statement(
        "SELECT rowid FROM chunks WHERE collection = ? AND path = ?",
        true,
      ).all(collection, path) as number[];
      this.#deleteChunks(rowids);
      this.#statement("DELETE FROM files WHERE collection = ? AND path = ?").run(collection, path);
    })();
  }

  /** Removes a collection's chunks and hashes; answers how many files it had. */
  deleteCollection(collection: Collection): number {
    return this.db.transaction(() => {
      const files = storedPaths(this.db, collection).length;
      const rowids = this.db
        .prepare("SELECT rowid FROM chunks WHERE collection = ?")
        .pluck()
        .all(collection) as number[];
      this.#deleteChunks(rowids);
      this.db.prepare("DELETE FROM files WHERE collection = ?").run(collection);
      return files;
    })();
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
}
