import type { Lineage } from "./chunk.js";

/**
 * Names that the state object reserves for its snapshot API; no stage may use them as keys.
 * The one list behind both the builders' run-time check and the `ReservedKey` type.
 */
export const RESERVED_KEYS = ["accumulated", "materialize", "stream", "hasSnapshot"] as const;

/**
 * The value the lineage produced at `key`: walks up one node per stage. Through an N:1
 * stage the answer becomes the array of its members' values.
 */
export function lookupLineage(lin: Lineage | null, key: string): unknown {
  let node = lin;
  while (node !== null) {
    if (node.key === key) return node.value;
    if (node.members !== undefined) return node.members.map((m) => lookupLineage(m, key));
    node = node.up;
  }
  return undefined;
}

/** Snapshots taken by `checkpoint` stages in one run. */
export class SnapshotStore {
  private readonly snapshots = new Map<string, readonly unknown[]>();

  set(key: string, values: readonly unknown[]): void {
    this.snapshots.set(key, values);
  }

  has(key: string): boolean {
    return this.snapshots.has(key);
  }

  get(key: string): readonly unknown[] {
    const values = this.snapshots.get(key);
    if (values === undefined) {
      throw new Error(
        `No snapshot for key "${key}": add .checkpoint("${key}") before the stage that reads it`,
      );
    }
    return values;
  }

  all(): Record<string, readonly unknown[]> {
    return Object.fromEntries(this.snapshots);
  }
}

const LIN = Symbol("lineage");
const STORE = Symbol("snapshots");

interface StateHolder {
  [LIN]: Lineage | null;
  [STORE]: SnapshotStore;
}

/**
 * Builds the prototype that per-item state objects share: one getter per earlier key, so a
 * state object costs one small allocation and reads walk the lineage only when asked.
 */
export function stateViewFactory(
  keys: readonly string[],
): (lin: Lineage | null, store: SnapshotStore) => object {
  const proto: object = {
    get accumulated(): Record<string, readonly unknown[]> {
      return (this as unknown as StateHolder)[STORE].all();
    },
    materialize(key: string): readonly unknown[] {
      return (this as unknown as StateHolder)[STORE].get(key);
    },
    async *stream(key: string): AsyncGenerator<unknown> {
      yield* (this as unknown as StateHolder)[STORE].get(key);
    },
    hasSnapshot(key: string): boolean {
      return (this as unknown as StateHolder)[STORE].has(key);
    },
  };
  for (const key of keys) {
    Object.defineProperty(proto, key, {
      enumerable: true,
      get(this: StateHolder) {
        return lookupLineage(this[LIN], key);
      },
    });
  }
  return (lin, store) => {
    const view = Object.create(proto) as StateHolder;
    view[LIN] = lin;
    view[STORE] = store;
    return view;
  };
}
