// Where a writer SQLite store's writes run. Wherever that is, they are applied one at a time in
// the order they were made, each in its own transaction.
import { threadPool } from "sluice/node";
import { workerModule } from "../threads/worker-module.ts";
import type { Db } from "./sqlite-connection.ts";
import type { sqliteWriterCall } from "./sqlite-writer-thread.ts";
import { type SqliteWriteCall, SqliteWrites } from "./sqlite-writes.ts";

/** Where a writer store's writes run. */
export interface Writer {
  run(call: SqliteWriteCall, transfer?: readonly ArrayBuffer[]): Promise<number | undefined>;
  /** Ends the writes' connection (and thread); calls made before it are applied first. */
  close(): Promise<void>;
}

/** Writes on the store's own connection, on the caller's thread. */
export function inThreadWriter(db: Db): Writer {
  const writes = new SqliteWrites(db);
  return {
    run: async (call) => writes.apply(call),
    close: async () => undefined,
  };
}

/** Chunks written on the caller's thread before the writer thread is started. */
export const HAND_OFF_AFTER_CHUNKS = 512;

/**
 * Writes in a thread of its own, with its own connection to `path`, once that thread is ready;
 * until then (and for good, if it cannot start, which `onWarning` is told), on `db`. The
 * thread starts once {@link HAND_OFF_AFTER_CHUNKS} chunks have been written, not when the store
 * opens: its start-up (~150 ms loading SQLite and sqlite-vec) competed with the caller's own
 * and delayed a 2-core run's first stored chunk by ~130 ms, and a small run (a few files, one
 * removal) is done before it would pay off. A write on `db` is done when its call returns, so
 * every later one, wherever it runs, follows it.
 */
export function handOffWriter(db: Db, path: string, onWarning?: (message: string) => void): Writer {
  const here = inThreadWriter(db);
  let written = 0;
  let thread: Writer | undefined;
  let starting: Promise<void> | undefined;
  return {
    run(call, transfer) {
      if (call.op === "upsert") written += call.records.length;
      if (written >= HAND_OFF_AFTER_CHUNKS) {
        starting ??= startThreadWriter(path).then(
          (started) => {
            thread = started;
          },
          (error: unknown) => {
            const reason = error instanceof Error ? error.message : String(error);
            onWarning?.(
              `the SQLite writer thread could not start (${reason}); writing to ${path} on the caller's thread instead, which is slower`,
            );
          },
        );
      }
      return (thread ?? here).run(call, transfer);
    },
    async close() {
      await starting;
      await thread?.close();
    },
  };
}

const WRITER_MODULE = new URL("./sqlite-writer-thread.ts", import.meta.url);

/** A writer thread with its connection open (or the reason it could not start). */
async function startThreadWriter(path: string): Promise<Writer> {
  const { module, preload } = workerModule(WRITER_MODULE);
  // Writes sent ahead: the thread starts the next one as soon as it finishes one.
  const pool = threadPool<typeof sqliteWriterCall>(module, "sqliteWriterCall", {
    threads: 1,
    prefetch: 8,
    ...(preload ? { preload } : {}),
  });
  try {
    await pool.run({ op: "open", path });
  } catch (error) {
    await pool.close();
    throw error;
  }
  return {
    run: (call, transfer) => pool.run(call, transfer ? { transfer } : {}),
    async close() {
      try {
        await pool.run({ op: "close" });
      } finally {
        await pool.close();
      }
    },
  };
}
