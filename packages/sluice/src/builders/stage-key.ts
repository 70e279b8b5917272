import type { StageSpec } from "../engine/stage-spec.js";
import { RESERVED_KEYS } from "../engine/state-view.js";

const reserved: ReadonlySet<string> = new Set(RESERVED_KEYS);

/**
 * Checks a key when the stage is added: the compiler already rejects duplicates, this
 * catches callers without types (JavaScript, casts).
 */
export function checkKey(
  key: unknown,
  existing: readonly { key: string }[] | readonly StageSpec[],
): string {
  if (typeof key !== "string" || key === "") {
    throw new TypeError(`A stage key must be a non-empty string, got ${String(key)}`);
  }
  if (reserved.has(key)) {
    throw new TypeError(`Stage key "${key}" is reserved by the state API; choose another key`);
  }
  if (existing.some((s) => s.key === key)) {
    throw new TypeError(`Duplicate stage key "${key}": every stage needs a key of its own`);
  }
  return key;
}
