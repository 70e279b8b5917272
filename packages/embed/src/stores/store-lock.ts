import { unlinkSync } from "node:fs";
import { link, open, readFile, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import { VectorStoreError } from "./vector-store.ts";

/** A held writer lock; `release()` removes it and may be called any number of times. */
export interface StoreLock {
  /** The lock file's path, `${target}.lock`. */
  readonly path: string;
  release(): Promise<void>;
}

/** Options of {@link acquireStoreLock}. */
export interface StoreLockOptions {
  /** Keep trying for this long while another live process holds the lock; default 0 (fail at once). */
  readonly waitMs?: number;
  /** How often to retry while waiting; default 100 ms. */
  readonly pollMs?: number;
}

/** What a lock file records about its holder. */
export interface LockOwner {
  readonly pid: number;
  readonly hostname: string;
  /** ISO time the lock was taken. */
  readonly startedAt: string;
}

/**
 * Takes the writer lock of a store: the file `${target}.lock`, created exclusively (`wx`), so
 * that two writers on one machine can never both hold it. A lock left by a process that is no
 * longer alive on this host is stale: it is removed and taken again (through `wx` again, so two
 * processes breaking the same stale lock cannot both win). A lock from another host is never
 * judged stale, since its pid means nothing here.
 *
 * Throws a {@link VectorStoreError} with code `locked`, naming the holder's pid, when the lock
 * stays held for longer than `waitMs`.
 */
export async function acquireStoreLock(
  target: string,
  options: StoreLockOptions = {},
): Promise<StoreLock> {
  const path = `${target}.lock`;
  const waitMs = options.waitMs ?? 0;
  const pollMs = Math.max(1, options.pollMs ?? 100);
  const deadline = Date.now() + waitMs;
  // Breaking a stale lock normally takes milliseconds; should it keep failing (a break lock that
  // cannot be removed), give up after a while even when not waiting.
  const breakDeadline = Date.now() + Math.max(waitMs, 5_000);
  for (;;) {
    if (await tryCreate(path)) return heldLock(path);
    const owner = await readOwner(path);
    if (owner === "gone") continue; // released between our create and our read: try again
    if (isStale(owner)) {
      if (Date.now() >= breakDeadline) {
        throw new VectorStoreError(
          "locked",
          `store ${target} is locked by ${describeOwner(owner)}, which is no longer running, but its lock could not be removed: delete ${path} and ${path}.break`,
        );
      }
      await breakStaleLock(path, owner);
      continue;
    }
    if (Date.now() >= deadline) throw lockedError(target, path, owner);
    await sleep(Math.min(pollMs, Math.max(1, deadline - Date.now())));
  }
}

/** A lock file that names no process, with its modification time. */
interface Unreadable {
  readonly unreadable: true;
  readonly mtimeMs: number;
}

/**
 * A lock file a writer creates is complete the moment it appears (see {@link tryCreate}); one
 * that names no process was left by something else. Once it is this old, it is stale.
 */
const UNREADABLE_STALE_MS = 10_000;

let tmpCounter = 0;

/**
 * Creates the lock file exclusively with our own owner record; false when it exists already.
 * The record is written to a private file first and hard-linked into place (link fails if the
 * lock exists), so a lock file never appears empty or half-written, even if the process dies
 * that instant. Where hard links are not supported, falls back to `open(path, "wx")`.
 */
async function tryCreate(path: string): Promise<boolean> {
  const owner: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    startedAt: new Date().toISOString(),
  };
  const content = `${JSON.stringify(owner)}\n`;
  tmpCounter += 1;
  const tmp = `${path}.${process.pid}.${tmpCounter}.tmp`;
  try {
    const handle = await open(tmp, "wx");
    try {
      await handle.writeFile(content);
    } finally {
      await handle.close();
    }
    await link(tmp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EEXIST") return false;
    if (code === "EPERM" || code === "ENOTSUP" || code === "EOPNOTSUPP" || code === "ENOSYS") {
      return createExclusive(path, content);
    }
    throw error;
  } finally {
    await unlinkIfPresent(tmp);
  }
}

/** `open(path, "wx")` and write: for file systems without hard links. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "wx");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    await handle.writeFile(content);
  } catch (error) {
    await handle.close().catch(() => {});
    await unlinkIfPresent(path);
    throw error;
  }
  await handle.close();
  return true;
}

/** The owner a lock file names; "gone" when the file vanished. */
async function readOwner(path: string): Promise<LockOwner | Unreadable | "gone"> {
  let text: string;
  let mtimeMs: number;
  try {
    mtimeMs = (await stat(path)).mtimeMs;
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "gone";
    throw error;
  }
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (
      typeof value.pid === "number" &&
      Number.isInteger(value.pid) &&
      value.pid > 0 &&
      typeof value.hostname === "string"
    ) {
      return {
        pid: value.pid,
        hostname: value.hostname,
        startedAt: typeof value.startedAt === "string" ? value.startedAt : "an unknown time",
      };
    }
  } catch {
    // fall through
  }
  return { unreadable: true, mtimeMs };
}

/**
 * A lock is stale when it was taken on this host by a process that no longer exists, or when it
 * names no process and has for a while (see {@link UNREADABLE_STALE_MS}).
 */
function isStale(owner: LockOwner | Unreadable): boolean {
  if ("unreadable" in owner) return Date.now() - owner.mtimeMs > UNREADABLE_STALE_MS;
  if (owner.hostname !== hostname()) return false;
  if (owner.pid === process.pid) return false; // held by this very process: never stale
  try {
    process.kill(owner.pid, 0);
    return false;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else; only ESRCH means it is gone.
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}

/**
 * Removes a stale lock. Two processes may find the same stale lock; had both simply deleted it,
 * the slower one could delete the fresh lock the faster one had just taken. So breaking takes a
 * second lock, `${path}.break` (exclusive create too), and under it deletes the lock file only
 * if it still names the same dead owner. Only breakers delete another process's lock, so what
 * the breaker read is what it deletes. A break lock left by a dead breaker is itself removed.
 */
async function breakStaleLock(path: string, owner: LockOwner | Unreadable): Promise<void> {
  const breakPath = `${path}.break`;
  if (!(await tryCreate(breakPath))) {
    const breaker = await readOwner(breakPath);
    if (breaker !== "gone" && isStale(breaker)) {
      await unlinkIfPresent(breakPath);
    } else {
      await sleep(5); // another process is breaking it this instant
    }
    return;
  }
  try {
    const again = await readOwner(path);
    if (again !== "gone" && sameOwner(again, owner)) await unlinkIfPresent(path);
  } finally {
    await unlinkIfPresent(breakPath);
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  await unlink(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== "ENOENT") throw error;
  });
}

function sameOwner(a: LockOwner | Unreadable, b: LockOwner | Unreadable): boolean {
  if ("unreadable" in a || "unreadable" in b) {
    return "unreadable" in a && "unreadable" in b && a.mtimeMs === b.mtimeMs;
  }
  return a.pid === b.pid && a.startedAt === b.startedAt && a.hostname === b.hostname;
}

function describeOwner(owner: LockOwner | Unreadable): string {
  return "unreadable" in owner ? "a lock file that names no process" : `pid ${owner.pid}`;
}

function lockedError(
  target: string,
  path: string,
  owner: LockOwner | Unreadable,
): VectorStoreError {
  if ("unreadable" in owner) {
    return new VectorStoreError(
      "locked",
      `store ${target} is locked (${path} exists but names no process): another "sluice embed" may be writing to it; wait for it to finish, or delete ${path} if no such process runs`,
    );
  }
  const where = owner.hostname === hostname() ? "" : ` on host ${owner.hostname}`;
  return new VectorStoreError(
    "locked",
    `store ${target} is locked by pid ${owner.pid}${where} (since ${owner.startedAt}): another "sluice embed" is writing to it; wait for it to finish, or delete ${path} if no such process runs`,
  );
}

function heldLock(path: string): StoreLock {
  let held = true;
  // A process that exits without closing its store (process.exit, a fatal error) must not leave
  // a lock behind that only the stale check would clear. Exit handlers run synchronously.
  const onExit = () => {
    if (!held) return;
    held = false;
    try {
      unlinkSync(path);
    } catch {
      // nothing more can be done while exiting
    }
  };
  process.on("exit", onExit);
  return {
    path,
    async release() {
      if (!held) return;
      held = false;
      process.removeListener("exit", onExit);
      await unlinkIfPresent(path);
    },
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
