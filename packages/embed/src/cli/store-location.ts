import { open, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { DEFAULT_STORE_LOCATION } from "../config.ts";
import type { StoreLocation } from "../stores/open.ts";
import { UsageError } from "./options.ts";
import { terminalText } from "./terminal-text.ts";

const SQLITE_MAGIC = "SQLite format 3\u0000";

async function statOf(path: string) {
  return stat(path).catch(() => undefined);
}

async function isPgliteFolder(path: string): Promise<boolean> {
  return (await statOf(join(path, "PG_VERSION")))?.isFile() ?? false;
}

/** The first bytes of a file, as Latin-1 text. */
async function headOf(path: string, bytes: number): Promise<string> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buffer, 0, bytes, 0);
    return buffer.toString("latin1", 0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Checks that a store location can be what its kind needs, before anything opens or creates it:
 * an SQLite or JSONL store is a file (not a folder), an existing SQLite file starts with SQLite's
 * header, a PGlite store is a folder, and no parent of the location is a file. Throws a
 * {@link UsageError} that says which, instead of a raw `EEXIST`/`ENOTDIR` from deep inside a
 * store. Postgres URLs are left to the server.
 */
export async function checkStoreLocation(store: StoreLocation): Promise<void> {
  if (store.kind === "postgres") return;
  const shown = terminalText(store.location);
  const here = await statOf(store.location);
  if (here === undefined) {
    let parent = dirname(store.location);
    for (;;) {
      const up = await statOf(parent);
      if (up !== undefined) {
        if (!up.isDirectory()) {
          throw new UsageError(
            `--store ${shown}: ${terminalText(parent)} is not a folder, so no store can be created under it`,
          );
        }
        return;
      }
      const next = dirname(parent);
      if (next === parent) return;
      parent = next;
    }
  }
  if (store.kind === "pglite") {
    if (!here.isDirectory()) {
      throw new UsageError(`--store ${shown} is not a folder; a pglite store is a folder`);
    }
    return;
  }
  if (here.isDirectory()) {
    const hint = (await isPgliteFolder(store.location))
      ? " (it holds a PGlite database: add --store-kind pglite to use it)"
      : `: give a file path, such as ${terminalText(join(store.location, `store.${store.kind === "jsonl" ? "jsonl" : "db"}`))}`;
    throw new UsageError(
      `--store ${shown} is a folder, but a ${store.kind} store is a file${hint}`,
    );
  }
  if (store.kind === "sqlite" && here.size > 0) {
    const head = await headOf(store.location, SQLITE_MAGIC.length);
    if (head !== SQLITE_MAGIC) {
      throw new UsageError(
        `--store ${shown} is not an SQLite database but an existing file of another kind: ` +
          "give the path of a new file, or --store-kind for a store of another kind",
      );
    }
  }
}

/**
 * The note for someone who used the old default store (a PGlite folder at `.sluice/store`) and
 * now runs with the new default (`.sluice/store.db`): the old store is not read any more, and
 * this says how to keep using it or move. Undefined when it does not apply.
 */
export async function legacyStoreNote(
  store: StoreLocation,
  cwd: string,
): Promise<string | undefined> {
  if (store.kind !== "sqlite" || store.location !== resolve(cwd, DEFAULT_STORE_LOCATION)) {
    return undefined;
  }
  if (!(await isPgliteFolder(resolve(cwd, ".sluice/store")))) return undefined;
  return (
    `the default store is now ${DEFAULT_STORE_LOCATION} (SQLite); the old default .sluice/store ` +
    "(PGlite, written by an earlier sluice, without collections) is not used any more: " +
    "re-embed your folders into the new default (sluice embed <dir>), then delete .sluice/store"
  );
}
