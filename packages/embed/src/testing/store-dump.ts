import { readFile } from "node:fs/promises";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/discover.ts";
import { createPgliteDatabase } from "../stores/pglite.ts";
import type { ChunkRecord } from "../stores/vector-store.ts";

/** Everything a store holds, in a canonical order: for comparing two stores in tests. */
export interface StoreDump {
  readonly chunks: readonly ChunkRecord[];
  /** path → committed file hash. */
  readonly files: Readonly<Record<string, string>>;
}

function canonical(chunks: Iterable<ChunkRecord>, files: Iterable<[string, string]>): StoreDump {
  return {
    chunks: [...chunks].sort(
      (a, b) =>
        compareCodeUnits(a.path, b.path) || a.ordinal - b.ordinal || compareCodeUnits(a.id, b.id),
    ),
    files: Object.fromEntries([...files].sort(([a], [b]) => compareCodeUnits(a, b))),
  };
}

/** Replays a closed JSONL store file (the same rules as the store: last write wins). */
export async function dumpJsonlStore(path: string): Promise<StoreDump> {
  const chunks = new Map<string, ChunkRecord>();
  const files = new Map<string, string>();
  const text = await readFile(path, "utf8");
  for (const raw of text.split("\n")) {
    if (raw.trim() === "") continue;
    const line = JSON.parse(raw) as { type: string } & Record<string, unknown>;
    const linePath = line.path as string;
    if (line.type === "chunk") {
      const { type: _type, ...record } = line;
      chunks.set(record.id as string, record as unknown as ChunkRecord);
    } else if (line.type === "file") {
      files.set(linePath, line.fileHash as string);
    } else if (line.type === "commit") {
      const keep = new Set(line.chunkIds as string[]);
      for (const [id, r] of chunks) if (r.path === linePath && !keep.has(id)) chunks.delete(id);
      files.set(linePath, line.fileHash as string);
    } else if (line.type === "delete-path") {
      for (const [id, r] of chunks) if (r.path === linePath) chunks.delete(id);
      files.delete(linePath);
    }
  }
  return canonical(chunks.values(), files);
}

/** Reads every row of a closed PGlite store folder (default table prefix). */
export async function dumpPgliteStore(dataDir: string): Promise<StoreDump> {
  const db = await createPgliteDatabase(dataDir);
  try {
    const rows = await db.query<{
      id: string;
      path: string;
      ordinal: number;
      text: string;
      start_line: number;
      end_line: number;
      metadata: JsonObject;
      embedding: string;
    }>(
      "SELECT id, path, ordinal, text, start_line, end_line, metadata, embedding::text AS embedding FROM sluice_chunks",
    );
    const files = await db.query<{ path: string; file_hash: string }>(
      "SELECT path, file_hash FROM sluice_files",
    );
    return canonical(
      rows.rows.map((r) => ({
        id: r.id,
        path: r.path,
        ordinal: r.ordinal,
        text: r.text,
        startLine: r.start_line,
        endLine: r.end_line,
        metadata: r.metadata,
        vector: JSON.parse(r.embedding) as number[],
      })),
      files.rows.map((r) => [r.path, r.file_hash] as [string, string]),
    );
  } finally {
    await db.close();
  }
}
