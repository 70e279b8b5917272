// Byte-exact line access to a JSON Lines file: a sequential scan that tells where every line's
// bytes are, and a reader that fetches lines by position through a window, so the JSONL store can
// keep only positions in memory and read records back from the file when it needs them.
import type { FileHandle } from "node:fs/promises";

/** One whole line of a file: its text without the newline, and where its bytes are. */
export interface FileLine {
  readonly text: string;
  /** Byte offset of the line's first byte. */
  readonly offset: number;
  /** Bytes of the line, without its `\n` (a `\r` before it is counted). */
  readonly length: number;
}

/** Default size of the reads of {@link scanLines} and of a {@link LineReader}'s window. */
export const DEFAULT_WINDOW_BYTES = 1024 * 1024;

/**
 * The whole lines (ended by `\n`) of the first `end` bytes of a file, in order, with their byte
 * positions. Bytes after the last `\n` (a line torn by a crash) are not yielded: the end of the
 * last line yielded, plus one, is where the whole lines stop. Lines are decoded as UTF-8 only once
 * complete, so a character split across two reads stays whole. Memory: one read plus one line.
 */
export async function* scanLines(
  handle: FileHandle,
  end: number,
  chunkBytes = DEFAULT_WINDOW_BYTES,
): AsyncGenerator<FileLine> {
  const buffer = Buffer.allocUnsafe(Math.max(1, chunkBytes));
  /** Bytes of the current line read so far, from earlier reads. */
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let lineStart = 0;
  let position = 0;
  while (position < end) {
    const { bytesRead } = await handle.read(
      buffer,
      0,
      Math.min(buffer.length, end - position),
      position,
    );
    if (bytesRead === 0) break;
    let from = 0;
    for (;;) {
      const newline = buffer.indexOf(0x0a, from);
      if (newline === -1 || newline >= bytesRead) break;
      const tail = buffer.subarray(from, newline);
      const bytes =
        pendingBytes === 0 ? tail : Buffer.concat([...pending, tail], pendingBytes + tail.length);
      yield { text: bytes.toString("utf8"), offset: lineStart, length: bytes.length };
      pending = [];
      pendingBytes = 0;
      lineStart += bytes.length + 1;
      from = newline + 1;
    }
    if (from < bytesRead) {
      // The buffer is reused by the next read: keep a copy of the unfinished line.
      pending.push(Buffer.from(buffer.subarray(from, bytesRead)));
      pendingBytes += bytesRead - from;
    }
    position += bytesRead;
  }
}

/** Smallest read of a {@link LineReader} after a jump (a range far from the previous one). */
const MIN_READ_BYTES = 64 * 1024;

/**
 * Reads byte ranges (lines) of an open file through a window: a range inside the last read is
 * served from memory, any other one starts a new read at its offset. Reads grow (doubling, up to
 * `windowBytes`) while the ranges asked for move forward through the file, and shrink back after a
 * jump, so ranges in file order (or nearly) are read in large sequential reads and scattered ones
 * do not each read a whole window.
 */
export class LineReader {
  private buffer: Buffer = Buffer.alloc(0);
  private start = 0;
  private filled = 0;
  private readBytes: number;

  constructor(
    private readonly handle: FileHandle,
    private readonly windowBytes = DEFAULT_WINDOW_BYTES,
  ) {
    this.readBytes = Math.min(MIN_READ_BYTES, windowBytes);
  }

  /** The `length` bytes at `offset`; valid until the next call (copy them to keep them). */
  async read(offset: number, length: number): Promise<Buffer> {
    const from = offset - this.start;
    if (from >= 0 && from + length <= this.filled) {
      return this.buffer.subarray(from, from + length);
    }
    const end = this.start + this.filled;
    const forward = offset >= end && offset - end <= this.readBytes;
    this.readBytes = forward
      ? Math.min(this.readBytes * 2, this.windowBytes)
      : Math.min(MIN_READ_BYTES, this.windowBytes);
    const size = Math.max(this.readBytes, length, 1);
    if (this.buffer.length < size) this.buffer = Buffer.allocUnsafe(size);
    this.start = offset;
    this.filled = 0;
    while (this.filled < length) {
      const { bytesRead } = await this.handle.read(
        this.buffer,
        this.filled,
        size - this.filled,
        offset + this.filled,
      );
      if (bytesRead === 0) break;
      this.filled += bytesRead;
    }
    if (this.filled < length) {
      throw new RangeError(
        `the file ends at byte ${offset + this.filled}, inside bytes ${offset}-${offset + length}`,
      );
    }
    return this.buffer.subarray(0, length);
  }
}

/**
 * Collects output in memory and writes it in large pieces: one `write` per `flushBytes`, rather
 * than one per line.
 */
export class BufferedWriter {
  private parts: Buffer[] = [];
  private bytes = 0;

  constructor(
    private readonly handle: FileHandle,
    private readonly flushBytes = DEFAULT_WINDOW_BYTES,
  ) {}

  async write(data: string | Buffer): Promise<void> {
    const buffer = typeof data === "string" ? Buffer.from(data, "utf8") : Buffer.from(data);
    this.parts.push(buffer);
    this.bytes += buffer.length;
    if (this.bytes >= this.flushBytes) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.bytes === 0) return;
    const data = Buffer.concat(this.parts, this.bytes);
    this.parts = [];
    this.bytes = 0;
    let written = 0;
    while (written < data.length) {
      const { bytesWritten } = await this.handle.write(data, written, data.length - written);
      written += bytesWritten;
    }
  }
}
