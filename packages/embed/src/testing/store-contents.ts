import { storeKindOf } from "../config.ts";
import { openVectorStore } from "../stores/open.ts";
import type { CollectionInfo } from "../stores/vector-store.ts";

/** What a store holds, as its public API shows it, canonically ordered: for comparing stores. */
export interface StoreContents {
  readonly collections: readonly CollectionInfo[];
  /** collection → path → committed file hash. */
  readonly files: Readonly<Record<string, Readonly<Record<string, string>>>>;
  /** Every chunk without its vector, as `collection|path|ordinal|id|lines|text|metadata`, sorted. */
  readonly chunks: readonly string[];
}

/**
 * Reads every collection, file hash and chunk of a store through a read-only open (so it works
 * on any kind, and next to a running writer). Chunks are listed by an exact vector search for
 * as many hits as the store holds.
 */
export async function storeContents(
  location: string,
  kind = storeKindOf(location),
): Promise<StoreContents> {
  const store = await openVectorStore({ kind, location }, { mode: "read" });
  try {
    const collections = await store.collections();
    const files: Record<string, Record<string, string>> = {};
    for (const c of collections) {
      files[c.collection] = Object.fromEntries(
        [...(await store.fileHashes(c.collection))].sort(([a], [b]) =>
          a < b ? -1 : a > b ? 1 : 0,
        ),
      );
    }
    const { chunks: count } = await store.stats();
    const hits =
      count === 0
        ? []
        : await store.search({
            mode: "vector",
            vector: new Array(store.dimensions).fill(1),
            k: count,
          });
    const chunks = hits
      .map((h) =>
        [
          h.collection,
          h.path,
          h.ordinal,
          h.id,
          `${h.startLine}-${h.endLine}`,
          h.text,
          JSON.stringify(h.metadata),
        ].join("|"),
      )
      .sort();
    return { collections, files, chunks };
  } finally {
    await store.close();
  }
}
