import type { AckLedger } from "./acknowledgement.js";
import type { Chunk, Lineage } from "./chunk.js";
import { EmitMode } from "./item-worker.js";

/**
 * Appends what one item produced to `out`, with a lineage node per output when lineage is
 * tracked. Returns how many outputs it appended. With acknowledgements on, an item that made
 * no output is released as filtered and one that made several is retained once per extra.
 */
export function emitOne(
  mode: EmitMode,
  key: string,
  item: unknown,
  result: unknown,
  lin: Lineage | null,
  out: Chunk,
  acks?: AckLedger,
): number {
  if (acks !== undefined) return emitAcked(mode, key, item, result, lin, out, acks);
  const lins = out.lins;
  switch (mode) {
    case EmitMode.MAP:
      out.values.push(result);
      if (lins !== undefined) lins.push({ key, value: result, up: lin });
      return 1;
    case EmitMode.FILTER:
      if (!result) return 0;
      out.values.push(item);
      if (lins !== undefined) lins.push({ key, value: item, up: lin });
      return 1;
    case EmitMode.TAP:
      out.values.push(item);
      if (lins !== undefined) lins.push({ key, value: item, up: lin });
      return 1;
    default: {
      const many = result as unknown[];
      for (const value of many) {
        out.values.push(value);
        if (lins !== undefined) lins.push({ key, value, up: lin });
      }
      return many.length;
    }
  }
}

function emitAcked(
  mode: EmitMode,
  key: string,
  item: unknown,
  result: unknown,
  lin: Lineage | null,
  out: Chunk,
  acks: AckLedger,
): number {
  const n = emitOne(mode, key, item, result, lin, out);
  if (n === 0) acks.release(lin, "filtered");
  else if (n > 1) acks.retain(lin, n - 1);
  return n;
}
