// The SQLite store's writer thread: the task module of a one-worker `threadPool` that holds the
// writer's own connection. The store's thread opens the file, lays out the schema, holds the
// lock and reads; every write comes here, in order, and is applied in one transaction.
import { type Db, openDatabase } from "./sqlite-connection.ts";
import { type SqliteWriteCall, SqliteWrites } from "./sqlite-writes.ts";
import { VectorStoreError } from "./vector-store.ts";

/** What the store sends its writer thread: open first, then writes, then close. */
export type SqliteWriterCall =
  | { readonly op: "open"; readonly path: string }
  | { readonly op: "close" }
  | SqliteWriteCall;

let connection: { readonly db: Db; readonly writes: SqliteWrites } | undefined;

/** Runs one call in the writer thread; `deleteCollection` answers a number, the rest nothing. */
export function sqliteWriterCall(call: SqliteWriterCall): number | undefined {
  switch (call.op) {
    case "open": {
      connection?.db.close();
      const db = openDatabase(call.path, false);
      // Per connection, like the store's own: a commit in WAL mode waits for no fsync.
      db.pragma("synchronous = NORMAL");
      connection = { db, writes: new SqliteWrites(db) };
      return undefined;
    }
    case "close":
      connection?.db.close();
      connection = undefined;
      return undefined;
    default:
      if (connection === undefined) {
        // Only if the worker was replaced after a crash: its connection went with it.
        throw new VectorStoreError("unavailable", "the store's writer thread has no connection");
      }
      return connection.writes.apply(call);
  }
}
