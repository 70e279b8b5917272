import type { FileHandle } from "node:fs/promises";

/**
 * Writes every byte of `buffers` to a file opened for appending, with `writev` (a batch's lines
 * are not first copied into one buffer), calling again after a partial write.
 */
export async function appendAll(handle: FileHandle, buffers: readonly Buffer[]): Promise<void> {
  // Empty buffers left out: a write of nothing takes no byte, which below means a stuck file.
  let rest = buffers.filter((buffer) => buffer.length > 0);
  while (rest.length > 0) {
    const { bytesWritten } = await handle.writev(rest as Buffer[]);
    if (bytesWritten === 0) throw new Error("writev wrote no byte to the file");
    let written = bytesWritten;
    let first = 0;
    while (first < rest.length && written >= (rest[first] as Buffer).length) {
      written -= (rest[first] as Buffer).length;
      first++;
    }
    rest =
      first < rest.length
        ? [(rest[first] as Buffer).subarray(written), ...rest.slice(first + 1)]
        : [];
  }
}
