import type { StoreKind } from "../config.ts";
import {
  type StoreAccess,
  type StoreIdentity,
  type VectorStore,
  VectorStoreError,
} from "./vector-store.ts";

/** Where a store is: the `store` section of a parsed config. */
export interface StoreLocation {
  readonly kind: StoreKind;
  /** An SQLite database file, a `.jsonl` file, a `postgres://` URL or a PGlite folder. */
  readonly location: string;
}

/**
 * Opens the store at a location. `write` creates it if missing, takes its writer lock and checks
 * that the embedder matches the one it records; `read` never creates or writes anything. Each
 * store's module (better-sqlite3 and sqlite-vec, the pg driver, PGlite's WASM) loads only when
 * that kind of store is opened, so the default SQLite store never pays for PGlite.
 */
export async function openVectorStore(
  store: StoreLocation,
  access: StoreAccess,
): Promise<VectorStore> {
  if (access.mode === "write" && access.shared === true && store.kind !== "postgres") {
    throw new VectorStoreError(
      "invalid-argument",
      `a ${store.kind} store (${store.location}) is a local file that only one process can write: a queue run (--queue, "sluice worker") needs a postgres:// store`,
    );
  }
  switch (store.kind) {
    case "sqlite": {
      const { openSqliteStore } = await import("./sqlite.ts");
      return openSqliteStore({ path: store.location, access });
    }
    case "jsonl": {
      const { openJsonlStore } = await import("./jsonl.ts");
      return openJsonlStore({ path: store.location, access });
    }
    case "postgres": {
      const { openPostgresStore } = await import("./postgres.ts");
      return openPostgresStore({ url: store.location, access });
    }
    case "pglite": {
      const { openPgliteStore } = await import("./pglite.ts");
      return openPgliteStore({ dataDir: store.location, access });
    }
  }
}

/**
 * The identity a store records (embedder id, dimensions and settings), so that `search` and
 * `stats` can rebuild the embedder without flags; `undefined` when there is no store at that
 * location. Creates nothing.
 */
export async function readStoreIdentity(store: StoreLocation): Promise<StoreIdentity | undefined> {
  switch (store.kind) {
    case "sqlite": {
      const { readSqliteIdentity } = await import("./sqlite.ts");
      return readSqliteIdentity(store.location);
    }
    case "jsonl": {
      const { readJsonlIdentity } = await import("./jsonl.ts");
      return readJsonlIdentity(store.location);
    }
    case "postgres": {
      const { readPostgresIdentity } = await import("./postgres.ts");
      return readPostgresIdentity(store.location);
    }
    case "pglite": {
      const { readPgliteIdentity } = await import("./pglite.ts");
      return readPgliteIdentity(store.location);
    }
  }
}
