import { compareCodeUnits } from "../steps/code-unit-order.ts";
import { sha256Hex } from "../steps/sha256.ts";

/** What an incremental run has to do, by path, each list sorted. */
export interface SyncPlan {
  /** New files: embed. */
  readonly added: readonly string[];
  /** Files whose hash differs: embed again (old chunks go at commit). */
  readonly changed: readonly string[];
  /** Same hash: nothing to embed. */
  readonly unchanged: readonly string[];
  /** In the store but no longer in the folder: delete. */
  readonly removed: readonly string[];
}

/**
 * The hash a store records for a file: its content hash bound to the config fingerprint, so a
 * change of chunking or embedder settings makes every file "changed".
 */
export function fileVersionHash(contentHash: string, configFingerprint: string): string {
  return sha256Hex(`${contentHash}\u0000${configFingerprint}`);
}

/**
 * Compares the files found now (path → version hash) with what a store holds. `storedPaths`
 * adds paths that have chunks but no committed hash (a run that died mid-file), so they are
 * deleted if their file is gone.
 */
export function planSync(
  current: ReadonlyMap<string, string>,
  stored: ReadonlyMap<string, string>,
  storedPaths: Iterable<string> = [],
): SyncPlan {
  const added: string[] = [];
  const changed: string[] = [];
  const unchanged: string[] = [];
  for (const [path, hash] of current) {
    const before = stored.get(path);
    if (before === undefined) added.push(path);
    else if (before === hash) unchanged.push(path);
    else changed.push(path);
  }
  const removed = new Set<string>();
  for (const path of [...stored.keys(), ...storedPaths]) {
    if (!current.has(path)) removed.add(path);
  }
  const sorted = (list: Iterable<string>) => [...list].sort(compareCodeUnits);
  return {
    added: sorted(added),
    changed: sorted(changed),
    unchanged: sorted(unchanged),
    removed: sorted(removed),
  };
}
