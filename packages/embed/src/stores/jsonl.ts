import { createReadStream } from "node:fs";
import { type FileHandle, mkdir, open, rename, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import { createInterface } from "node:readline";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/discover.ts";
import {
  type ChunkRecord,
  lastById,
  type SearchHit,
  type StoreIdentity,
  type StoreStats,
  type VectorStore,
  VectorStoreError,
  validateQuery,
  validateRecords,
} from "./vector-store.ts";

/** Options of {@link openJsonlStore}. */
export interface JsonlStoreOptions extends StoreIdentity {
  /** The `.jsonl` file; created with its folder if missing. */
  readonly path: string;
}

type Line =
  | { type: "meta"; schemaVersion: number; embedderId: string; dimensions: number }
  | ({ type: "chunk" } & ChunkRecord)
  | { type: "file"; path: string; fileHash: string }
  | { type: "commit"; path: string; fileHash: string; chunkIds: string[] }
  | { type: "delete-path"; path: string };

const SCHEMA_VERSION = 1;

/**
 * A JSON Lines file store: one JSON object per line, readable with any tool. Writes append to the
 * file (an upsert of an existing id appends its new version; a commit or delete appends an
 * operation) and an in-memory index holds the live state, so upserts stay idempotent by id
 * without rewriting the file. `close()` compacts the file to one line per live chunk and file
 * when anything was superseded. Search is exact: brute-force cosine over all chunks in memory,
 * so this store suits corpora that fit in memory.
 */
export async function openJsonlStore(options: JsonlStoreOptions): Promise<VectorStore> {
  if (!Number.isInteger(options.dimensions) || options.dimensions < 1) {
    throw new VectorStoreError(
      "invalid-argument",
      `dimensions must be a positive integer, got ${options.dimensions}`,
    );
  }
  await mkdir(dirname(options.path), { recursive: true });
  const state = new JsonlState();
  const exists = await stat(options.path).then(
    () => true,
    () => false,
  );
  if (exists) {
    const { goodBytes, totalBytes, lines } = await state.load(options.path, options);
    // A torn last line (a crash mid-write) is cut off so the next append starts on a fresh line.
    if (goodBytes < totalBytes) await truncate(options.path, goodBytes);
    state.lineCount = lines;
  }
  const handle = await open(options.path, "a");
  const store = new JsonlStore(options, state, handle);
  if (!exists) await store.append([metaLine(options)]);
  return store;
}

async function lastByte(path: string, size: number): Promise<number | undefined> {
  const handle = await open(path, "r");
  try {
    const { buffer } = await handle.read(Buffer.alloc(1), 0, 1, size - 1);
    return buffer[0];
  } finally {
    await handle.close();
  }
}

function metaLine(identity: StoreIdentity): Line {
  return {
    type: "meta",
    schemaVersion: SCHEMA_VERSION,
    embedderId: identity.embedderId,
    dimensions: identity.dimensions,
  };
}

class JsonlState {
  readonly chunks = new Map<string, ChunkRecord>();
  readonly files = new Map<string, string>();
  lineCount = 0;

  /**
   * Replays the file into memory. A last line without its newline is a write torn by a crash: it
   * is ignored, and `goodBytes` (the length of the whole lines) tells the caller where to cut.
   * Any other line that is not valid JSON makes the store corrupt.
   */
  async load(
    path: string,
    identity: StoreIdentity,
  ): Promise<{ goodBytes: number; totalBytes: number; lines: number }> {
    const totalBytes = (await stat(path)).size;
    const endsWithNewline = totalBytes === 0 || (await lastByte(path, totalBytes)) === 0x0a;
    const input = createReadStream(path, { encoding: "utf8" });
    const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
    let goodBytes = 0;
    let lineNumber = 0;
    let previous: string | undefined;
    const consume = (raw: string) => {
      lineNumber += 1;
      goodBytes += Buffer.byteLength(raw) + 1;
      if (raw.trim() === "") return;
      let line: Line;
      try {
        line = JSON.parse(raw) as Line;
      } catch {
        throw new VectorStoreError("corrupt", `${path}:${lineNumber}: not valid JSON`);
      }
      if (lineNumber === 1) this.checkMeta(line, identity, path);
      else this.apply(line, path, lineNumber);
    };
    try {
      // One line behind, so the last line is known to be last when it is handled.
      for await (const raw of reader) {
        if (previous !== undefined) consume(previous);
        previous = raw;
      }
      if (previous !== undefined && endsWithNewline) consume(previous);
    } finally {
      reader.close();
      input.destroy();
    }
    if (lineNumber === 0) throw new VectorStoreError("corrupt", `${path}: has no meta line`);
    return { goodBytes, totalBytes, lines: lineNumber };
  }

  private checkMeta(line: Line, identity: StoreIdentity, path: string): void {
    if (line.type !== "meta") {
      throw new VectorStoreError("corrupt", `${path}:1: expected the store's meta line`);
    }
    if (line.embedderId !== identity.embedderId || line.dimensions !== identity.dimensions) {
      throw new VectorStoreError(
        "identity-mismatch",
        `store ${path} holds vectors of embedder ${line.embedderId} with ${line.dimensions} dimensions, ` +
          `not ${identity.embedderId} with ${identity.dimensions}; use another file or delete it to re-embed`,
      );
    }
  }

  apply(line: Line, path = "", lineNumber = 0): void {
    switch (line.type) {
      case "chunk": {
        const { type: _type, ...record } = line;
        this.chunks.set(record.id, record);
        return;
      }
      case "file":
        this.files.set(line.path, line.fileHash);
        return;
      case "commit": {
        const keep = new Set(line.chunkIds);
        for (const [id, record] of this.chunks) {
          if (record.path === line.path && !keep.has(id)) this.chunks.delete(id);
        }
        this.files.set(line.path, line.fileHash);
        return;
      }
      case "delete-path":
        for (const [id, record] of this.chunks)
          if (record.path === line.path) this.chunks.delete(id);
        this.files.delete(line.path);
        return;
      default:
        throw new VectorStoreError("corrupt", `${path}:${lineNumber}: unknown line type`);
    }
  }

  /** Lines of a compacted file: what the live state needs and nothing superseded. */
  liveLineCount(): number {
    return 1 + this.files.size + this.chunks.size;
  }
}

class JsonlStore implements VectorStore {
  readonly kind = "jsonl" as const;
  private closed = false;
  /** Writes run one after another; each waits for the previous to finish. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: JsonlStoreOptions,
    private readonly state: JsonlState,
    private handle: FileHandle,
  ) {}

  get dimensions(): number {
    return this.options.dimensions;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private assertOpen(): void {
    if (this.closed)
      throw new VectorStoreError("closed", `the jsonl store ${this.options.path} is closed`);
  }

  /** Appends lines to the file, then applies them to memory (so memory never runs ahead of disk). */
  append(lines: readonly Line[]): Promise<void> {
    return this.serial(async () => {
      if (lines.length === 0) return;
      await this.handle.appendFile(`${lines.map((l) => JSON.stringify(l)).join("\n")}\n`, "utf8");
      for (const line of lines) if (line.type !== "meta") this.state.apply(line);
      this.state.lineCount += lines.length;
    });
  }

  async upsert(records: readonly ChunkRecord[]): Promise<void> {
    this.assertOpen();
    validateRecords(records, this.dimensions);
    await this.append(
      lastById(records).map((r) => ({
        type: "chunk" as const,
        id: r.id,
        path: r.path,
        ordinal: r.ordinal,
        text: r.text,
        startLine: r.startLine,
        endLine: r.endLine,
        metadata: r.metadata,
        vector: [...r.vector],
      })),
    );
  }

  async commitFile(path: string, fileHash: string, chunkIds: readonly string[]): Promise<void> {
    this.assertOpen();
    const ids = [...new Set(chunkIds)];
    const missing = ids.filter((id) => this.state.chunks.get(id)?.path !== path);
    if (missing.length > 0) {
      throw new VectorStoreError(
        "missing-chunks",
        `cannot commit ${path}: ${missing.length} of its ${ids.length} chunks were never upserted`,
      );
    }
    await this.append([{ type: "commit", path, fileHash, chunkIds: ids }]);
  }

  async deleteByPath(path: string): Promise<void> {
    this.assertOpen();
    await this.append([{ type: "delete-path", path }]);
  }

  async fileHashes(): Promise<Map<string, string>> {
    this.assertOpen();
    await this.queue;
    return new Map(this.state.files);
  }

  async listPaths(): Promise<string[]> {
    this.assertOpen();
    await this.queue;
    const paths = new Set(this.state.files.keys());
    for (const record of this.state.chunks.values()) paths.add(record.path);
    return [...paths].sort(compareCodeUnits);
  }

  async search(vector: readonly number[], k: number): Promise<SearchHit[]> {
    this.assertOpen();
    validateQuery(vector, k, this.dimensions);
    await this.queue;
    const queryNorm = Math.hypot(...vector);
    if (queryNorm === 0) return [];
    const scored: { record: ChunkRecord; score: number }[] = [];
    for (const record of this.state.chunks.values()) {
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < vector.length; i++) {
        const x = record.vector[i] as number;
        dot += x * (vector[i] as number);
        norm += x * x;
      }
      // A zero vector is similar to nothing; pgvector agrees by returning NaN for it.
      if (norm === 0) continue;
      scored.push({ record, score: dot / (Math.sqrt(norm) * queryNorm) });
    }
    scored.sort((a, b) => b.score - a.score || compareCodeUnits(a.record.id, b.record.id));
    return scored.slice(0, k).map(({ record, score }) => ({
      id: record.id,
      path: record.path,
      ordinal: record.ordinal,
      text: record.text,
      startLine: record.startLine,
      endLine: record.endLine,
      metadata: record.metadata as JsonObject,
      score,
    }));
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    await this.queue;
    return {
      chunks: this.state.chunks.size,
      files: this.state.files.size,
      dimensions: this.dimensions,
      embedderId: this.options.embedderId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial(async () => {
      await this.handle.close();
      if (this.state.lineCount > this.state.liveLineCount()) await this.compact();
    });
  }

  /** Rewrites the file with only live lines, through a temporary file and an atomic rename. */
  private async compact(): Promise<void> {
    const temporary = `${this.options.path}.${process.pid}.tmp`;
    const out = await open(temporary, "w");
    try {
      const write = (line: Line) => out.write(`${JSON.stringify(line)}\n`);
      await write(metaLine(this.options));
      const files = [...this.state.files].sort(([a], [b]) => compareCodeUnits(a, b));
      for (const [path, fileHash] of files) await write({ type: "file", path, fileHash });
      const chunks = [...this.state.chunks.values()].sort(
        (a, b) =>
          compareCodeUnits(a.path, b.path) || a.ordinal - b.ordinal || compareCodeUnits(a.id, b.id),
      );
      for (const record of chunks) await write({ type: "chunk", ...record });
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temporary, this.options.path);
  }
}
