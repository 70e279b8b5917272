/** A file whose chunks are on their way to the store. */
export interface PendingFile {
  readonly collection: string;
  readonly path: string;
  /** Its chunks' ids: it is complete once all of them are stored. */
  readonly ids: readonly string[];
}

/** A file's key: its collection and path. */
export const fileKey = (collection: string, path: string): string => `${collection}\u0000${path}`;

/**
 * Files whose chunks are on their way to the store, each complete (and due to commit) once
 * every one of its chunks has been stored: what the embed session, reembed and the queue
 * worker each track between preparing a file and committing it.
 */
export class PendingFiles<F extends PendingFile> {
  private readonly open = new Map<string, { readonly file: F; readonly remaining: Set<string> }>();

  /** Waits for `file`'s chunks, in place of any earlier wait for the same file. */
  add(file: F): void {
    this.open.set(fileKey(file.collection, file.path), { file, remaining: new Set(file.ids) });
  }

  /** The file awaited under this collection and path, if any. */
  get(collection: string, path: string): F | undefined {
    return this.open.get(fileKey(collection, path))?.file;
  }

  /** Stops waiting for a file (its delivery ended). */
  delete(collection: string, path: string): void {
    this.open.delete(fileKey(collection, path));
  }

  /**
   * Marks chunks stored: `onChunk` hears of each one a file was still waiting for. Returns the
   * files whose last chunk this was, in the order they completed, each once; they are no
   * longer awaited.
   */
  stored(
    records: readonly { readonly collection: string; readonly path: string; readonly id: string }[],
    onChunk?: (file: F) => void,
  ): F[] {
    const complete: F[] = [];
    for (const record of records) {
      const key = fileKey(record.collection, record.path);
      const entry = this.open.get(key);
      if (entry === undefined || !entry.remaining.delete(record.id)) continue;
      onChunk?.(entry.file);
      if (entry.remaining.size === 0) {
        this.open.delete(key);
        complete.push(entry.file);
      }
    }
    return complete;
  }
}
