import type { EmbedConfig, StoreKind } from "../config.ts";
import { openJsonlStore } from "./jsonl.ts";
import { openPgliteStore } from "./pglite.ts";
import { openPostgresStore } from "./postgres.ts";
import type { StoreIdentity, VectorStore } from "./vector-store.ts";

/** Where a store is: the `store` section of a parsed config. */
export interface StoreLocation {
  readonly kind: StoreKind;
  /** A folder (PGlite), a `postgres://` URL or a `.jsonl` file path. */
  readonly location: string;
}

/** Opens the store a config names, checked against the embedder that will write to it. */
export function openVectorStore(
  store: StoreLocation | EmbedConfig["store"],
  identity: StoreIdentity,
): Promise<VectorStore> {
  switch (store.kind) {
    case "pglite":
      return openPgliteStore({ dataDir: store.location, ...identity });
    case "postgres":
      return openPostgresStore({ url: store.location, ...identity });
    case "jsonl":
      return openJsonlStore({ path: store.location, ...identity });
  }
}
