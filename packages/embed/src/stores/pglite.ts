import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite-pgvector";
import {
  openSqlVectorStore,
  readSqlIdentity,
  type SqlExecutor,
  type SqlStoreOptions,
  type SqlVectorStore,
} from "./sql.ts";
import { acquireStoreLock, type StoreLock } from "./store-lock.ts";
import { type StoreAccess, type StoreIdentity, VectorStoreError } from "./vector-store.ts";

/** Options of {@link openPgliteStore}: a data folder, or an open database to share. */
export type PgliteStoreOptions = SqlStoreOptions & {
  /** To write (creates the folder and tables, checks the embedder) or to read (creates nothing). */
  readonly access: StoreAccess;
} & (
    | {
        /** Folder holding the database; created if missing (write mode only). */
        readonly dataDir: string;
        readonly db?: undefined;
      }
    | {
        /** An open PGlite with the vector extension; the store neither locks nor closes it. */
        readonly db: PGlite;
        readonly dataDir?: undefined;
      }
  );

/**
 * Opens (creating if needed) an embedded PGlite database with pgvector: a folder on disk, or
 * memory when `dataDir` is omitted. Opening a fresh database takes a few seconds (WASM start
 * and initdb) and several hundred MB; reopening an existing folder is faster.
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

/** Whether a folder holds a Postgres database (PGlite writes `PG_VERSION` at initdb). */
function holdsDatabase(dataDir: string): boolean {
  return existsSync(join(dataDir, "PG_VERSION"));
}

/**
 * A store in embedded Postgres (PGlite) with pgvector, in a local folder: same tables and SQL as
 * the Postgres store, no server. Costly to open (seconds, several hundred MB), so it is no longer
 * the default; it stays as an explicit kind and as the test stand-in for a Postgres server.
 *
 * A PGlite folder cannot be shared between processes, not even by a reader: Postgres in WASM
 * has no shared memory or file locking of its own, and every open writes to the folder. So both
 * a writer and a reader take the lock `${dataDir}.lock` (see `acquireStoreLock`) for as long as
 * they are open: a `search` during an `embed` fails with code `locked` instead of corrupting the
 * store. For the same reason a read-only folder cannot be opened. A reader creates nothing (no
 * folder, no tables: `not-found`) and rejects writes (`read-only`). With `db`, the caller owns
 * the database and its sharing.
 */
export async function openPgliteStore(options: PgliteStoreOptions): Promise<SqlVectorStore> {
  const { access } = options;
  if (options.db !== undefined) {
    return openSqlVectorStore("pglite", pgliteExecutor(options.db), {
      ...options,
      location: "PGlite database",
      ownsExecutor: false,
    });
  }
  const { dataDir } = options;
  if (access.mode === "read" && !holdsDatabase(dataDir)) {
    throw new VectorStoreError(
      "not-found",
      `no store at ${dataDir}: create it with "sluice embed <dir> --store-kind pglite --store ${dataDir}"`,
    );
  }
  if (access.mode === "write") await mkdir(dirname(dataDir), { recursive: true });
  const lock = await acquireStoreLock(dataDir);
  let db: PGlite | undefined;
  try {
    db = await createPgliteDatabase(dataDir);
    return await openSqlVectorStore("pglite", pgliteExecutor(db), {
      ...options,
      location: dataDir,
      onClose: () => lock.release(),
    });
  } catch (error) {
    await db?.close().catch(() => undefined);
    await lock.release();
    throw error;
  }
}

/**
 * The identity the PGlite store in `dataDir` records, or undefined when there is none (no
 * database folder, or no store tables in it). Creates nothing, but starts the database, so it
 * takes the folder's lock for that while (and fails with `locked` during an `embed`).
 */
export async function readPgliteIdentity(
  dataDir: string,
  options: { readonly tablePrefix?: string } = {},
): Promise<StoreIdentity | undefined> {
  if (!holdsDatabase(dataDir)) return undefined;
  const lock: StoreLock = await acquireStoreLock(dataDir);
  try {
    const db = await createPgliteDatabase(dataDir);
    try {
      return await readSqlIdentity(
        pgliteExecutor(db).query,
        options.tablePrefix ?? "sluice_",
        dataDir,
      );
    } finally {
      await db.close();
    }
  } finally {
    await lock.release();
  }
}
