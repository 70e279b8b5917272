import type { Chunk, Lineage, Puller } from "./chunk.js";
import { newSpanId } from "./ids.js";

/**
 * The key of the lineage node a source item starts with when `itemEvents` is on. Not a
 * stage's: state lookups walk past it (no stage key starts with a NUL character).
 */
export const ORIGIN_KEY = "\u0000origin";

/** Span ids of N:1 outputs (batch, window, bufferUntil), made on first use. */
const groupIds = new WeakMap<Lineage, string>();

/**
 * The span id of the item whose lineage is `lin`: the same for an item and everything
 * derived from it 1:1 (map, filter, tap, take, scan, distinct, …), since each of those
 * outputs' lineage leads up to the same origin. A flatMap's outputs share their input's
 * id; an N:1 output (a batch, a window, a group) starts an id of its own, and its members'
 * ids stay reachable through its lineage. Made on first use, so only items that are
 * reported get one.
 */
export function itemSpanId(lin: Lineage | null): string {
  if (lin === null) return newSpanId();
  let node = lin;
  while (node.up !== null && node.members === undefined) node = node.up;
  if (node.key === ORIGIN_KEY) {
    const origin = node as { value: unknown };
    if (typeof origin.value !== "string") origin.value = newSpanId();
    return origin.value as string;
  }
  let id = groupIds.get(node);
  if (id === undefined) {
    id = newSpanId();
    groupIds.set(node, id);
  }
  return id;
}

/**
 * Gives every source item an origin lineage node (whose value becomes its span id), so that
 * `item` events can name one item across stages. Used only with `itemEvents` on.
 */
export class OriginPuller implements Puller {
  constructor(private readonly inner: Puller) {}

  pull(demand: number): Promise<Chunk | null> {
    return this.inner.pull(demand).then(withOrigins);
  }

  pullNow(demand: number): Chunk | null | undefined {
    const chunk = this.inner.pullNow?.(demand);
    return chunk === undefined || chunk === null ? chunk : withOrigins(chunk);
  }

  stop(): void {
    this.inner.stop();
  }

  cancel(): Promise<void> {
    return this.inner.cancel();
  }
}

function withOrigins(chunk: Chunk | null): Chunk | null {
  if (chunk === null) return null;
  const lins: Lineage[] = new Array(chunk.values.length);
  for (let i = 0; i < lins.length; i++) lins[i] = { key: ORIGIN_KEY, value: undefined, up: null };
  return { values: chunk.values, lins };
}
