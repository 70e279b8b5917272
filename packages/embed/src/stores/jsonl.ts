import { type FileHandle, mkdir, open, rename, truncate } from "node:fs/promises";
import { dirname } from "node:path";
import type { JsonObject } from "../json-value.ts";
import { compareCodeUnits } from "../steps/code-unit-order.ts";
import { appendAll } from "./append-all.ts";
import { Bm25Scorer } from "./bm25.ts";
import {
  type Candidate,
  type CandidateSource,
  type LexicalCandidates,
  searchStore,
} from "./hybrid-search.ts";
import { BufferedWriter, DEFAULT_WINDOW_BYTES, LineReader, scanLines } from "./jsonl-file.ts";
import { identityMismatch } from "./store-identity.ts";
import { acquireStoreLock, type StoreLock } from "./store-lock.ts";
import {
  type ChunkRecord,
  type Collection,
  type CollectionInfo,
  chunkFields,
  lastById,
  type ScanOptions,
  type SearchHit,
  type SearchQuery,
  type StoreAccess,
  type StoredChunk,
  type StoreIdentity,
  type StoreStats,
  scanPageFiles,
  type VectorStore,
  VectorStoreError,
  validateRecords,
} from "./vector-store.ts";

/** Options of {@link openJsonlStore}. */
export interface JsonlStoreOptions {
  /** The `.jsonl` file; in write mode created with its folder if missing. */
  readonly path: string;
  /** To write (creates the file, takes the writer lock, checks the embedder) or to read. */
  readonly access: StoreAccess;
  /**
   * Size of the reads when the store scans or reads back its file (opening, search, compaction);
   * default 1 MiB. Small values are for tests.
   */
  readonly readBytes?: number;
}

/** The first line of a store file. */
interface MetaLine {
  type: "meta";
  schemaVersion: number;
  embedderId: string;
  dimensions: number;
  embedder?: JsonObject;
}

type Line =
  | MetaLine
  | ({ type: "chunk" } & ChunkRecord)
  | { type: "file"; collection: Collection; path: string; fileHash: string }
  | {
      type: "commit";
      collection: Collection;
      path: string;
      fileHash: string;
      chunkIds: string[];
    }
  | { type: "delete-path"; collection: Collection; path: string }
  | { type: "delete-collection"; collection: Collection };

/** The file format this code writes: 2 added collections (1 had none). */
const SCHEMA_VERSION = 2;

/**
 * A JSON Lines file store: one JSON object per line, readable with any tool. The first line
 * records the store's identity (embedder id, dimensions and settings); then each line is a chunk
 * (with its collection, path, text, metadata and vector) or an operation: a file's commit, a
 * file's or a whole collection's deletion. Writes append to the file (an upsert of an existing id
 * appends its new version), so upserts stay idempotent by id without rewriting the file; a writer's
 * `close()` compacts the file to one line per live chunk and file when anything was superseded
 * (through a temporary file and an atomic rename). A line torn by a crash is ignored, and cut off
 * by the next writer.
 *
 * Access: a writer takes the lock `${path}.lock` (see `acquireStoreLock`) for as long as it is
 * open, so two writers never share the file. A reader takes no lock, never creates, truncates,
 * compacts or writes anything (not even on close), and works on a read-only file: it sees the
 * file as it was when opened (its handle keeps that version even if a writer compacts meanwhile).
 *
 * Memory does not grow with the chunks' text or vectors: an in-memory index holds, per live
 * chunk, its id, file number, ordinal and where its latest line is in the file (about 140 bytes
 * per chunk), and per file its collection, path, committed hash and chunk ids. Search reads the
 * records back from the file in one pass over the live chunks: vector search is exact
 * (brute-force cosine), lexical search is BM25 (FTS5's formula, `Bm25Scorer`) computed in that
 * same pass; memory grows with the chunks holding a query word, never with the store. A search
 * restricted to one collection reads only that collection's chunks, so its BM25 statistics
 * (document count, average length, document frequencies) are that collection's.
 */
export async function openJsonlStore(options: JsonlStoreOptions): Promise<VectorStore> {
  const { access, path } = options;
  if (access.mode === "read") return openForReading(options);
  const { identity } = access;
  if (!Number.isInteger(identity.dimensions) || identity.dimensions < 1) {
    throw new VectorStoreError(
      "invalid-argument",
      `dimensions must be a positive integer, got ${identity.dimensions}`,
    );
  }
  await mkdir(dirname(path), { recursive: true });
  const lock = await acquireStoreLock(path);
  const handles: FileHandle[] = [];
  try {
    // "a+" creates a missing file; reads at explicit positions ignore the append mode.
    const reader = await open(path, "a+");
    handles.push(reader);
    const index = new JsonlIndex();
    const totalBytes = (await reader.stat()).size;
    const loaded = await index.load(reader, totalBytes, path, options.readBytes);
    const stored = loaded.identity;
    if (stored !== undefined && !sameEmbedder(stored, identity)) {
      throw identityMismatch(path, stored, identity);
    }
    // A torn last line (a crash mid-write) is cut off so the next append starts on a fresh line.
    if (loaded.goodBytes < totalBytes) await truncate(path, loaded.goodBytes);
    const appender = await open(path, "a");
    handles.push(appender);
    const store = new JsonlStore(path, options, stored ?? identity, index, reader, appender, lock);
    if (stored === undefined) await store.writeMeta(metaLine(identity));
    return store;
  } catch (error) {
    for (const handle of handles) await handle.close().catch(() => undefined);
    await lock.release();
    throw error;
  }
}

async function openForReading(options: JsonlStoreOptions): Promise<VectorStore> {
  const { path } = options;
  const handle = await openExisting(path);
  if (handle === undefined) {
    throw new VectorStoreError(
      "not-found",
      `no store at ${path}: create it with "sluice embed <dir> --store ${path}"`,
    );
  }
  try {
    const index = new JsonlIndex();
    const loaded = await index.load(handle, (await handle.stat()).size, path, options.readBytes);
    if (loaded.identity === undefined) {
      throw new VectorStoreError(
        "not-found",
        `no store at ${path} (the file is empty): create it with "sluice embed <dir> --store ${path}"`,
      );
    }
    return new JsonlStore(path, options, loaded.identity, index, handle, undefined, undefined);
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/** The file opened for reading, or undefined when there is none. */
async function openExisting(path: string): Promise<FileHandle | undefined> {
  try {
    return await open(path, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * The identity the JSONL store at `path` records, or undefined when there is no store there (no
 * file, or an empty one). Reads the first line only and creates nothing.
 */
export async function readJsonlIdentity(path: string): Promise<StoreIdentity | undefined> {
  const handle = await openExisting(path);
  if (handle === undefined) return undefined;
  try {
    const size = (await handle.stat()).size;
    for await (const raw of scanLines(handle, size)) {
      return parseMeta(raw.text, path);
    }
    return undefined;
  } finally {
    await handle.close();
  }
}

function sameEmbedder(a: StoreIdentity, b: StoreIdentity): boolean {
  return a.embedderId === b.embedderId && a.dimensions === b.dimensions;
}

function metaLine(identity: StoreIdentity): MetaLine {
  return {
    type: "meta",
    schemaVersion: SCHEMA_VERSION,
    embedderId: identity.embedderId,
    dimensions: identity.dimensions,
    ...(identity.embedder === undefined ? {} : { embedder: identity.embedder }),
  };
}

/** The identity a meta line records; throws when it is not a meta line this code can read. */
function parseMeta(text: string, path: string): StoreIdentity {
  let line: Partial<MetaLine>;
  try {
    line = JSON.parse(text) as Partial<MetaLine>;
  } catch {
    throw new VectorStoreError("corrupt", `${path}:1: not valid JSON`);
  }
  if (line === null || typeof line !== "object" || line.type !== "meta") {
    throw new VectorStoreError("corrupt", `${path}:1: expected the store's meta line`);
  }
  if (line.schemaVersion === 1) {
    throw new VectorStoreError(
      "old-schema",
      `${path} was written by an earlier sluice (store schema 1); re-embed into a new store: sluice embed <dir> --store <new location> (then delete ${path})`,
    );
  }
  if (line.schemaVersion !== SCHEMA_VERSION) {
    throw new VectorStoreError(
      "corrupt",
      `${path}:1: store schema ${JSON.stringify(line.schemaVersion)} is not ${SCHEMA_VERSION}; was it written by a newer sluice?`,
    );
  }
  if (
    typeof line.embedderId !== "string" ||
    !Number.isInteger(line.dimensions) ||
    (line.dimensions as number) < 1
  ) {
    throw new VectorStoreError("corrupt", `${path}:1: meta line without embedderId or dimensions`);
  }
  const embedder = line.embedder;
  return {
    embedderId: line.embedderId,
    dimensions: line.dimensions as number,
    ...(embedder !== null && typeof embedder === "object" && !Array.isArray(embedder)
      ? { embedder }
      : {}),
  };
}

/**
 * The live chunks at one moment, as slots of the index's columns: a list of slots (to sort as
 * needed) and each slot's id. About 12 bytes per chunk, rather than an object each.
 */
interface LiveChunks {
  readonly slots: Int32Array;
  /** Id by slot (holes for free slots and chunks left out). */
  readonly ids: readonly (string | undefined)[];
}

/** What the index holds per file (a collection's path). */
interface FileEntry {
  /** The collection's number. */
  readonly collection: number;
  readonly path: string;
  /** Committed file hash, if any. */
  hash: string | undefined;
  /** Ids of the file's live chunks. */
  ids: string[];
}

const FIRST_CAPACITY = 1024;

/**
 * The live state of a store without the records themselves: it is what idempotent upserts,
 * commits, deletes, the sync plan and the stats need, while text and vectors stay in the file.
 * Per live chunk: its id (a map key) and, in typed-array columns at the chunk's slot, its file's
 * number, ordinal and the position of its latest line; per file (a collection and a path): its
 * committed hash and chunk ids. About 140 bytes per chunk, whatever the size of its text and
 * vector.
 */
class JsonlIndex {
  /** Live chunk id → slot in the columns. */
  private readonly slots = new Map<string, number>();
  private fileColumn = new Int32Array(FIRST_CAPACITY);
  private ordinalColumn = new Float64Array(FIRST_CAPACITY);
  private offsetColumn = new Float64Array(FIRST_CAPACITY);
  private lengthColumn = new Float64Array(FIRST_CAPACITY);
  /** Slots in use so far; freed ones are reused first. */
  private slotCount = 0;
  private readonly freeSlots: number[] = [];
  /** Collections by number and numbers by name. */
  private readonly collectionNames: Collection[] = [];
  private readonly collectionNumbers = new Map<Collection, number>();
  /** Files by number (a file keeps its number once seen) and, per collection, numbers by path. */
  private readonly entries: FileEntry[] = [];
  private readonly fileNumbers: Map<string, number>[] = [];
  /** Files with a committed hash. */
  fileCount = 0;
  /** Lines in the file, blank ones included. */
  lineCount = 0;
  /** Bytes of whole lines in the file: where the next line starts. */
  bytes = 0;

  /**
   * Replays the first `totalBytes` of the file into the index; returns the identity its meta line
   * records (undefined for an empty file) and `goodBytes`, where its whole lines end. A last line
   * without its newline is a write torn by a crash (or being written by the writer this instant):
   * it is ignored. Any other line that is not valid JSON makes the store corrupt.
   */
  async load(
    handle: FileHandle,
    totalBytes: number,
    path: string,
    readBytes?: number,
  ): Promise<{ identity: StoreIdentity | undefined; goodBytes: number }> {
    let lineNumber = 0;
    let goodBytes = 0;
    let identity: StoreIdentity | undefined;
    for await (const raw of scanLines(handle, totalBytes, readBytes)) {
      lineNumber += 1;
      goodBytes = raw.offset + raw.length + 1;
      if (lineNumber === 1) {
        identity = parseMeta(raw.text, path);
        continue;
      }
      if (raw.text.trim() === "") continue;
      let line: Line;
      try {
        line = JSON.parse(raw.text) as Line;
      } catch {
        throw new VectorStoreError("corrupt", `${path}:${lineNumber}: not valid JSON`);
      }
      this.apply(line, raw.offset, raw.length, `${path}:${lineNumber}`);
    }
    this.lineCount = lineNumber;
    this.bytes = goodBytes;
    return { identity, goodBytes };
  }

  /** Applies one line that starts at byte `offset` and is `length` bytes long. */
  apply(line: Line, offset: number, length: number, where = ""): void {
    if (line === null || typeof line !== "object") {
      throw new VectorStoreError("corrupt", `${where}: not a JSON object`);
    }
    const fileOf = (l: { collection?: unknown; path?: unknown }) => {
      if (typeof l.collection !== "string" || typeof l.path !== "string") {
        throw new VectorStoreError(
          "corrupt",
          `${where}: ${line.type} line without collection or path`,
        );
      }
      return this.fileNumber(l.collection, l.path);
    };
    switch (line.type) {
      case "chunk": {
        const { id, ordinal } = line;
        if (typeof id !== "string" || !Number.isFinite(ordinal)) {
          throw new VectorStoreError("corrupt", `${where}: chunk line without id or ordinal`);
        }
        const number = fileOf(line);
        let slot = this.slots.get(id);
        if (slot === undefined) {
          slot = this.newSlot();
          this.slots.set(id, slot);
          (this.entries[number] as FileEntry).ids.push(id);
        } else if (this.fileColumn[slot] !== number) {
          this.removeId(this.fileColumn[slot] as number, id);
          (this.entries[number] as FileEntry).ids.push(id);
        }
        this.fileColumn[slot] = number;
        this.ordinalColumn[slot] = ordinal;
        this.offsetColumn[slot] = offset;
        this.lengthColumn[slot] = length;
        return;
      }
      case "file":
        this.setHash(fileOf(line), line.fileHash);
        return;
      case "commit": {
        const number = fileOf(line);
        const entry = this.entries[number] as FileEntry;
        if (entry.ids.length > 0) {
          const keep = new Set(line.chunkIds);
          const kept: string[] = [];
          for (const id of entry.ids) {
            if (keep.has(id)) kept.push(id);
            else this.dropChunk(id);
          }
          // A copy is allocated at its length; a list grown by push keeps spare room.
          entry.ids = kept.slice();
        }
        this.setHash(number, line.fileHash);
        return;
      }
      case "delete-path":
        this.clearFile(this.entries[fileOf(line)] as FileEntry);
        return;
      case "delete-collection": {
        if (typeof line.collection !== "string") {
          throw new VectorStoreError(
            "corrupt",
            `${where}: delete-collection line without collection`,
          );
        }
        const collection = this.collectionNumbers.get(line.collection);
        if (collection === undefined) return;
        for (const entry of this.entries) {
          if (entry.collection === collection) this.clearFile(entry);
        }
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

  /** The file number of a live chunk, or undefined. */
  fileOf(id: string): number | undefined {
    const slot = this.slots.get(id);
    return slot === undefined ? undefined : this.fileColumn[slot];
  }

  /** The number of a collection's file, or undefined when the index never saw it. */
  knownFile(collection: Collection, path: string): number | undefined {
    const number = this.collectionNumbers.get(collection);
    return number === undefined ? undefined : this.fileNumbers[number]?.get(path);
  }

  /** Every live chunk, or those of one collection (a snapshot, built on demand). */
  liveChunks(collection?: Collection): LiveChunks {
    const only = collection === undefined ? -1 : (this.collectionNumbers.get(collection) ?? -2);
    const ids = new Array<string | undefined>(this.slotCount);
    let n = 0;
    const picked = new Int32Array(this.slots.size);
    for (const [id, slot] of this.slots) {
      if (only !== -1 && this.collectionOfSlot(slot) !== only) continue;
      picked[n++] = slot;
      ids[slot] = id;
    }
    return { slots: n === picked.length ? picked : picked.slice(0, n), ids };
  }

  private collectionOfSlot(slot: number): number {
    return (this.entries[this.fileColumn[slot] as number] as FileEntry).collection;
  }

  /** The collection of the chunk at `slot`. */
  collectionAt(slot: number): Collection {
    return this.collectionNames[this.collectionOfSlot(slot)] as Collection;
  }

  /** The path of the chunk at `slot`. */
  pathAt(slot: number): string {
    return (this.entries[this.fileColumn[slot] as number] as FileEntry).path;
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

  /** Committed paths of a collection and their hashes. */
  files(collection: Collection): Map<string, string> {
    const files = new Map<string, string>();
    const number = this.collectionNumbers.get(collection);
    for (const entry of this.entries) {
      if (entry.collection === number && entry.hash !== undefined)
        files.set(entry.path, entry.hash);
    }
    return files;
  }

  /** Every committed file: collection, path and hash. */
  allFiles(): { collection: Collection; path: string; hash: string }[] {
    const files: { collection: Collection; path: string; hash: string }[] = [];
    for (const entry of this.entries) {
      if (entry.hash === undefined) continue;
      const collection = this.collectionNames[entry.collection] as Collection;
      files.push({ collection, path: entry.path, hash: entry.hash });
    }
    return files;
  }

  /** Paths of a collection with a committed hash or some chunk. */
  listPaths(collection: Collection): string[] {
    const number = this.collectionNumbers.get(collection);
    return this.entries
      .filter(
        (entry) =>
          entry.collection === number && (entry.hash !== undefined || entry.ids.length > 0),
      )
      .map((entry) => entry.path);
  }

  /** Collections holding a committed file or a chunk, with their counts (unsorted). */
  collections(): CollectionInfo[] {
    const files = new Array<number>(this.collectionNames.length).fill(0);
    const chunks = new Array<number>(this.collectionNames.length).fill(0);
    for (const entry of this.entries) {
      if (entry.hash !== undefined)
        files[entry.collection] = (files[entry.collection] as number) + 1;
      chunks[entry.collection] = (chunks[entry.collection] as number) + entry.ids.length;
    }
    const infos: CollectionInfo[] = [];
    this.collectionNames.forEach((collection, i) => {
      const f = files[i] as number;
      const c = chunks[i] as number;
      if (f > 0 || c > 0) infos.push({ collection, files: f, chunks: c });
    });
    return infos;
  }

  /** Committed files of a collection. */
  committedFiles(collection: Collection): number {
    return this.files(collection).size;
  }

  /** Lines of a compacted file: what the live state needs and nothing superseded. */
  liveLineCount(): number {
    return 1 + this.fileCount + this.slots.size;
  }

  private fileNumber(collection: Collection, path: string): number {
    let c = this.collectionNumbers.get(collection);
    if (c === undefined) {
      c = this.collectionNames.length;
      this.collectionNames.push(collection);
      this.collectionNumbers.set(collection, c);
      this.fileNumbers.push(new Map());
    }
    const byPath = this.fileNumbers[c] as Map<string, number>;
    let number = byPath.get(path);
    if (number === undefined) {
      number = this.entries.length;
      this.entries.push({ collection: c, path, hash: undefined, ids: [] });
      byPath.set(path, number);
    }
    return number;
  }

  private setHash(number: number, hash: string): void {
    const entry = this.entries[number] as FileEntry;
    if (entry.hash === undefined) this.fileCount += 1;
    entry.hash = hash;
  }

  private clearFile(entry: FileEntry): void {
    for (const id of entry.ids) this.dropChunk(id);
    entry.ids = [];
    if (entry.hash !== undefined) this.fileCount -= 1;
    entry.hash = undefined;
  }

  /** Forgets a live chunk (its file's id list is the caller's to update). */
  private dropChunk(id: string): void {
    const slot = this.slots.get(id);
    if (slot === undefined) return;
    this.slots.delete(id);
    this.freeSlots.push(slot);
  }

  private removeId(fileNumber: number, id: string): void {
    const entry = this.entries[fileNumber];
    if (entry === undefined) return;
    const at = entry.ids.indexOf(id);
    if (at !== -1) entry.ids.splice(at, 1);
  }

  private newSlot(): number {
    const free = this.freeSlots.pop();
    if (free !== undefined) return free;
    if (this.slotCount === this.fileColumn.length) {
      const capacity = this.slotCount * 2;
      const grow = <A extends Int32Array | Float64Array>(column: A, make: (n: number) => A): A => {
        const bigger = make(capacity);
        bigger.set(column);
        return bigger;
      };
      this.fileColumn = grow(this.fileColumn, (n) => new Int32Array(n));
      this.ordinalColumn = grow(this.ordinalColumn, (n) => new Float64Array(n));
      this.offsetColumn = grow(this.offsetColumn, (n) => new Float64Array(n));
      this.lengthColumn = grow(this.lengthColumn, (n) => new Float64Array(n));
    }
    return this.slotCount++;
  }
}

/**
 * A line's JSON text: what `JSON.stringify` writes, but a chunk's vector (its last key) is
 * joined rather than stringified, over twice as fast for 1,536 numbers and the same bytes for
 * finite ones, which `validateRecords` ensures.
 */
function lineText(line: Line): string {
  if (line.type !== "chunk") return JSON.stringify(line);
  const { vector, ...rest } = line;
  return `${JSON.stringify(rest).slice(0, -1)},"vector":[${vector.join(",")}]}`;
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

/** Candidates in order: best score first, then by id. */
function compareCandidates(a: Candidate, b: Candidate): number {
  return b.score - a.score || compareCodeUnits(a.hit.id, b.hit.id);
}

/** What one search asks of a pass over the file (see `JsonlStore.search`). */
interface ScanRequests {
  vector?: {
    readonly vector: readonly number[];
    readonly n: number;
    readonly collection: Collection | undefined;
    result?: Candidate[];
  };
  lexical?: {
    readonly terms: readonly string[];
    readonly n: number;
    readonly collection: Collection | undefined;
    result?: LexicalCandidates;
  };
}

class JsonlStore implements VectorStore {
  readonly kind = "jsonl" as const;
  private closed = false;
  /** File operations run one after another; each waits for the previous to finish. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly path: string,
    private readonly options: JsonlStoreOptions,
    readonly identity: StoreIdentity,
    private readonly index: JsonlIndex,
    /** Reads the file's lines; a reader's handle keeps the version of the file it opened. */
    private readonly reader: FileHandle,
    /** Appends lines; undefined for a read-only store. */
    private readonly appender: FileHandle | undefined,
    private readonly lock: StoreLock | undefined,
  ) {}

  get readOnly(): boolean {
    return this.appender === undefined;
  }

  get dimensions(): number {
    return this.identity.dimensions;
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
    if (this.closed) throw new VectorStoreError("closed", `the jsonl store ${this.path} is closed`);
  }

  private assertWritable(): FileHandle {
    this.assertOpen();
    if (this.appender === undefined) {
      throw new VectorStoreError(
        "read-only",
        `the jsonl store ${this.path} is open read-only: only "sluice embed" writes to it`,
      );
    }
    return this.appender;
  }

  /** Writes the meta line of a new (empty) file. */
  async writeMeta(line: MetaLine): Promise<void> {
    await this.serial(() => this.appendNow([line]));
  }

  /** Appends lines to the file, then applies them to the index (so it never runs ahead of disk). */
  private append(lines: readonly Line[]): Promise<void> {
    return this.serial(() => this.appendNow(lines));
  }

  /** {@link append} without waiting its turn: only from a task that already has it. */
  private async appendNow(lines: readonly Line[]): Promise<void> {
    const appender = this.assertWritable();
    if (lines.length === 0) return;
    // Encoded once per line: each line's length in bytes comes with it, no second pass.
    const encoded = lines.map((l) => Buffer.from(`${lineText(l)}\n`, "utf8"));
    try {
      await appendAll(appender, encoded);
    } catch (error) {
      // Part of the text may have reached the file: later lines start where the file ends.
      this.index.bytes = await appender.stat().then(
        (info) => info.size,
        () => this.index.bytes,
      );
      throw error;
    }
    let offset = this.index.bytes;
    lines.forEach((line, i) => {
      const length = (encoded[i] as Buffer).length - 1;
      if (line.type !== "meta") this.index.apply(line, offset, length);
      offset += length + 1;
    });
    this.index.bytes = offset;
    this.index.lineCount += lines.length;
  }

  async upsert(records: readonly ChunkRecord[]): Promise<void> {
    this.assertWritable();
    validateRecords(records, this.dimensions);
    await this.append(
      lastById(records).map((r) => ({
        type: "chunk" as const,
        id: r.id,
        collection: r.collection,
        path: r.path,
        ordinal: r.ordinal,
        text: r.text,
        startLine: r.startLine,
        endLine: r.endLine,
        metadata: r.metadata,
        vector: r.vector,
      })),
    );
  }

  async commitFile(
    collection: Collection,
    path: string,
    fileHash: string,
    chunkIds: readonly string[],
  ): Promise<void> {
    this.assertWritable();
    const ids = [...new Set(chunkIds)];
    // In turn, after the writes already queued: upserts still on their way count.
    await this.serial(async () => {
      const file = this.index.knownFile(collection, path);
      const missing = ids.filter((id) => file === undefined || this.index.fileOf(id) !== file);
      if (missing.length > 0) {
        throw new VectorStoreError(
          "missing-chunks",
          `cannot commit ${path} of ${collection}: ${missing.length} of its ${ids.length} chunks were never upserted`,
        );
      }
      await this.appendNow([{ type: "commit", collection, path, fileHash, chunkIds: ids }]);
    });
  }

  async deleteFile(collection: Collection, path: string): Promise<void> {
    this.assertWritable();
    await this.append([{ type: "delete-path", collection, path }]);
  }

  async deleteCollection(collection: Collection): Promise<number> {
    this.assertWritable();
    return this.serial(async () => {
      const removed = this.index.committedFiles(collection);
      if (this.index.listPaths(collection).length > 0) {
        await this.appendNow([{ type: "delete-collection", collection }]);
      }
      return removed;
    });
  }

  async fileHashes(collection: Collection): Promise<Map<string, string>> {
    this.assertOpen();
    await this.queue;
    return this.index.files(collection);
  }

  async listPaths(collection: Collection): Promise<string[]> {
    this.assertOpen();
    await this.queue;
    return this.index.listPaths(collection).sort(compareCodeUnits);
  }

  async collections(): Promise<CollectionInfo[]> {
    this.assertOpen();
    await this.queue;
    return this.index.collections().sort((a, b) => compareCodeUnits(a.collection, b.collection));
  }

  /**
   * Answers through `searchStore`. Both rankings come from one pass over the file: the two
   * candidate requests a hybrid search makes at once are gathered, then served by one scan.
   */
  async search(query: SearchQuery): Promise<SearchHit[]> {
    this.assertOpen();
    // Requests made in the same tick share a pass, which starts once that tick is over; a
    // request made after a pass has started gets a pass of its own.
    let batch: { requests: ScanRequests; started: boolean; pass: Promise<void> } | undefined;
    const join = (add: (requests: ScanRequests) => void): Promise<void> => {
      if (batch === undefined || batch.started) {
        const next = { requests: {}, started: false } as NonNullable<typeof batch>;
        next.pass = Promise.resolve().then(() => {
          next.started = true;
          return this.serial(() => this.scan(next.requests));
        });
        batch = next;
      }
      add(batch.requests);
      return batch.pass;
    };
    const source: CandidateSource = {
      vectorCandidates: async (vector, n, collection) => {
        const request: NonNullable<ScanRequests["vector"]> = { vector, n, collection };
        await join((requests) => {
          requests.vector = request;
        });
        return request.result ?? [];
      },
      lexicalCandidates: async (terms, n, collection) => {
        const request: NonNullable<ScanRequests["lexical"]> = { terms, n, collection };
        await join((requests) => {
          requests.lexical = request;
        });
        return request.result ?? { candidates: [], documents: 0, documentFrequencies: [] };
      },
    };
    return searchStore(query, this.dimensions, source);
  }

  /**
   * The collection's live chunks as they are when the scan starts, in code-unit path order: the
   * index gives their order (4 bytes per chunk), and each page's lines are read in file order.
   */
  async *scanChunks(collection: Collection, options?: ScanOptions): AsyncIterable<StoredChunk> {
    this.assertOpen();
    const pageFiles = scanPageFiles(options);
    await this.queue;
    const index = this.index;
    const live = index.liveChunks(collection);
    live.slots.sort(
      (a, b) =>
        compareCodeUnits(index.pathAt(a), index.pathAt(b)) ||
        index.ordinalAt(a) - index.ordinalAt(b) ||
        compareCodeUnits(live.ids[a] as string, live.ids[b] as string),
    );
    let start = 0;
    while (start < live.slots.length) {
      this.assertOpen();
      // The next page: the chunks of the next `pageFiles` paths.
      let end = start;
      let files = 0;
      let path: string | undefined;
      while (end < live.slots.length) {
        const next = index.pathAt(live.slots[end] as number);
        if (next !== path) {
          if (files === pageFiles) break;
          files += 1;
          path = next;
        }
        end += 1;
      }
      const page = live.slots.slice(start, end);
      const byOffset = page.slice().sort((a, b) => index.offsetAt(a) - index.offsetAt(b));
      const records = new Map<number, StoredChunk>();
      await this.serial(() =>
        this.readLines({ slots: byOffset, ids: live.ids }, true, (id, record, slot) => {
          records.set(slot, chunkFields({ ...record, id }));
        }),
      );
      for (const slot of page) yield records.get(slot) as StoredChunk;
      start = end;
    }
  }

  /**
   * One pass over the live chunks in file order, reading each line once: exact cosine similarity
   * for the vector request, BM25 statistics for the lexical one (whose best chunks are then read
   * back, at most `n` lines).
   */
  private async scan(requests: ScanRequests): Promise<void> {
    this.assertOpen();
    const { vector: byVector, lexical: byWords } = requests;
    const live = this.index.liveChunks(byVector?.collection ?? byWords?.collection);
    const index = this.index;
    live.slots.sort((a, b) => index.offsetAt(a) - index.offsetAt(b));
    const query = byVector?.vector;
    const queryNorm = query === undefined ? 0 : Math.hypot(...query);
    // The best vector candidates so far; sorted and cut back to n whenever it doubles.
    let best: Candidate[] = [];
    const n = byVector?.n ?? 0;
    const limit = Math.max(2 * n, 1024);
    const scorer = byWords === undefined ? undefined : new Bm25Scorer(byWords.terms);
    await this.readLines(live, true, (id, record, slot) => {
      scorer?.add(slot, record.text);
      if (query === undefined || queryNorm === 0) return;
      let dot = 0;
      let norm = 0;
      for (let i = 0; i < query.length; i++) {
        const x = record.vector[i] as number;
        dot += x * (query[i] as number);
        norm += x * x;
      }
      // A zero vector is similar to nothing; pgvector agrees by returning NaN for it.
      if (norm === 0) return;
      best.push({
        hit: chunkFields({ ...record, id }),
        score: dot / (Math.sqrt(norm) * queryNorm),
      });
      if (best.length >= limit) best = best.sort(compareCandidates).slice(0, n);
    });
    if (byVector !== undefined) byVector.result = best.sort(compareCandidates).slice(0, n);
    if (byWords !== undefined && scorer !== undefined) {
      const top = scorer.top(byWords.n, (a, b) =>
        compareCodeUnits(live.ids[a] as string, live.ids[b] as string),
      );
      const scores = new Map(top.map((t) => [t.key, t.score]));
      const slots = Int32Array.from(top.map((t) => t.key)).sort(
        (a, b) => index.offsetAt(a) - index.offsetAt(b),
      );
      const hits = new Map<number, Candidate["hit"]>();
      await this.readLines({ slots, ids: live.ids }, true, (id, record, slot) => {
        hits.set(slot, chunkFields({ ...record, id }));
      });
      byWords.result = {
        candidates: top.map((t) => ({
          hit: hits.get(t.key) as Candidate["hit"],
          score: scores.get(t.key) as number,
        })),
        documents: scorer.documentCount,
        documentFrequencies: scorer.documentFrequencies(),
      };
    }
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
      slot: number,
      raw: Buffer,
    ) => void | Promise<void>,
  ): Promise<void> {
    if (live.slots.length === 0) return;
    const reader = new LineReader(this.reader, this.readBytes);
    for (const slot of live.slots) {
      const id = live.ids[slot] as string;
      const { offset, length } = this.index.lineAt(slot);
      let raw: Buffer;
      try {
        raw = await reader.read(offset, length);
      } catch (error) {
        if (!(error instanceof RangeError)) throw error;
        raw = Buffer.alloc(0);
      }
      const record = parse || !hasChunkPrefix(raw, id) ? parseChunkLine(raw, id) : undefined;
      if (record === null) {
        throw new VectorStoreError(
          "corrupt",
          `${this.path}: the line of chunk ${id} at byte ${offset} has changed; was the file edited while the store was open?`,
        );
      }
      await each(id, record as P extends true ? ChunkRecord : undefined, slot, raw);
    }
  }

  async stats(): Promise<StoreStats> {
    this.assertOpen();
    await this.queue;
    return {
      chunks: this.index.chunkCount,
      files: this.index.fileCount,
      collections: this.index.collections().length,
      dimensions: this.dimensions,
      embedderId: this.identity.embedderId,
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.serial(async () => {
      try {
        if (this.appender !== undefined) {
          await this.appender.close();
          if (this.index.lineCount > this.index.liveLineCount()) await this.compact();
        }
      } finally {
        await this.reader.close();
        await this.lock?.release();
      }
    });
  }

  /**
   * Rewrites the file with only live lines (files sorted by collection and path, then chunks by
   * collection, path, ordinal and id), through a temporary file and an atomic rename. Each
   * chunk's latest line is copied from the old file as it is, read through a window: memory
   * stays flat however big the file.
   */
  private async compact(): Promise<void> {
    const temporary = `${this.path}.${process.pid}.tmp`;
    const out = await open(temporary, "w");
    try {
      const writer = new BufferedWriter(out, this.readBytes);
      const line = (l: Line) => writer.write(`${JSON.stringify(l)}\n`);
      await line(metaLine(this.identity));
      const files = this.index
        .allFiles()
        .sort(
          (a, b) =>
            compareCodeUnits(a.collection, b.collection) || compareCodeUnits(a.path, b.path),
        );
      for (const { collection, path, hash } of files) {
        await line({ type: "file", collection, path, fileHash: hash });
      }
      const chunks = this.index.liveChunks();
      const index = this.index;
      chunks.slots.sort(
        (a, b) =>
          compareCodeUnits(index.collectionAt(a), index.collectionAt(b)) ||
          compareCodeUnits(index.pathAt(a), index.pathAt(b)) ||
          index.ordinalAt(a) - index.ordinalAt(b) ||
          compareCodeUnits(chunks.ids[a] as string, chunks.ids[b] as string),
      );
      const newline = Buffer.from("\n");
      await this.readLines(chunks, false, async (_id, _record, _slot, raw) => {
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
    await rename(temporary, this.path);
  }
}
