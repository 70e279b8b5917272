import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import {
  openSqlVectorStore,
  type SqlExecutor,
  type SqlStoreOptions,
  type SqlVectorStore,
} from "./sql.ts";

/** Options of {@link openPgliteStore}: a data folder, or an open database to share. */
export type PgliteStoreOptions = SqlStoreOptions &
  (
    | {
        /** Folder holding the database; created if missing. */ readonly dataDir: string;
        readonly db?: undefined;
      }
    | {
        /** An open PGlite with the vector extension; the store does not close it. */
        readonly db: PGlite;
        readonly dataDir?: undefined;
      }
  );

/**
 * Opens (creating if needed) an embedded PGlite database with pgvector: a folder on disk, or
 * memory when `dataDir` is omitted. Opening a fresh database takes a few seconds (WASM start
 * and initdb); reopening an existing folder is faster.
 */
export async function createPgliteDatabase(dataDir?: string): Promise<PGlite> {
  if (dataDir !== undefined) await mkdir(dataDir, { recursive: true });
  return PGlite.create(dataDir ?? "memory://", { extensions: { vector } });
}

/** Adapts a PGlite database to the executor the shared SQL store runs on. */
export function pgliteExecutor(db: PGlite): SqlExecutor {
  return {
    query: async <Row>(sql: string, params: readonly unknown[] = []) =>
      (await db.query<Row>(sql, [...params])).rows,
    transaction: (fn) =>
      db.transaction((tx) =>
        fn(
          async <Row>(sql: string, params: readonly unknown[] = []) =>
            (await tx.query<Row>(sql, [...params])).rows,
        ),
      ),
    close: () => db.close(),
  };
}

/**
 * The default store: embedded Postgres (PGlite) with pgvector in a local folder, no server
 * needed. Same tables and SQL as the Postgres store.
 */
export async function openPgliteStore(options: PgliteStoreOptions): Promise<SqlVectorStore> {
  const owns = options.db === undefined;
  const db = options.db ?? (await createPgliteDatabase(options.dataDir));
  const executor = pgliteExecutor(db);
  try {
    return await openSqlVectorStore("pglite", executor, options, owns);
  } catch (error) {
    if (owns) await db.close();
    throw error;
  }
}
