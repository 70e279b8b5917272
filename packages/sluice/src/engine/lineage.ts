import type { Chunk, Lineage } from "./chunk.js";

/**
 * Output chunk of a stage that passes items through unchanged (take, skip, filter-like):
 * the same values, and when lineage is tracked, one node per item recording that this key
 * saw the item.
 */
export function passThrough(
  key: string,
  track: boolean,
  values: unknown[],
  lins: Chunk["lins"],
): Chunk {
  if (!track) return { values, lins: undefined };
  const out: Lineage[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    out[i] = { key, value: values[i], up: lins?.[i] ?? null };
  }
  return { values, lins: out };
}

/** The lineage of an N:1 output (a batch or window): its members' lineages. */
export function groupLineage(
  key: string,
  value: unknown,
  members: readonly (Lineage | null)[],
): Lineage {
  return { key, value, up: null, members };
}
