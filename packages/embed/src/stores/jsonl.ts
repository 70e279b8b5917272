import { type FileHandle, mkdir, open, rename, stat, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/discover.ts";
import { BufferedWriter, DEFAULT_WINDOW_BYTES, LineReader, scanLines } from "./jsonl-file.ts";
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
  /**
   * Size of the reads when the store scans or reads back its file (opening, search, compaction);
   * default 1 MiB. Small values are for tests.
   */
  readonly readBytes?: number;
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
 * operation), so upserts stay idempotent by id without rewriting the file. `close()` compacts the
 * file to one line per live chunk and file when anything was superseded.
 *
 * Memory does not grow with the chunks' text or vectors: an in-memory index holds, per live chunk
 * id, its path, ordinal and where its latest line is in the file (about 140 bytes per chunk), and
 * per file its committed hash and chunk ids. Search and compaction read the records back from the
 * file, one at a time. Search is exact: brute-force cosine over every live chunk, one pass over
 * the file.
 */
export async function openJsonlStore(options: JsonlStoreOptions): Promise<VectorStore> {
  if (!Number.isInteger(options.dimensions) || options.dimensions < 1) {
    throw new VectorStoreError(
      "invalid-argument",
      `dimensions must be a positive integer, got ${options.dimensions}`,
    );
  }
  await mkdir(dirname(options.path), { recursive: true });
  const index = new JsonlIndex();
  const exists = await stat(options.path).then(
    () => true,
    () => false,
  );
  if (exists) {
    const { goodBytes, totalBytes } = await index.load(options.path, options);
    // A torn last line (a crash mid-write) is cut off so the next append starts on a fresh line.
    if (goodBytes < totalBytes) await truncate(options.path, goodBytes);
  }
  const handle = await open(options.path, "a");
  const store = new JsonlStore(options, index, handle);
  if (!exists) await store.append([metaLine(options)]);
  return store;
}

function metaLine(identity: StoreIdentity): Line {
  return {
    type: "meta",
    schemaVersion: SCHEMA_VERSION,
    embedderId: identity.embedderId,
    dimensions: identity.dimensions,
  };
}

/**
 * The live chunks at one moment, as slots of the index's columns: a list of slots (to sort as
 * needed) and each slot's id. About 12 bytes per chunk, rather than an object each.
 */
interface LiveChunks {
  readonly slots: Int32Array;
  /** Id by slot (holes for free slots). */
  readonly ids: readonly (string | undefined)[];
}

/** What the index holds per path. */
interface PathEntry {
  readonly path: string;
  /** Committed file hash, if any. */
  hash: string | undefined;
  /** Ids of the path's live chunks. */
  ids: string[];
}

const FIRST_CAPACITY = 1024;

/**
 * The live state of a store without the records themselves: it is what idempotent upserts,
 * commits, deletes, the sync plan and the stats need, while text and vectors stay in the file.
 * Per live chunk: its id (a map key) and, in typed-array columns at the chunk's slot, its path's
 * number, ordinal and the position of its latest line; per path: its committed hash and chunk
 * ids. About 140 bytes per chunk, whatever the size of its text and vector.
 */
class JsonlIndex {
  /** Live chunk id → slot in the columns. */
  private readonly slots = new Map<string, number>();
  private pathColumn = new Int32Array(FIRST_CAPACITY);
  private ordinalColumn = new Float64Array(FIRST_CAPACITY);
  private offsetColumn = new Float64Array(FIRST_CAPACITY);
  private lengthColumn = new Float64Array(FIRST_CAPACITY);
  /** Slots in use so far; freed ones are reused first. */
  private slotCount = 0;
  private readonly freeSlots: number[] = [];
  /** Paths by number (a path keeps its number once seen) and numbers by path. */
  private readonly paths: PathEntry[] = [];
  private readonly pathNumbers = new Map<string, number>();
  /** Paths with a committed hash. */
  fileCount = 0;
  /** Lines in the file, blank ones included. */
  lineCount = 0;
  /** Bytes of whole lines in the file: where the next line starts. */
  bytes = 0;

  /**
   * Replays the file into the index. A last line without its newline is a write torn by a crash:
   * it is ignored, and `goodBytes` (the length of the whole lines) tells the caller where to cut.
   * Any other line that is not valid JSON makes the store corrupt.
   */
  async load(
    path: string,
    identity: StoreIdentity & { readonly readBytes?: number },
  ): Promise<{ goodBytes: number; totalBytes: number }> {
    const handle = await open(path, "r");
    let totalBytes: number;
    let lineNumber = 0;
    let goodBytes = 0;
    try {
      totalBytes = (await handle.stat()).size;
      for await (const raw of scanLines(handle, totalBytes, identity.readBytes)) {
        lineNumber += 1;
        goodBytes = raw.offset + raw.length + 1;
        if (raw.text.trim() === "") continue;
        let line: Line;
        try {
          line = JSON.parse(raw.text) as Line;
        } catch {
          throw new VectorStoreError("corrupt", `${path}:${lineNumber}: not valid JSON`);
        }
        if (lineNumber === 1) checkMeta(line, identity, path);
        else this.apply(line, raw.offset, raw.length, `${path}:${lineNumber}`);
      }
    } finally {
      await handle.close();
    }
    if (lineNumber === 0) throw new VectorStoreError("corrupt", `${path}: has no meta line`);
    this.lineCount = lineNumber;
    this.bytes = goodBytes;
    return { goodBytes, totalBytes };
  }

  /** Applies one line that starts at byte `offset` and is `length` bytes long. */
  apply(line: Line, offset: number, length: number, where = ""): void {
    switch (line.type) {
      case "chunk": {
        const { id, path, ordinal } = line;
        if (typeof id !== "string" || typeof path !== "string" || !Number.isFinite(ordinal)) {
          throw new VectorStoreError("corrupt", `${where}: chunk line without id, path or ordinal`);
        }
        const number = this.pathNumber(path);
        let slot = this.slots.get(id);
        if (slot === undefined) {
          slot = this.newSlot();
          this.slots.set(id, slot);
          (this.paths[number] as PathEntry).ids.push(id);
        } else if (this.pathColumn[slot] !== number) {
          this.removeId(this.pathColumn[slot] as number, id);
          (this.paths[number] as PathEntry).ids.push(id);
        }
        this.pathColumn[slot] = number;
        this.ordinalColumn[slot] = ordinal;
        this.offsetColumn[slot] = offset;
        this.lengthColumn[slot] = length;
        return;
      }
      case "file":
        this.setHash(line.path, line.fileHash);
        return;
      case "commit": {
        const entry = this.pathEntry(line.path);
        if (entry !== undefined && entry.ids.length > 0) {
          const keep = new Set(line.chunkIds);
          const kept: string[] = [];
          for (const id of entry.ids) {
            if (keep.has(id)) kept.push(id);
            else this.dropChunk(id);
          }
          // A copy is allocated at its length; a list grown by push keeps spare room.
          entry.ids = kept.slice();
        }
        this.setHash(line.path, line.fileHash);
        return;
      }
      case "delete-path": {
        const entry = this.pathEntry(line.path);
        if (entry === undefined) return;
        for (const id of entry.ids) this.dropChunk(id);
        entry.ids = [];
        if (entry.hash !== undefined) this.fileCount -= 1;
        entry.hash = undefined;
        return;
      }
      default:
        throw new VectorStoreError("corrupt", `${where}: unknown line type`);
    }
  }

  /** Live chunks. */
  get chunkCount(): number {
    return this.slots.size;
  }

  /** The path of a live chunk, or undefined. */
  pathOf(id: string): string | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.paths[this.pathColumn[slot] as number]?.path;
  }

  /** Every live chunk (a snapshot, built on demand). */
  liveChunks(): LiveChunks {
    const slots = new Int32Array(this.slots.size);
    const ids = new Array<string | undefined>(this.slotCount);
    let n = 0;
    for (const [id, slot] of this.slots) {
      slots[n++] = slot;
      ids[slot] = id;
    }
    return { slots, ids };
  }

  /** The path of the chunk at `slot`. */
  pathAt(slot: number): string {
    return (this.paths[this.pathColumn[slot] as number] as PathEntry).path;
  }

  /** The ordinal of the chunk at `slot`. */
  ordinalAt(slot: number): number {
    return this.ordinalColumn[slot] as number;
  }

  /** Where the latest line of the chunk at `slot` starts, and its length in bytes. */
  lineAt(slot: number): { offset: number; length: number } {
    return { offset: this.offsetColumn[slot] as number, length: this.lengthColumn[slot] as number };
  }

  /** The byte offset of the latest line of the chunk at `slot`. */
  offsetAt(slot: number): number {
    return this.offsetColumn[slot] as number;
  }

  /** Committed paths and their hashes. */
  files(): Map<string, string> {
    const files = new Map<string, string>();
    for (const entry of this.paths) if (entry.hash !== undefined) files.set(entry.path, entry.hash);
    return files;
  }

  /** Paths with a committed hash or some chunk. */
  listPaths(): string[] {
    return this.paths
      .filter((entry) => entry.hash !== undefined || entry.ids.length > 0)
      .map((entry) => entry.path);
  }

  /** Lines of a compacted file: what the live state needs and nothing superseded. */
  liveLineCount(): number {
    return 1 + this.fileCount + this.slots.size;
  }

  private pathEntry(path: string): PathEntry | undefined {
    const number = this.pathNumbers.get(path);
    return number === undefined ? undefined : this.paths[number];
  }

  private pathNumber(path: string): number {
    let number = this.pathNumbers.get(path);
    if (number === undefined) {
      number = this.paths.length;
      this.paths.push({ path, hash: undefined, ids: [] });
      this.pathNumbers.set(path, number);
    }
    return number;
  }

  private setHash(path: string, hash: string): void {
    const entry = this.paths[this.pathNumber(path)] as PathEntry;
    if (entry.hash === undefined) this.fileCount += 1;
    entry.hash = hash;
  }

  /** Forgets a live chunk (its path's id list is the caller's to update). */
  private dropChunk(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    this.slots.delete(id);
    this.freeSlots.push(slot);
  }

  private removeId(pathNumber: number, id: string): void {
    const entry = this.paths[pathNumber];
    if (entry === undefined) return;
    const at = entry.ids.indexOf(id);
    if (at !== -1) entry.ids.splice(at, 1);
  }

  private newSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    if (this.slotCount === this.pathColumn.length) {
      const capacity = this.slotCount * 2;
      const grow = <A extends Int32Array | Float64Array>(column: A, make: (n: number) => A): A => {
        const bigger = make(capacity);
        bigger.set(column);
        return bigger;
      };
      this.pathColumn = grow(this.pathColumn, (n) => new Int32Array(n));
      this.ordinalColumn = grow(this.ordinalColumn, (n) => new Float64Array(n));
      this.offsetColumn = grow(this.offsetColumn, (n) => new Float64Array(n));
      this.lengthColumn = grow(this.lengthColumn, (n) => new Float64Array(n));
    }
    return this.slotCount++;
  }
}

function checkMeta(line: Line, identity: StoreIdentity, path: string): void {
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

/** The chunk line `raw` as a record, or null unless it is a chunk line of `id`. */
function parseChunkLine(raw: Buffer, id: string): ChunkRecord | null {
  try {
    const line = JSON.parse(raw.toString("utf8")) as Line;
    return line.type === "chunk" && line.id === id ? line : null;
  } catch {
    return null;
  }
}

/** Whether `raw` starts as this store writes chunk `id`'s line (checked without parsing it). */
function hasChunkPrefix(raw: Buffer, id: string): boolean {
  const prefix = `{"type":"chunk","id":${JSON.stringify(id)},`;
  return raw.length > prefix.length && raw.toString("utf8", 0, prefix.length) === prefix;
}

/** Search results in order: best score first, then by id. */
function compareHits(a: SearchHit, b: SearchHit): number {
  return b.score - a.score || compareCodeUnits(a.id, b.id);
}

class JsonlStore implements VectorStore {
  readonly kind = "jsonl" as const;
  private closed = false;
  /** File operations run one after another; each waits for the previous to finish. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly options: JsonlStoreOptions,
    private readonly index: JsonlIndex,
    private handle: FileHandle,
  ) {}

  get dimensions(): number {
    return this.options.dimensions;
  }

  private get readBytes(): number {
    return this.options.readBytes ?? DEFAULT_WINDOW_BYTES;
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

  /** Appends lines to the file, then applies them to the index (so it never runs ahead of disk). */
  append(lines: readonly Line[]): Promise<void> {
    return this.serial(() => this.appendNow(lines));
  }

  /** {@link append} without waiting its turn: only from a task that already has it. */
  private async appendNow(lines: readonly Line[]): Promise<void> {
    if (lines.length === 0) return;
    const texts = lines.map((l) => JSON.stringify(l));
    try {
      await this.handle.appendFile(`${texts.join("\n")}\n`, "utf8");
    } catch (error) {
      // Part of the text may have reached the file: later lines start where the file ends.
      this.index.bytes = await this.handle.stat().then(
        (info) => info.size,
        () => this.index.bytes,
      );
      throw error;
    }
    let offset = this.index.bytes;
    lines.forEach((line, i) => {
      const length = Buffer.byteLength(texts[i] as string);
      if (line.type !== "meta") this.index.apply(line, offset, length);
      offset += length + 1;
    });
    this.index.bytes = offset;
    this.index.lineCount += lines.length;
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
    // In turn, after the writes already queued: upserts still on their way count.
    await this.serial(async () => {
      const missing = ids.filter((id) => this.index.pathOf(id) !== path);
      if (missing.length > 0) {
        throw new VectorStoreError(
          "missing-chunks",
          `cannot commit ${path}: ${missing.length} of its ${ids.length} chunks were never upserted`,
        );
      }
      await this.appendNow([{ type: "commit", path, fileHash, chunkIds: ids }]);
    });
  }

  async deleteByPath(path: string): Promise<void> {
    this.assertOpen();
    await this.append([{ type: "delete-path", path }]);
  }

  async fileHashes(): Promise<Map<string, string>> {
    this.assertOpen();
    await this.queue;
    return this.index.files();
  }

  async listPaths(): Promise<string[]> {
    this.assertOpen();
    await this.queue;
    return this.index.listPaths().sort(compareCodeUnits);
  }

  async search(vector: readonly number[], k: number): Promise<SearchHit[]> {
    this.assertOpen();
    validateQuery(vector, k, this.dimensions);
    const queryNorm = Math.hypot(...vector);
    if (queryNorm === 0) {
      await this.queue;
      return [];
    }
    // One pass over the file in file order, reading only the live lines; no write runs meanwhile.
    return this.serial(async () => {
      const live = this.index.liveChunks();
      const index = this.index;
      live.slots.sort((a, b) => index.offsetAt(a) - index.offsetAt(b));
      // The best hits so far; sorted and cut back to k whenever it doubles, so memory stays O(k).
      let best: SearchHit[] = [];
      const limit = Math.max(2 * k, 1024);
      await this.readLines(live, true, (id, record) => {
        let dot = 0;
        let norm = 0;
        for (let i = 0; i < vector.length; i++) {
          const x = record.vector[i] as number;
          dot += x * (vector[i] as number);
          norm += x * x;
        }
        // A zero vector is similar to nothing; pgvector agrees by returning NaN for it.
        if (norm === 0) return;
        best.push({
          id,
          path: record.path,
          ordinal: record.ordinal,
          text: record.text,
          startLine: record.startLine,
          endLine: record.endLine,
          metadata: record.metadata as JsonObject,
          score: dot / (Math.sqrt(norm) * queryNorm),
        });
        if (best.length >= limit) best = best.sort(compareHits).slice(0, k);
      });
      return best.sort(compareHits).slice(0, k);
    });
  }

  /**
   * Reads the lines of `entries` from the file, in the order given, and hands each one to `each`
   * (parsed with `parse`; raw bytes, valid until `each` returns, in any case). A line that no
   * longer holds its chunk means the file was changed under the store.
   */
  private async readLines<P extends boolean>(
    live: LiveChunks,
    parse: P,
    each: (
      id: string,
      record: P extends true ? ChunkRecord : undefined,
      raw: Buffer,
    ) => void | Promise<void>,
  ): Promise<void> {
    if (live.slots.length === 0) return;
    const input = await open(this.options.path, "r");
    try {
      const reader = new LineReader(input, this.readBytes);
      for (const slot of live.slots) {
        const id = live.ids[slot] as string;
        const { offset, length } = this.index.lineAt(slot);
        const raw = await reader.read(offset, length);
        const record = parse || !hasChunkPrefix(raw, id) ? parseChunkLine(raw, id) : undefined;
        if (record === null) {
          throw new VectorStoreError(
            "corrupt",
            `${this.options.path}: the line of chunk ${id} at byte ${offset} has changed; was the file edited while the store was open?`,
          );
        }
        await each(id, record as P extends true ? ChunkRecord : undefined, raw);
      }
    } finally {
      await input.close();
    }
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    await this.queue;
    return {
      chunks: this.index.chunkCount,
      files: this.index.fileCount,
      dimensions: this.dimensions,
      embedderId: this.options.embedderId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial(async () => {
      await this.handle.close();
      if (this.index.lineCount > this.index.liveLineCount()) await this.compact();
    });
  }

  /**
   * Rewrites the file with only live lines (files sorted by path, then chunks by path, ordinal
   * and id), through a temporary file and an atomic rename. Each chunk's latest line is copied
   * from the old file as it is, read through a window: memory stays flat however big the file.
   */
  private async compact(): Promise<void> {
    const temporary = `${this.options.path}.${process.pid}.tmp`;
    const out = await open(temporary, "w");
    try {
      const writer = new BufferedWriter(out, this.readBytes);
      const line = (l: Line) => writer.write(`${JSON.stringify(l)}\n`);
      await line(metaLine(this.options));
      const files = [...this.index.files()].sort(([a], [b]) => compareCodeUnits(a, b));
      for (const [path, fileHash] of files) await line({ type: "file", path, fileHash });
      const chunks = this.index.liveChunks();
      const index = this.index;
      chunks.slots.sort(
        (a, b) =>
          compareCodeUnits(index.pathAt(a), index.pathAt(b)) ||
          index.ordinalAt(a) - index.ordinalAt(b) ||
          compareCodeUnits(chunks.ids[a] as string, chunks.ids[b] as string),
      );
      const newline = Buffer.from("\n");
      await this.readLines(chunks, false, async (_id, _record, raw) => {
        // A line that a Windows editor ended with \r\n loses its \r.
        const end = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.length - 1 : raw.length;
        await writer.write(raw.subarray(0, end));
        await writer.write(newline);
      });
      await writer.flush();
      await out.sync();
    } finally {
      await out.close();
    }
    await rename(temporary, this.options.path);
  }
}
