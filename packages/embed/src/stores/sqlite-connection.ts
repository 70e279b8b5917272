// One connection to an SQLite store's file, as the store's own thread and its writer thread
// open it: better-sqlite3 with the sqlite-vec extension loaded, and the errors that opening or
// using it can end in, as VectorStoreErrors.
import Database from "better-sqlite3";
import * as sqliteVec from "sqlite-vec";
import { VectorStoreError, type VectorStoreErrorCode } from "./vector-store.ts";

/** A better-sqlite3 connection. */
export type Db = Database.Database;

/** How long a statement waits for another connection's lock before failing with SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5_000;

/**
 * Opens the database file with sqlite-vec loaded, waiting up to {@link BUSY_TIMEOUT_MS} for
 * another connection's lock (better-sqlite3's `timeout` is SQLite's busy timeout); errors name
 * the file.
 */
export function openDatabase(path: string, readonly: boolean): Db {
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

/**
 * A failure of SQLite (or of the thread it ran in) as a VectorStoreError naming the store: a
 * file that is not a database is `corrupt`, anything else `unavailable`. A VectorStoreError
 * passes through, also one that crossed from the writer thread as its name, code and message.
 */
export function sqliteError(path: string, error: unknown, doing = "open"): VectorStoreError {
  if (error instanceof VectorStoreError) return error;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  if (name === "VectorStoreError" && typeof code === "string" && typeof message === "string") {
    return new VectorStoreError(code as VectorStoreErrorCode, message);
  }
  if (code === "SQLITE_NOTADB" || code === "SQLITE_CORRUPT") {
    return new VectorStoreError("corrupt", `${path} is not a sluice store (${message})`);
  }
  return new VectorStoreError("unavailable", `cannot ${doing} store ${path}: ${message}`);
}
