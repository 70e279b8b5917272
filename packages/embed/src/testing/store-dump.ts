import { readFile } from "node:fs/promises";
import type { PGlite } from "@electric-sql/pglite";
import { compareCodeUnits } from "../steps/code-unit-order.ts";
import { createPgliteDatabase } from "../stores/pglite.ts";
import {
  type ChunkRecord,
  type ChunkRow,
  type Collection,
  hitOfRow,
} from "../stores/vector-store.ts";

/** Everything a store holds, in a canonical order: for comparing two stores in tests. */
export interface StoreDump {
  /** Sorted by collection, path, ordinal and id. */
  readonly chunks: readonly ChunkRecord[];
  /** collection → path → committed file hash; collections without a committed file are left out. */
  readonly files: Readonly<Record<Collection, Readonly<Record<string, string>>>>;
}

/** A committed file as a dump lists it. */
type FileRow = readonly [collection: Collection, path: string, hash: string];

function canonical(chunks: Iterable<ChunkRecord>, files: Iterable<FileRow>): StoreDump {
  const byCollection = new Map<Collection, [string, string][]>();
  for (const [collection, path, hash] of files) {
    const list = byCollection.get(collection) ?? [];
    list.push([path, hash]);
    byCollection.set(collection, list);
  }
  return {
    chunks: [...chunks].sort(
      (a, b) =>
        compareCodeUnits(a.collection, b.collection) ||
        compareCodeUnits(a.path, b.path) ||
        a.ordinal - b.ordinal ||
        compareCodeUnits(a.id, b.id),
    ),
    files: Object.fromEntries(
      [...byCollection]
        .sort(([a], [b]) => compareCodeUnits(a, b))
        .map(([collection, list]) => [
          collection,
          Object.fromEntries(list.sort(([a], [b]) => compareCodeUnits(a, b))),
        ]),
    ),
  };
}

/**
 * The committed files of a dump's one collection, path → hash (empty when it has none): for tests
 * of a store that holds a single root. Throws when the dump holds several collections.
 */
export function onlyCollectionFiles(dump: StoreDump): Readonly<Record<string, string>> {
  const collections = Object.keys(dump.files);
  if (collections.length > 1) {
    throw new Error(`the dump holds ${collections.length} collections: ${collections.join(", ")}`);
  }
  return dump.files[collections[0] as Collection] ?? {};
}

/** Replays a closed JSONL store file (the same rules as the store: last write wins). */
export async function dumpJsonlStore(path: string): Promise<StoreDump> {
  const chunks = new Map<string, ChunkRecord>();
  const files = new Map<string, FileRow>();
  const key = (collection: unknown, path: unknown) => `${collection}\u0000${path}`;
  const text = await readFile(path, "utf8");
  // The last line may be torn by a crash: the store ignores it, and so does the dump.
  const whole = text.endsWith("\n") ? text : text.slice(0, text.lastIndexOf("\n") + 1);
  for (const raw of whole.split("\n")) {
    if (raw.trim() === "") continue;
    const line = JSON.parse(raw) as { type: string } & Record<string, unknown>;
    const collection = line.collection as Collection;
    const linePath = line.path as string;
    const inFile = (r: ChunkRecord) => r.collection === collection && r.path === linePath;
    if (line.type === "chunk") {
      const { type: _type, ...record } = line;
      chunks.set(record.id as string, record as unknown as ChunkRecord);
    } else if (line.type === "file") {
      files.set(key(collection, linePath), [collection, linePath, line.fileHash as string]);
    } else if (line.type === "commit") {
      const keep = new Set(line.chunkIds as string[]);
      for (const [id, r] of chunks) if (inFile(r) && !keep.has(id)) chunks.delete(id);
      files.set(key(collection, linePath), [collection, linePath, line.fileHash as string]);
    } else if (line.type === "delete-path") {
      for (const [id, r] of chunks) if (inFile(r)) chunks.delete(id);
      files.delete(key(collection, linePath));
    } else if (line.type === "delete-collection") {
      for (const [id, r] of chunks) if (r.collection === collection) chunks.delete(id);
      for (const [k, row] of files) if (row[0] === collection) files.delete(k);
    }
  }
  return canonical(chunks.values(), files.values());
}

/** Reads every row of a closed PGlite store folder (default table prefix). */
export async function dumpPgliteStore(dataDir: string): Promise<StoreDump> {
  const db = await createPgliteDatabase(dataDir);
  try {
    return await dumpPgliteDatabase(db);
  } finally {
    await db.close();
  }
}

/**
 * Reads every row of the store (default table prefix) in an open PGlite database: one a
 * test serves over the wire protocol, say (see `startPostgresEndpoint`).
 */
export async function dumpPgliteDatabase(db: PGlite): Promise<StoreDump> {
  const rows = await db.query<ChunkRow & { embedding: string }>(
    "SELECT id, collection, path, ordinal, text, start_line, end_line, metadata, embedding::text AS embedding FROM sluice_chunks",
  );
  const files = await db.query<{ collection: string; path: string; file_hash: string }>(
    "SELECT collection, path, file_hash FROM sluice_files",
  );
  return canonical(
    rows.rows.map((r) => ({ ...hitOfRow(r), vector: JSON.parse(r.embedding) as number[] })),
    files.rows.map((r) => [r.collection, r.path, r.file_hash] as const),
  );
}

/**
 * Reads every row of a closed SQLite store file, opened read-only. A chunk whose vector is all
 * zeros has no row in the vector table (it is similar to nothing): it is dumped with zeros.
 */
export async function dumpSqliteStore(path: string): Promise<StoreDump> {
  const { default: Database } = await import("better-sqlite3");
  const sqliteVec = await import("sqlite-vec");
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    sqliteVec.load(db);
    const dimensions = Number(
      (db.prepare("SELECT value FROM meta WHERE key = 'dimensions'").get() as { value: string })
        .value,
    );
    const rows = db
      .prepare(
        `SELECT c.id, c.collection, c.path, c.ordinal, c.text, c.start_line, c.end_line, c.metadata,
                v.embedding AS embedding
         FROM chunks AS c LEFT JOIN chunks_vec AS v ON v.rowid = c.rowid`,
      )
      .all() as (ChunkRow & { embedding: Buffer | null })[];
    const files = db.prepare("SELECT collection, path, hash FROM files").all() as {
      collection: string;
      path: string;
      hash: string;
    }[];
    return canonical(
      rows.map((r) => ({
        ...hitOfRow(r),
        vector:
          r.embedding === null
            ? new Array<number>(dimensions).fill(0)
            : // A copy: a Buffer's offset need not be a multiple of 4, as Float32Array wants.
              Array.from(new Float32Array(Uint8Array.from(r.embedding).buffer)),
      })),
      files.map((r) => [r.collection, r.path, r.hash] as const),
    );
  } finally {
    db.close();
  }
}
