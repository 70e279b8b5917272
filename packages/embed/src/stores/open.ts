import type { EmbedConfig, StoreKind } from "../config.ts";
import type { StoreIdentity, VectorStore } from "./vector-store.ts";

/** Where a store is: the `store` section of a parsed config. */
export interface StoreLocation {
  readonly kind: StoreKind;
  /** A folder (PGlite), a `postgres://` URL or a `.jsonl` file path. */
  readonly location: string;
}

/**
 * Opens the store a config names, checked against the embedder that will write to it. Each
 * store's module (PGlite's WASM, the pg driver) loads only when that store is opened.
 */
export async function openVectorStore(
  store: StoreLocation | EmbedConfig["store"],
  identity: StoreIdentity,
): Promise<VectorStore> {
  switch (store.kind) {
    case "pglite": {
      const { openPgliteStore } = await import("./pglite.ts");
      return openPgliteStore({ dataDir: store.location, ...identity });
    }
    case "postgres": {
      const { openPostgresStore } = await import("./postgres.ts");
      return openPostgresStore({ url: store.location, ...identity });
    }
    case "jsonl": {
      const { openJsonlStore } = await import("./jsonl.ts");
      return openJsonlStore({ path: store.location, ...identity });
    }
  }
}
