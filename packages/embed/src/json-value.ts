/** A value that survives `JSON.stringify`/`JSON.parse` unchanged: what metadata may hold. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | readonly JsonValue[]
  | { readonly [key: string]: JsonValue };

/** A JSON object, the shape of chunk and file metadata. */
export type JsonObject = { readonly [key: string]: JsonValue };

/** Why {@link toJsonValue} gave up. */
export type JsonTooLargeReason = "size" | "cycle" | "depth";

/**
 * Thrown by {@link toJsonValue} when the value's JSON would exceed the byte budget it was given,
 * would be infinite (the value contains itself), or nests deeper than {@link MAX_JSON_DEPTH}.
 */
export class JsonTooLargeError extends Error {
  override readonly name = "JsonTooLargeError";
  constructor(
    readonly reason: JsonTooLargeReason,
    readonly maxBytes: number,
  ) {
    super(
      reason === "size"
        ? `value is over the limit of ${maxBytes} bytes as JSON`
        : reason === "cycle"
          ? "value contains itself, so its JSON would never end"
          : `value nests deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
}

/** Deepest nesting {@link toJsonValue} converts: far beyond real metadata, far from the stack's end. */
export const MAX_JSON_DEPTH = 200;

/**
 * Converts a parsed YAML value to plain JSON: dates become ISO strings, non-finite numbers and
 * other non-JSON values become strings, so metadata can go into jsonb or a JSONL line as is.
 *
 * `maxBytes` bounds the work: a YAML value can share one object under many aliases (or even
 * contain itself), so its JSON can be exponentially larger than its source. The conversion
 * counts the JSON's UTF-8 bytes as it goes (escapes aside) and throws a {@link JsonTooLargeError}
 * as soon as they pass the budget, having done work proportional to the budget at most. A value
 * that contains itself, or nests deeper than {@link MAX_JSON_DEPTH}, throws the same error.
 */
export function toJsonValue(value: unknown, maxBytes = Number.POSITIVE_INFINITY): JsonValue {
  let used = 0;
  const spend = (bytes: number) => {
    used += bytes;
    if (used > maxBytes) throw new JsonTooLargeError("size", maxBytes);
  };
  // The containers on the way down from the top: meeting one again is a cycle.
  const path = new Set<object>();
  const convert = (item: unknown): JsonValue => {
    const json = scalarOf(item);
    if (json !== undefined) {
      spend(typeof json === "string" ? Buffer.byteLength(json) + 2 : String(json).length);
      return json;
    }
    const container = item as object;
    if (path.has(container)) throw new JsonTooLargeError("cycle", maxBytes);
    if (path.size >= MAX_JSON_DEPTH) throw new JsonTooLargeError("depth", maxBytes);
    path.add(container);
    spend(2);
    let out: JsonValue;
    if (Array.isArray(container)) {
      out = container.map((element) => {
        spend(1);
        return convert(element);
      });
    } else {
      const fields: Record<string, JsonValue> = {};
      for (const [key, element] of Object.entries(container)) {
        spend(Buffer.byteLength(key) + 4);
        fields[key] = convert(element);
      }
      out = fields;
    }
    path.delete(container);
    return out;
  };
  return convert(value);
}

/** The JSON of a non-container value; undefined for arrays and plain objects. */
function scalarOf(value: unknown): string | number | boolean | null | undefined {
  if (value === null || value === undefined) return null;
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? null : value.toISOString();
  if (Array.isArray(value)) return undefined;
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
    return Buffer.from(value).toString("base64");
  }
  if (typeof value === "object") return undefined;
  return String(value);
}
